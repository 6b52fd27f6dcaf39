"""Grad mode: whether operations are recorded on the tape (``no_grad``, ``enable_grad``...)."""
from __future__ import annotations

import functools


class _GradState:
    __slots__ = ("enabled", "anomaly")

    def __init__(self) -> None:
        self.enabled = True
        self.anomaly = False


STATE = _GradState()


def is_grad_enabled() -> bool:
    return STATE.enabled


def is_anomaly_enabled() -> bool:
    """Whether :class:`detect_anomaly` is on (checks that cost a GPU a host synchronisation,
    such as the range of class labels, run only then on the GPU)."""
    return STATE.anomaly


class _GradModeContext:
    """Base of the grad-mode context managers; each also works as a decorator."""

    mode: bool = True

    def __init__(self) -> None:
        self.prev: list[bool] = []

    def __enter__(self):
        self.prev.append(STATE.enabled)
        STATE.enabled = self.mode
        return self

    def __exit__(self, *exc) -> None:
        STATE.enabled = self.prev.pop()

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = STATE.enabled
            STATE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.enabled = prev
        return wrapper


class no_grad(_GradModeContext):
    """Operations inside are not recorded (cheap inference, in-place parameter updates).
    Use as ``with ad.no_grad():``, ``@ad.no_grad()`` or ``@ad.no_grad``."""

    mode = False

    def __new__(cls, fn=None):
        if fn is not None and callable(fn):
            return cls()(fn)
        return super().__new__(cls)

    def __init__(self, fn=None) -> None:
        super().__init__()


class enable_grad(no_grad):
    """Turn recording back on inside a ``no_grad`` block."""

    mode = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(False)`` acts as ``no_grad``. As in PyTorch it takes effect when
    constructed, so a plain call ``ad.set_grad_enabled(False)`` switches recording off."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)
        self.prev.append(STATE.enabled)
        STATE.enabled = self.mode

    def __enter__(self):
        return self

    def __call__(self, fn):
        STATE.enabled = self.prev.pop()  # used as a decorator: undo the constructor's switch
        return super().__call__(fn)


class inference_mode(_GradModeContext):
    """PyTorch's ``inference_mode``: nothing inside is recorded, as under :class:`no_grad`;
    ``inference_mode(False)`` turns recording on. A context manager and a decorator
    (``@ad.inference_mode`` or ``@ad.inference_mode()``). Tensors made inside are ordinary
    tensors (autodiff has no separate inference tensors), so later use in autograd is allowed."""

    def __new__(cls, mode=True):
        if callable(mode):              # used bare as a decorator
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self.mode = not bool(mode)


class detect_anomaly:
    """Inside, every op checks its result (forward) and its gradients (backward) for NaN/inf
    and raises naming the operation that produced them. Costs a scan per op: debugging only."""

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode
        self.prev = False

    def __enter__(self):
        self.prev = STATE.anomaly
        STATE.anomaly = self.mode
        return self

    def __exit__(self, *exc) -> None:
        STATE.anomaly = self.prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.mode):
                return fn(*args, **kwargs)
        return wrapper
