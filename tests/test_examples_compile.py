"""``--compile`` on the training examples: a short run with the step through ``autodiff.compile``
gives the same per-step losses and final parameters, bit for bit, as the same run without it
(the reference is the eager run of the script itself: compile promises eager's numbers, and its
fused kernels are kept only where they reproduce them exactly, float32 included); the step is
traced once per call signature and replayed, and the script's last lines say so. Where the
compiler still breaks the graph (named in each case's ``breaks``) the run falls back to eager
and must say that instead; the strict xfail turns into a failure once the break is fixed, so the
case is then moved to the compiled ones.
"""
from __future__ import annotations

import numpy as np
import pytest

from compile_models import fusion_mode, same, same_all  # noqa: F401
from examples_util import in_tmp, load_example  # noqa: F401

pytestmark = pytest.mark.usefixtures("fusion_mode")

# name -> (extra arguments, what breaks the graph today or None)
CASES = {
    "mnist_mlp_ce": ("mnist_mlp", ["--loss", "ce", "--n-train", "384", "--epochs", "1"], None),
    "mnist_mlp_nll": ("mnist_mlp", ["--loss", "nll", "--n-train", "384", "--epochs", "1"],
                      None),
    "mnist_cnn": ("mnist_cnn", ["--n-train", "256", "--batch-size", "32", "--epochs", "1",
                                "--channels", "4", "8"], None),
    "char_lm_embedding": ("char_lm", ["--embedding", "8"], None),
    "char_lm_one_hot": ("char_lm", ["--embedding", "0"], None),
    "legendre": ("legendre", [], None),
}
CHAR_LM = ["--steps", "8", "--hidden", "16", "--seq-len", "8", "--batch", "4",
           "--train-chars", "4000", "--val-chars", "300", "--gen-chars", "5"]


def _run(name: str, extra: list, compiled: bool, data_dir, capsys) -> tuple:
    """(per-step losses, final parameters, the step object, the printed output) of a short
    run of example ``name``."""
    mod = load_example(name)
    flag = ["--compile"] if compiled else []
    if name == "legendre":
        r = mod.fit(steps=12, log_every=1, verbose=compiled, compile=compiled)
        losses = [v for _, v in r["history"]]
        params = [np.float32(r[k]) for k in "abcd"]      # a float32 fit
    else:
        argv = ["--data", str(data_dir), "--quiet", "--plot", "", *extra, *flag]
        if name == "char_lm":
            argv += CHAR_LM
        r = mod.main(argv)
        losses = r.get("batch_losses", r.get("losses", r.get("train_losses")))
        params = [p.numpy().copy() for p in r["model"].parameters()]
    return losses, params, r["step"], capsys.readouterr().out


def _needs_data(name: str, data_dir) -> None:
    path = {"char_lm": "tinyshakespeare/input.txt", "legendre": None}.get(name, "mnist")
    if path and not (data_dir / path).exists():
        pytest.skip(f"{path} not in the shared data")


@pytest.mark.filterwarnings("ignore:autodiff.compile")
@pytest.mark.parametrize("case", list(CASES))
def test_compile_gives_the_eager_numbers(case, data_dir, capsys):
    name, extra, breaks = CASES[case]
    _needs_data(name, data_dir)
    le, pe, se, _ = _run(name, extra, False, data_dir, capsys)
    lc, pc, sc, out = _run(name, extra, True, data_dir, capsys)
    assert len(le) == len(lc) >= 6
    assert same(np.asarray(le, np.float32), np.asarray(lc, np.float32)), case   # float32 runs
    assert same_all(pe, pc), case
    assert not se.compiled and se.summary() is None and se.traces == 0
    assert sc.compiled and sc.calls == len(lc)
    assert "--compile: " in out
    assert ("fell back to eager" in out) == (breaks is not None), out


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=f"graph break: {b}"))
    if b else c for c, (_, _, b) in CASES.items()])
def test_compiled_step_is_traced_once_per_signature_and_replayed(case, data_dir, capsys):
    name, extra, _ = CASES[case]
    _needs_data(name, data_dir)
    _, _, step, out = _run(name, extra, True, data_dir, capsys)
    replayed, eager = step.signatures
    # char_lm: a fresh state (None) starts the text, a carried state follows: two signatures
    assert (replayed, eager) == ((2 if name == "char_lm" else 1), 0), out
    assert step.traces == replayed
    assert f"{step.calls} step calls, {step.traces} trace" in out and "all compiled" in out
