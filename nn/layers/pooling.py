"""Pooling layers (``torch.nn`` names, arguments and reprs): MaxPool1d/2d/3d, AvgPool1d/2d/3d,
AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d, MaxUnpool1d/2d/3d; and the padding layers
built on ``F.pad``."""
from __future__ import annotations

from autodiff.nn import functional_conv as Fc
from autodiff.nn import functional_pool as Fp
from autodiff.nn.module import Module
from autodiff.tensor import Tensor

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d",
           "MaxUnpool3d", "ZeroPad2d", "ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d"]


class _MaxPoolNd(Module):
    """Max over each window; the gradient goes to the window's first maximum."""

    _functional = staticmethod(Fp.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor):
        return self._functional(input, self.kernel_size, self.stride, self.padding,
                                self.dilation, self.ceil_mode, self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of (N, C, L) (``torch.nn.MaxPool1d``)."""

    _functional = staticmethod(Fp.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """Max over windows of (N, C, H, W) (``torch.nn.MaxPool2d``)."""

    _functional = staticmethod(Fp.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """Max over windows of (N, C, D, H, W) (``torch.nn.MaxPool3d``)."""

    _functional = staticmethod(Fp.max_pool3d)


class _AvgPoolNd(Module):
    """Mean over each window (PyTorch's ``count_include_pad`` / ``divisor_override`` rules)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of (N, C, L) (``torch.nn.AvgPool1d``; no divisor_override, as
    PyTorch)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        one = lambda v: v if isinstance(v, tuple) else (v,)  # noqa: E731  (PyTorch's 1-tuples)
        super().__init__(one(kernel_size), one(stride if stride is not None else kernel_size),
                         one(padding), ceil_mode, count_include_pad)

    def forward(self, input: Tensor) -> Tensor:
        return Fp.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of (N, C, H, W) (``torch.nn.AvgPool2d``)."""

    def forward(self, input: Tensor) -> Tensor:
        return Fp.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad, self.divisor_override)


class AvgPool3d(_AvgPoolNd):
    """Mean over windows of (N, C, D, H, W) (``torch.nn.AvgPool3d``)."""

    def forward(self, input: Tensor) -> Tensor:
        return Fp.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                             self.count_include_pad, self.divisor_override)


class _AdaptivePool(Module):
    _functional = staticmethod(Fp.adaptive_avg_pool2d)

    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return self._functional(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePool):
    """Average pooling of (N, C, L) to a fixed length."""

    _functional = staticmethod(Fp.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling to a fixed output size; ``AdaptiveAvgPool2d(1)`` is global average
    pooling."""

    _functional = staticmethod(Fp.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePool):
    """Average pooling of (N, C, D, H, W) to a fixed output size."""

    _functional = staticmethod(Fp.adaptive_avg_pool3d)


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return self._functional(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    """Max pooling of (N, C, L) to a fixed length (PyTorch's adaptive windows)."""

    _functional = staticmethod(Fp.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    """Max pooling to a fixed output size (1 = global max)."""

    _functional = staticmethod(Fp.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPool):
    """Max pooling of (N, C, D, H, W) to a fixed output size."""

    _functional = staticmethod(Fp.adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    """The partial inverse of max pooling: ``forward(input, indices, output_size=None)``."""

    _n = 2
    _functional = staticmethod(Fp.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        n = self._n
        tup = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * n  # noqa: E731
        self.kernel_size = tup(kernel_size)
        self.stride = tup(stride if stride is not None else kernel_size)
        self.padding = tup(padding)

    def forward(self, input: Tensor, indices: Tensor, output_size=None) -> Tensor:
        return self._functional(input, indices, self.kernel_size, self.stride, self.padding,
                                output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Inverse of MaxPool1d where it kept values (``torch.nn.MaxUnpool1d``)."""

    _n = 1
    _functional = staticmethod(Fp.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """Inverse of MaxPool2d where it kept values (``torch.nn.MaxUnpool2d``): zeros elsewhere."""

    _n = 2
    _functional = staticmethod(Fp.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """Inverse of MaxPool3d where it kept values (``torch.nn.MaxUnpool3d``)."""

    _n = 3
    _functional = staticmethod(Fp.max_unpool3d)


def _pad4(padding) -> tuple:
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) != 4:
        raise ValueError(f"padding must be an int or (left, right, top, bottom), got {padding}")
    return padding


class ConstantPad2d(Module):
    """Pads the last two dims with ``value``; padding = int or (left, right, top, bottom)."""

    mode = "constant"

    def __init__(self, padding, value: float = 0.0) -> None:
        super().__init__()
        self.padding = _pad4(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        if self.mode == "constant":
            return Fc.pad(input, self.padding, "constant", self.value)
        return Fc.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        if self.mode == "constant" and not isinstance(self, ZeroPad2d):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"                  # ZeroPad2d((1, 1, 1, 1)), as PyTorch


class ZeroPad2d(ConstantPad2d):
    """Zero padding of the last two dims."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)


class ReflectionPad2d(ConstantPad2d):
    """Mirror padding of the last two dims (the edge is not repeated)."""

    mode = "reflect"

    def __init__(self, padding) -> None:
        super().__init__(padding)


class ReplicationPad2d(ConstantPad2d):
    """Edge-replicating padding of the last two dims."""

    mode = "replicate"

    def __init__(self, padding) -> None:
        super().__init__(padding)
