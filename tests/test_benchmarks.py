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
import benchmarks.workloads_peers  # noqa: F401
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
    rows = main(["--only", "op overhead", "--budget", "0.05", "--json", str(out)])
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


# ----------------------------------------------------------------------------- peers
def test_compiled_chain_matches_eager():
    """The compiled 200-op chain replays (no fallback) and leaves the eager gradients; the
    chain itself against its closed form (tanh recurrence written in NumPy)."""
    import autodiff as ad
    from benchmarks.peers import compiled_status
    from benchmarks.workloads_peers import CHAIN_CYCLES, _chain_init, chain
    x0, w0, b0 = (a.astype(np.float64) for a in _chain_init())
    y, ref = x0.copy(), x0.copy()
    for _ in range(CHAIN_CYCLES):
        ref = np.tanh(ref * w0 + b0) * 1.5
    x, w, b = (ad.tensor(a, requires_grad=True) for a in (x0, w0, b0))
    np.testing.assert_allclose(chain(x, w, b, ad.tanh).numpy(), ref, rtol=1e-12)

    def step():
        chain(x, w, b, ad.tanh).sum().backward()
        return x.grad.array.copy(), w.grad.array.copy(), b.grad.array.copy()
    want = step()
    x.grad = w.grad = b.grad = None

    def cstep():
        out = step()
        x.grad = w.grad = b.grad = None
        return out
    cs = ad.compile(cstep)
    for _ in range(3):
        x.grad = w.grad = b.grad = None
        got = cs()
    assert compiled_status(cs) == "replay"
    for g, e in zip(got, want):
        np.testing.assert_array_equal(g, e)


def test_main_reports_peers():
    """The chain row has the compiled column (a replay) and the JAX column (or says JAX is not
    installed), each with a ratio against PyTorch eager when PyTorch is there."""
    rows = main(["--only", "elementwise chain", "--budget", "0.02"])
    (row,) = rows
    assert row["compiled_s"] > 0 and row["compiled_note"] == "replay"
    try:
        import jax  # noqa: F401
        assert row["jax_s"] > 0 and row["jax_note"] is None
        assert "jax " in format_row(row)
    except ImportError:
        assert row["jax_s"] is None and row["jax_note"] == "not installed"
    if _have_torch():
        assert row["compiled_ratio"] > 0
    assert "compiled " in format_row(row)


@pytest.mark.parametrize("w", [w for w in REGISTRY if w.build_jax is not None
                               and w.group not in ("legendre",)],
                         ids=lambda w: w.group + ":" + w.name[:30])
def test_jax_twin_steps(w):
    jax = pytest.importorskip("jax")
    step = w.build_jax(jax, "cpu")
    step()
    step()


def test_jax_mlp_twin_is_the_same_step():
    """One JAX SGD step of the MLP gives autodiff's parameters (same initial weights, same
    batch): float32, so to float32 rounding."""
    jax = pytest.importorskip("jax")
    import autodiff as ad
    from autodiff import optim
    from autodiff.nn import models
    import autodiff.nn.functional as F
    from benchmarks.workloads import _mlp_batch
    from benchmarks.workloads_peers import _jax_mlp_loss, _jax_mlp_params
    ad.manual_seed(0)
    model = models.mnist_mlp()
    xb, yb = _mlp_batch(8)
    opt = optim.SGD(model.parameters(), lr=0.01)
    F.cross_entropy(model(ad.tensor(xb)), ad.tensor(yb)).backward()
    opt.step()
    params = _jax_mlp_params(jax)
    g = jax.grad(_jax_mlp_loss(jax))(params, jax.numpy.asarray(xb), jax.numpy.asarray(yb))
    for p, gi, q in zip(params, g, model.parameters()):
        np.testing.assert_allclose(np.asarray(p - 0.01 * gi), q.numpy(), rtol=1e-5, atol=1e-6)
