"""The backend seam: the default backend from ``AUTODIFF_BACKEND`` (checked in subprocesses,
since it is read once) or ``ad.set_backend``; the array module chosen from the data; clear errors
for unknown names and for CuPy without CuPy or a GPU."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import autodiff as ad
from autodiff import backends
from autodiff.backends import cupy_backend


def _run(code: str, env_value: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("AUTODIFF_BACKEND", None)
    if env_value is not None:
        env["AUTODIFF_BACKEND"] = env_value
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)


PROBE = ("import autodiff as ad; t = ad.zeros(2); "
         "print(ad.get_backend().name, type(t.array).__module__.split('.')[0], t.device)")


@pytest.mark.parametrize("value,want", [(None, "numpy numpy cpu"), ("NumPy", "numpy numpy cpu")])
def test_env_var_selects_numpy(value, want):
    r = _run(PROBE, value)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == want


def test_env_var_unknown_backend_lists_valid_ones():
    r = _run(PROBE, "jax")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "'jax'" in r.stderr
    assert "numpy" in r.stderr and "cupy" in r.stderr


@pytest.mark.skipif(cupy_backend.is_available(), reason="CuPy and a GPU are present")
def test_env_var_cupy_without_cupy_is_clear():
    r = _run(PROBE, "cupy")
    assert r.returncode != 0
    assert "RuntimeError" in r.stderr
    assert "CuPy" in r.stderr and ("not installed" in r.stderr or "GPU" in r.stderr)


@pytest.mark.skipif(not cupy_backend.is_available(), reason="needs CuPy and a GPU")
def test_env_var_cupy_with_cupy():
    r = _run(PROBE, "cupy")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cupy cupy cuda"


def test_set_backend_numpy_and_aliases():
    prev = ad.get_backend().name
    try:
        for name in ("numpy", "cpu", "np", " NUMPY "):
            b = ad.set_backend(name)
            assert b.name == "numpy" and b.xp is np and b.device == "cpu"
            assert ad.get_backend() is b
            assert isinstance(ad.zeros(2).array, np.ndarray)
    finally:
        ad.set_backend(prev)
    assert set(ad.available_backends()) == {"numpy", "cupy"}


def test_set_backend_errors_keep_previous_backend():
    before = ad.get_backend()
    with pytest.raises(ValueError, match="valid backends are numpy, cupy"):
        ad.set_backend("torch")
    assert ad.get_backend() is before
    if not cupy_backend.is_available():
        with pytest.raises(RuntimeError, match="CuPy"):
            ad.set_backend("cuda")
        assert ad.get_backend() is before
        assert cupy_backend.is_available() is False


def test_array_module_comes_from_the_data():
    a = np.ones(3)
    assert backends.get_array_module(a) is np
    assert backends.get_array_module(a, np.zeros(2)) is np
    assert backends.get_array_module() is np
    assert backends.device_of(a) == "cpu"
    t = ad.tensor([1.0, 2.0], device="cpu")      # (AUTODIFF_BACKEND=cupy: not the default)
    assert t.xp is np and t.device == "cpu"
    assert ad.exp(t).xp is np


def test_backend_fixture(backend):
    """Runs once per available backend (CuPy skips without a GPU)."""
    t = ad.ones(3, requires_grad=True)
    (t * t).sum().backward()
    assert ad.get_backend().name == backend
    np.testing.assert_allclose(np.asarray(t.grad), [2.0, 2.0, 2.0])


def test_to_cpu_is_identity_on_numpy():
    t = ad.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    assert t.to("cpu") is t and t.cpu() is t
    y = t.to(ad.float64)
    assert y.dtype == np.float64 and y.requires_grad
