"""``autodiff.cuda``: PyTorch's ``torch.cuda`` queries and controls, answered by the CuPy backend.

Where CuPy and a GPU are present these work on them; elsewhere the queries give the answers
PyTorch gives on a machine without CUDA (``is_available()`` is False, ``device_count()`` 0, the
seeding functions do nothing) and the functions that need a GPU raise a RuntimeError saying why
there is none.

>>> import autodiff as ad
>>> device = ad.device("cuda" if ad.cuda.is_available() else "cpu")
"""
from __future__ import annotations

from .backends import get_backend
from .device import device as _device
from .random import manual_seed_cuda

__all__ = ["is_available", "device_count", "current_device", "synchronize", "get_device_name",
           "manual_seed", "manual_seed_all"]


def _cupy(fn: str):
    """The CuPy module of the backend, or a RuntimeError naming ``fn`` and what is missing."""
    try:
        return get_backend("cupy").xp
    except RuntimeError as e:
        raise RuntimeError(f"autodiff.cuda.{fn}: no CUDA GPU is usable: {e}") from None


def is_available() -> bool:
    """Whether CuPy imports and sees at least one GPU (the ``cuda`` device can be used)."""
    try:
        get_backend("cupy")
    except RuntimeError:
        return False
    return True


def device_count() -> int:
    """The number of GPUs CuPy sees; 0 without CuPy or a GPU."""
    if not is_available():
        return 0
    return int(_cupy("device_count").cuda.runtime.getDeviceCount())


def current_device() -> int:
    """The index of the GPU new CUDA tensors go to."""
    return int(_cupy("current_device").cuda.Device().id)


def _index(device, fn: str) -> int | None:
    """The GPU index that ``device`` (None, an int, 'cuda:N' or a :class:`device`) names."""
    if device is None:
        return None
    d = _device(device)
    if d.type != "cuda":
        raise ValueError(f"autodiff.cuda.{fn}: expected a CUDA device, got {d!r}")
    return d.index


def synchronize(device=None) -> None:
    """Wait for all the work queued on ``device`` (default: the current GPU) to finish."""
    cp = _cupy("synchronize")
    index = _index(device, "synchronize")
    cp.cuda.Device(cp.cuda.Device().id if index is None else index).synchronize()


def get_device_name(device=None) -> str:
    """The name of the GPU ``device`` (default: the current one)."""
    cp = _cupy("get_device_name")
    index = _index(device, "get_device_name")
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id if index is None else index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def manual_seed(seed: int) -> None:
    """Seed the GPU random generators (every GPU's: each is made from the one GPU seed on first
    use); the CPU generator is left alone. Without a GPU it only records the seed, as PyTorch's
    lazy seeding does."""
    manual_seed_cuda(seed)


def manual_seed_all(seed: int) -> None:
    """Seed the random generators of every GPU."""
    manual_seed_cuda(seed)
