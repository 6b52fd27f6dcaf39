"""Shared test fixtures: backends, the shared data directory, the optional PyTorch oracle."""
from __future__ import annotations

import contextlib
import os

# Small matrices dominate the tests; OpenBLAS threads only thrash on 2 shared cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from pathlib import Path

import numpy as np
import pytest

import autodiff as ad
from autodiff.backends import cupy_backend

BACKENDS = ["numpy"] + (["cupy"] if cupy_backend.is_available() else [])
#: AUTODIFF_CUPY_STANDIN=1 without a GPU: the ``cupy`` parameter runs on tests/cupy_standin.py
STANDIN = os.environ.get("AUTODIFF_CUPY_STANDIN") == "1" and "cupy" not in BACKENDS
if STANDIN and os.environ.get("AUTODIFF_BACKEND", "").lower() == "cupy":
    # a CPU rehearsal of the GPU run (AUTODIFF_BACKEND=cupy): the stand-in for the whole session
    import cupy_standin
    _REHEARSAL = cupy_standin.activated()    # kept: its exit would undo the patches
    _REHEARSAL.__enter__()
_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(params=["numpy", "cupy"])
def backend(request):
    """Run the test on each backend; CuPy skips cleanly where CuPy or a GPU is absent (or runs
    on the CPU stand-in of CuPy with ``AUTODIFF_CUPY_STANDIN=1``)."""
    standin = request.param == "cupy" and STANDIN
    if request.param not in BACKENDS and not standin:
        pytest.skip("CuPy or a CUDA GPU is not available")
    with contextlib.ExitStack() as stack:
        if standin:
            import cupy_standin
            stack.enter_context(cupy_standin.activated())
        prev = ad.get_backend().name
        ad.set_backend(request.param)
        yield request.param
        ad.set_backend(prev)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data beside the checkout, or AUTODIFF_DATA."""
    d = Path(os.environ.get("AUTODIFF_DATA", _SHARED))
    if not d.exists():
        pytest.skip(f"shared data directory {d} not found")
    return d


@pytest.fixture(scope="session")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _seed():
    ad.manual_seed(0)
    np.random.seed(0)
    yield


def to_np(t) -> np.ndarray:
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)
