"""Random number state: one seed for both backends (``manual_seed``)."""
from __future__ import annotations

import numpy

from .backends import on_host

_state = {"seed": 0, "numpy": numpy.random.default_rng(0), "cupy": None}


def manual_seed(seed: int) -> None:
    """Seed the generators of every backend, so runs are reproducible."""
    seed = int(seed)
    _state["seed"] = seed
    _state["numpy"] = numpy.random.default_rng(seed)
    _state["cupy"] = None  # re-created lazily from the seed
    try:
        import sys
        if "cupy" in sys.modules:
            _cupy_rng(reset=True)
    except Exception:
        pass


def initial_seed() -> int:
    return _state["seed"]


def _cupy_rng(reset: bool = False):
    """The CuPy generator of the current device (its state lives in that device's memory),
    each device's seeded with the one seed, as PyTorch's ``manual_seed`` seeds every GPU."""
    from .backends.cupy_backend import device_generator
    if _state["cupy"] is None or reset:
        _state["cupy"] = {}
    return device_generator(_state["cupy"], _state["seed"])


def generator(xp):
    """The generator for array module ``xp``."""
    if on_host(xp):
        return _state["numpy"]
    return _cupy_rng()


def get_rng_state() -> dict:
    return {"seed": _state["seed"], "numpy": _state["numpy"].bit_generator.state}


def set_rng_state(state: dict) -> None:
    _state["seed"] = state["seed"]
    _state["numpy"].bit_generator.state = state["numpy"]
