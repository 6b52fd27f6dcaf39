"""Layer modules: activations (ReLU, Sigmoid, Tanh, LeakyReLU, ELU, GELU, Softplus, Softmax,
LogSoftmax, and those of ``functional_activation``: CELU, SELU, SiLU, Mish, Hardtanh, ReLU6,
Hardswish, Hardsigmoid, LogSigmoid, Softsign, Softmin, GLU, Tanhshrink, Softshrink, Hardshrink,
Threshold, PReLU, RReLU), with PyTorch's arguments and reprs."""
from __future__ import annotations

import autodiff as ad
from autodiff.tensor import Tensor

from .. import functional_activation as FA
from .. import functional_core as F
from ..module import Module, Parameter

__all__ = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "GELU", "Softplus", "Softmax",
           "LogSoftmax", "CELU", "SELU", "SiLU", "Mish", "Hardtanh", "ReLU6", "Hardswish",
           "Hardsigmoid", "LogSigmoid", "Softsign", "Softmin", "GLU", "Tanhshrink", "Softshrink",
           "Hardshrink", "Threshold", "PReLU", "RReLU"]


def _inplace_str(inplace: bool, first: bool = False) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """max(x, 0)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, first=True)


class Sigmoid(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + _inplace_str(self.inplace)


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_str(self.inplace)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate='{self.approximate}'"


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _Stateless(Module):
    """An activation without arguments: ``forward`` applies ``_fn``."""

    _fn = None

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input)


class _InplaceOnly(Module):
    """An activation whose one argument is ``inplace`` (shown in the repr when set, or never
    where PyTorch's repr omits it: ``_show_inplace``)."""

    _fn = None
    _show_inplace = True

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace and self._show_inplace, first=True)


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return FA.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + _inplace_str(self.inplace)


class SELU(_InplaceOnly):
    """scale * elu(x, alpha) with SELU's fixed constants."""
    _fn = staticmethod(FA.selu)


class SiLU(_InplaceOnly):
    """x * sigmoid(x)."""
    _fn = staticmethod(FA.silu)


class Mish(_InplaceOnly):
    """x * tanh(softplus(x))."""
    _fn = staticmethod(FA.mish)


class Hardswish(_InplaceOnly):
    """x * relu6(x + 3) / 6."""
    _fn = staticmethod(FA.hardswish)
    _show_inplace = False


class Hardsigmoid(_InplaceOnly):
    """relu6(x + 3) / 6."""
    _fn = staticmethod(FA.hardsigmoid)
    _show_inplace = False


class Hardtanh(Module):
    """Clamp into [min_val, max_val] (gradient 0 at the bounds, as PyTorch).
    ``min_value``/``max_value`` are PyTorch's deprecated spellings."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        min_val = min_value if min_value is not None else min_val
        max_val = max_value if max_value is not None else max_val
        if not max_val > min_val:
            raise ValueError(f"{type(self).__name__}: max_val ({max_val}) must be greater than "
                             f"min_val ({min_val})")
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return FA.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_str(self.inplace)


class ReLU6(Hardtanh):
    """min(max(0, x), 6)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_str(self.inplace, first=True)


class LogSigmoid(_Stateless):
    """log(sigmoid(x))."""
    _fn = staticmethod(FA.logsigmoid)


class Softsign(_Stateless):
    """x / (1 + |x|)."""
    _fn = staticmethod(FA.softsign)


class Tanhshrink(_Stateless):
    """x - tanh(x)."""
    _fn = staticmethod(FA.tanhshrink)


class Softmin(Module):
    """softmax(-x) over ``dim`` (``None``: PyTorch's legacy implicit dim, with its warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return FA.softmin(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GLU(Module):
    """a * sigmoid(b) for the halves a, b of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return FA.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softshrink(Module):
    """x -+ lambd outside [-lambd, lambd], 0 inside."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, input: Tensor) -> Tensor:
        return FA.softshrink(input, self.lambd)

    def extra_repr(self) -> str:
        return str(self.lambd)


class Hardshrink(Softshrink):
    """x outside [-lambd, lambd], 0 inside."""

    def forward(self, input: Tensor) -> Tensor:
        return FA.hardshrink(input, self.lambd)


class Threshold(Module):
    """x where x > threshold, else value."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return FA.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + _inplace_str(self.inplace)


class PReLU(Module):
    """x where x > 0, else weight * x, with a learnable ``weight`` of ``num_parameters`` slopes
    (1, or one per channel of dim 1), each initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.num_parameters = int(num_parameters)
        self.init = init
        dt = dtype if dtype is not None else ad.get_default_dtype()
        self.weight = Parameter(ad.full((self.num_parameters,), init, dtype=dt, device=device))

    def reset_parameters(self) -> None:
        self.weight.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return FA.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(Module):
    """Randomized leaky ReLU: slopes drawn from U(lower, upper) in training, their mean in eval."""

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return FA.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + _inplace_str(self.inplace)
