"""Random number state: one seed for both backends (``manual_seed``), and ``Generator``
objects (PyTorch's ``torch.Generator``) for streams of their own."""
from __future__ import annotations

import numpy

from .backends import on_host

_state = {"seed": 0, "cuda_seed": 0, "numpy": numpy.random.default_rng(0), "cupy": None}


def manual_seed(seed: int) -> None:
    """Seed the generators of every backend, so runs are reproducible."""
    seed = int(seed)
    _state["seed"] = _state["cuda_seed"] = seed
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
    return device_generator(_state["cupy"], _state["cuda_seed"])


def manual_seed_cuda(seed: int) -> None:
    """Seed the GPU generators only (``autodiff.cuda.manual_seed``): each GPU's is re-made from
    ``seed`` on its next use; the CPU generator is untouched."""
    _state["cuda_seed"] = int(seed)
    _state["cupy"] = None


# autodiff.compile's tracer: ``_draw_hook()`` before a generator is handed out (a graph
# break), ``_draw_record(fn, xp, gen, args, out)`` after a :func:`draw` (a replayable op).
_draw_hook = None
_draw_record = None


def set_draw_hook(hook, record=None) -> None:
    """Install (or, with None, remove) the hook called when a generator is asked for, and the
    one told of each :func:`draw`."""
    global _draw_hook, _draw_record
    _draw_hook, _draw_record = hook, record


def generator(xp, gen: "Generator | None" = None):
    """The generator for array module ``xp``: the global one (``manual_seed``), or ``gen``'s
    stream when a :class:`Generator` is given (its device must be ``xp``'s)."""
    if _draw_hook is not None:
        _draw_hook()
    return stream(xp, gen)


def draw(fn, xp, gen: "Generator | None", *args):
    """``fn(rng, *args)``, ``rng`` the stream of :func:`generator`: a random array made by a
    function of the stream and Python values only, which ``autodiff.compile`` records and
    calls again at each replay (fresh numbers from the stream eager would use)."""
    out = fn(stream(xp, gen), *args)
    if _draw_record is not None:
        _draw_record(fn, xp, gen, args, out)
    return out


def stream(xp, gen: "Generator | None" = None):
    """:func:`generator` without telling the tracer (a replay's draws)."""
    if gen is not None:
        return gen._stream(xp)
    if on_host(xp):
        return _state["numpy"]
    return _cupy_rng()


class Generator:
    """PyTorch's ``torch.Generator``: a random stream of its own for the ``generator=``
    argument of the samplers, on one device ('cpu' or 'cuda'). ``get_state`` returns a dict
    (PyTorch: a uint8 tensor); states are not interchangeable with PyTorch's."""

    default_seed = 67280421310721          # PyTorch's default_rng_seed_val

    def __init__(self, device="cpu") -> None:
        self.device = str(device)
        self._seed = self.default_seed
        self._rng = None

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self._rng = None
        return self

    def seed(self) -> int:
        """Re-seed from the operating system's entropy; return the new seed."""
        self.manual_seed(int(numpy.random.SeedSequence().entropy) % 2 ** 63)
        return self._seed

    def initial_seed(self) -> int:
        return self._seed

    def _stream(self, xp):
        if on_host(xp) != (self.device.split(":")[0] == "cpu"):
            raise RuntimeError(f"Generator: a generator on {self.device!r} cannot draw numbers "
                               f"for a tensor on the other device; make it with that device")
        if self._rng is None:
            self._rng = xp.random.default_rng(self._seed)
        return self._rng

    def get_state(self) -> dict:
        if self._rng is None:
            self._rng = numpy.random.default_rng(self._seed) if self.device == "cpu" else None
        if self._rng is None or not hasattr(self._rng.bit_generator, "state"):
            raise NotImplementedError("Generator.get_state: only CPU generators have a state "
                                      "to save")
        return {"seed": self._seed, "state": self._rng.bit_generator.state}

    def set_state(self, state: dict) -> "Generator":
        self.manual_seed(state["seed"])
        self._rng = numpy.random.default_rng(self._seed)
        self._rng.bit_generator.state = state["state"]
        return self


def get_rng_state() -> dict:
    return {"seed": _state["seed"], "numpy": _state["numpy"].bit_generator.state}


def set_rng_state(state: dict) -> None:
    _state["seed"] = state["seed"]
    _state["numpy"].bit_generator.state = state["numpy"]
