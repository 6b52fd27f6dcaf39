"""The benchmark suite: each CPU-sized workload builds and steps (no timing asserted), a workload
module that cannot import is an error, every row says where (or whether) PyTorch ran, and the
PyTorch twins compute what the autodiff workloads compute."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import benchmarks.__main__ as bench_main
import benchmarks.workloads_nn  # noqa: F401  (an ImportError here fails this file: no skip)
from benchmarks.__main__ import WORKLOAD_MODULES, format_row, main
from benchmarks.summarize import table
from benchmarks.workloads import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
_SKIP = ("wide-gpu", "resnet56", "resnet", "legendre")
_CPU_SIZED = [w for w in REGISTRY if w.group not in _SKIP]


def _have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("w", _CPU_SIZED, ids=lambda w: w.group + ":" + w.name[:30])
def test_workload_steps(w):
    step = w.build("cpu")
    step()
    step()


@pytest.mark.parametrize("w", [w for w in _CPU_SIZED if w.build_torch is not None],
                         ids=lambda w: w.group + ":" + w.name[:30])
def test_torch_twin_steps(w, torch):
    step = w.build_torch(torch, "cpu")
    step()


def test_main_reports_rows(tmp_path):
    out = tmp_path / "b.json"
    rows = main(["--only", "overhead", "--budget", "0.05", "--json", str(out)])
    assert len(rows) == 1 and rows[0]["autodiff_s"] > 0 and math.isfinite(rows[0]["autodiff_s"])
    assert out.exists()
    row = rows[0]
    assert row["device"] == "cpu"
    if _have_torch():
        assert row["pytorch_device"] == "cpu" and row["pytorch_note"] is None
        assert row["ratio"] > 0
    else:      # the optional peer's absence is reported on the row, not an error
        assert row["pytorch_device"] is None and row["pytorch_note"] == "not installed"
        assert row["ratio"] is None and "not installed" in format_row(row)


# ----------------------------------------------------------------------------- loud failures
def test_unimportable_workload_module_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "bench_broken_workloads.py").write_text(
        "import autodiff.nn.no_such_module  # a workload module that cannot import\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench_main, "WORKLOAD_MODULES",
                        WORKLOAD_MODULES + ("bench_broken_workloads",))
    with pytest.raises(ImportError, match="no_such_module"):
        main(["--only", "overhead", "--budget", "0.01"])


def test_cli_exits_nonzero_with_the_traceback():
    """``python -m benchmarks`` with ``workloads_nn`` unimportable (a None entry in
    sys.modules makes its import raise) stops before timing anything, exit status 1."""
    code = ("import runpy, sys; sys.modules['benchmarks.workloads_nn'] = None; "
            "sys.argv = ['benchmarks', '--only', 'overhead', '--budget', '0.01']; "
            "runpy.run_module('benchmarks', run_name='__main__', alter_sys=True)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" in res.stderr and "benchmarks.workloads_nn" in res.stderr
    assert "op overhead" not in res.stdout


# ----------------------------------------------------------------------------- rows
def _row(**kw):
    row = {"workload": "w", "autodiff_s": 2e-3, "pytorch_s": 4e-3, "ratio": 0.5,
           "gflops": None, "device": "cuda", "pytorch_device": "cuda", "pytorch_note": None}
    row.update(kw)
    return row


def test_row_marks_pytorch_on_another_device():
    same = format_row(_row())
    assert "0.50x" in same and "0.50x*" not in same and " cuda " in same
    other = format_row(_row(pytorch_device="cpu"))
    assert "0.50x*" in other and " cpu " in other
    absent = format_row(_row(pytorch_s=None, ratio=None, pytorch_device=None,
                             pytorch_note="not installed"))
    assert "not installed" in absent and "x" not in absent.split("not installed")[1]
    assert "no twin" in format_row(_row(pytorch_s=None, ratio=None, pytorch_device=None,
                                        pytorch_note="no twin"))
    # the RESULTS table keeps the mark
    assert "**0.50x*** |" in table([[_row(pytorch_device="cpu")]])
    assert "**0.50x** |" in table([[_row()]])


def test_gpu_run_with_cpu_only_pytorch_is_marked(torch):
    """autodiff on the GPU with a PyTorch build that has no CUDA: PyTorch runs on the CPU and
    the row says so."""
    if torch.cuda.is_available():
        pytest.skip("this PyTorch has CUDA")
    _, (device, _) = bench_main._torch("cupy")
    assert device == "cpu"
    line = format_row(_row(pytorch_device=device))
    assert " cpu " in line and "x*" in line


# ----------------------------------------------------------------------------- fair twins
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_char_lm_twin_is_the_same_network(cell, torch):
    """The PyTorch char-LM twin (nn.Embedding lookup) computes autodiff's model: same logits,
    loss and parameter gradients from the copied weights."""
    import autodiff as ad
    import autodiff.nn.functional as F
    from autodiff.nn import models
    from benchmarks.torch_models import char_rnn
    from benchmarks.workloads_nn import EMBEDDING, _copy_to_torch
    vocab, hidden = 11, 6
    ad.manual_seed(0)
    model = models.char_rnn(vocab, hidden_size=hidden, cell=cell, embedding_dim=EMBEDDING)
    tmodel = _copy_to_torch(torch, model, char_rnn(torch, vocab, hidden, cell, EMBEDDING),
                            "cpu").double()
    model.double()
    r = np.random.default_rng(0)
    x, y = r.integers(0, vocab, (5, 3)), r.integers(0, vocab, (5, 3))
    logits, _ = model(ad.tensor(x))
    loss = F.cross_entropy(logits.reshape(-1, vocab), ad.tensor(y.reshape(-1)))
    loss.backward()
    tlogits, _ = tmodel(torch.tensor(x))
    tloss = torch.nn.functional.cross_entropy(tlogits.reshape(-1, vocab),
                                              torch.tensor(y.reshape(-1)))
    tloss.backward()
    np.testing.assert_allclose(logits.numpy(), tlogits.detach().numpy(), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    tgrads = {k: p.grad.numpy() for k, p in tmodel.named_parameters()}
    for k, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tgrads[k], rtol=1e-9, atol=1e-12)
