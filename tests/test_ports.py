"""The issue's "Done when" ports: PyTorch scripts from ``../shared/ports`` run with only their
import lines changed (``import torch`` -> ``import autodiff as torch``, ``torch.nn`` ->
``autodiff.nn``, ...) and print PyTorch's results.

Each script is copied into ``tmp_path`` (never into the repository), its imports rewritten
mechanically by :func:`port` (no other line may change), and run in a subprocess with
``AUTODIFF_DATA`` pointing at the shared data. The printed numbers are compared with PyTorch's,
hard-coded below from running the originals with torch 2.13 (CPU); where torch is installed the
original is run as well and must print those numbers.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PORTS = Path(__file__).resolve().parents[2] / "shared" / "ports"

# ----------------------------------------------------------------------------- PyTorch's output
#: legendre_p3_function.py under torch: (step, loss) for every printed step
LEGENDRE_TORCH = [
    (99, 209.95834350585938), (199, 144.66018676757812), (299, 100.70249938964844),
    (399, 71.03519439697266), (499, 50.978511810302734), (599, 37.403133392333984),
    (699, 28.206867218017578), (799, 21.97318458557129), (899, 17.7457275390625),
    (999, 14.877889633178711), (1099, 12.93176555633545), (1199, 11.610918045043945),
    (1299, 10.71425724029541), (1399, 10.10548210144043), (1499, 9.692105293273926),
    (1599, 9.411375999450684), (1699, 9.220745086669922), (1799, 9.091285705566406),
    (1899, 9.003361701965332), (1999, 8.943641662597656)]
#: mnist_mlp_pytorch.py under torch: (mean training loss, training accuracy %) per epoch, and
#: the test accuracy
MNIST_TORCH_EPOCHS = [(1.498074806690216, 63.79999923706055), (0.693900892496109, 83.8375015258789),
                      (0.5024458255767822, 86.9749984741211)]
MNIST_TORCH_TEST = 0.9055
#: Weights are initialised and batches shuffled by each library's own generator, so the runs
#: agree in distribution, not bit for bit. With seeds 0-3 in place of 0, PyTorch's test
#: accuracy was 90.55, 90.95, 91.50, 91.05% and the port's 90.85, 90.65, 90.55, 90.85%: the
#: ported run (seed 0: 90.85% against PyTorch's 90.55%) must land within a point of PyTorch's,
#: its training accuracy within 3 points and its mean losses within 10% (seed 0: 1.440,
#: 0.670, 0.491 against 1.498, 0.694, 0.502).
MNIST_ACCURACY_TOL = 0.01
MNIST_TRAIN_ACCURACY_TOL = 3.0
MNIST_LOSS_RTOL = 0.10


# ----------------------------------------------------------------------------- the port
_IMPORTS = [  # (pattern on an import line, replacement), applied in order
    (re.compile(r"^(\s*)import torch\s*$"), r"\1import autodiff as torch"),
    (re.compile(r"^(\s*)import torch\.([\w.]+) as (\w+)\s*$"), r"\1import autodiff.\2 as \3"),
    (re.compile(r"^(\s*)from torch\.([\w.]+) import "), r"\1from autodiff.\2 import "),
    (re.compile(r"^(\s*)from torch import "), r"\1from autodiff import "),
]


def port(source: str) -> str:
    """``source`` with its torch imports spelled for autodiff; every other line unchanged (an
    import of torch the rules do not cover raises, so nothing is left importing torch)."""
    out = []
    for line in source.splitlines(keepends=True):
        text = line.rstrip("\n")
        for pattern, repl in _IMPORTS:
            if pattern.match(text):
                text = pattern.sub(repl, text)
                break
        else:
            if re.match(r"^\s*(import|from)\s+torch\b", text):
                raise ValueError(f"port: no rule for the import line {text!r}")
        out.append(text + line[len(line.rstrip("\n")):])
    return "".join(out)


def test_port_rewrites_only_import_lines():
    src = ("import torch\nimport torch.nn as nn\nfrom torch.autograd import Variable\n"
           "from torch.utils.data import DataLoader\nfrom torch import optim\n"
           "x = torch.nn.Linear(1, 1)  # import torch in a comment stays\n"
           "    import torch\n")
    assert port(src) == (
        "import autodiff as torch\nimport autodiff.nn as nn\n"
        "from autodiff.autograd import Variable\nfrom autodiff.utils.data import DataLoader\n"
        "from autodiff import optim\nx = torch.nn.Linear(1, 1)  # import torch in a comment "
        "stays\n    import autodiff as torch\n")
    with pytest.raises(ValueError, match="no rule"):
        port("import torch.nn\n")


def _script(name: str) -> str:
    path = PORTS / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path.read_text()


def _run(tmp_path: Path, name: str, source: str, data_dir: Path | None = None) -> str:
    """Run ``source`` as ``tmp_path/name`` in a fresh interpreter; its standard output."""
    script = tmp_path / name
    script.write_text(source)
    env = dict(os.environ)
    # one thread per library: on a shared machine, thread pools spinning against other jobs
    # slow a run tenfold (the results agree with those of more threads within the tolerances)
    env.setdefault("OMP_NUM_THREADS", "1")
    if data_dir is not None:
        env["AUTODIFF_DATA"] = str(data_dir)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{name} failed:\n{done.stderr[-4000:]}"
    return done.stdout


# ----------------------------------------------------------------------------- Legendre
def _legendre_losses(stdout: str) -> list[tuple[int, float]]:
    return [(int(t), float(v)) for t, v in (line.split() for line in stdout.splitlines())]


def _check_legendre(got: list, rtol: float) -> None:
    assert [t for t, _ in got] == [t for t, _ in LEGENDRE_TORCH]
    for (t, v), (_, ref) in zip(got, LEGENDRE_TORCH):
        assert math.isclose(v, ref, rel_tol=rtol), f"step {t}: {v} vs PyTorch's {ref}"


def test_legendre_function_port_prints_pytorchs_losses(tmp_path):
    src = _script("legendre_p3_function.py")
    ported = port(src)
    assert ported == src        # the shared copy already imports autodiff as torch
    got = _legendre_losses(_run(tmp_path, "legendre_p3_function.py", ported))
    _check_legendre(got, rtol=1e-5)   # float32 sums in another order: measured within 1e-6
    assert round(got[-1][1], 5) == 8.94364


def test_legendre_original_under_pytorch(tmp_path, torch):
    src = _script("legendre_p3_function.py").replace("import autodiff as torch\n",
                                                     "import torch\n", 1)
    _check_legendre(_legendre_losses(_run(tmp_path, "legendre_torch.py", src)), rtol=1e-5)


# ----------------------------------------------------------------------------- MNIST MLP
_EPOCH = re.compile(r"^Loss: (\S+) Accuracy: (\S+)$", re.M)
_TEST = re.compile(r"^test accuracy (\S+)$", re.M)


def _mnist_results(stdout: str) -> tuple[list[tuple[float, float]], float]:
    """(loss, accuracy) per epoch and the test accuracy, read as plain numbers (a tensor's repr
    in the output would not parse)."""
    epochs = [(float(a), float(b)) for a, b in _EPOCH.findall(stdout)]
    test = _TEST.findall(stdout)
    assert len(epochs) == 3 and len(test) == 1, stdout
    return epochs, float(test[0])


@pytest.mark.slow
def test_mnist_mlp_port_matches_pytorch(tmp_path, data_dir):
    if not (data_dir / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("MNIST test set not in the shared data")
    src = _script("mnist_mlp_pytorch.py")
    ported = port(src)
    changed = [(a, b) for a, b in zip(src.splitlines(), ported.splitlines()) if a != b]
    assert [a for a, _ in changed] == [
        "import torch", "import torch.nn as nn", "import torch.nn.functional as F",
        "import torch.optim as optim", "from torch.autograd import Variable",
        "from torch.utils.data import TensorDataset, DataLoader"]
    epochs, test = _mnist_results(_run(tmp_path, "mnist_mlp_port.py", ported, data_dir))
    assert abs(test - MNIST_TORCH_TEST) <= MNIST_ACCURACY_TOL, \
        f"test accuracy {test} vs PyTorch's {MNIST_TORCH_TEST}"
    for e, ((loss, acc), (ref_loss, ref_acc)) in enumerate(zip(epochs, MNIST_TORCH_EPOCHS), 1):
        assert math.isclose(loss, ref_loss, rel_tol=MNIST_LOSS_RTOL), \
            f"epoch {e}: loss {loss} vs PyTorch's {ref_loss}"
        assert abs(acc - ref_acc) <= MNIST_TRAIN_ACCURACY_TOL, \
            f"epoch {e}: training accuracy {acc} vs PyTorch's {ref_acc}"
    assert epochs[0][0] > epochs[1][0] > epochs[2][0]


@pytest.mark.slow
def test_mnist_mlp_original_under_pytorch(tmp_path, data_dir, torch):
    if not (data_dir / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("MNIST test set not in the shared data")
    epochs, test = _mnist_results(_run(tmp_path, "mnist_mlp_pytorch.py",
                                       _script("mnist_mlp_pytorch.py"), data_dir))
    # the same library and seed: equal up to float32 rounding that may differ between CPUs
    assert abs(test - MNIST_TORCH_TEST) <= 0.002
    for (loss, acc), (ref_loss, ref_acc) in zip(epochs, MNIST_TORCH_EPOCHS):
        assert math.isclose(loss, ref_loss, rel_tol=1e-3) and abs(acc - ref_acc) <= 0.2
