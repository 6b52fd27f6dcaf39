"""Convolution layers: ``Conv2d`` and ``Conv1d`` with PyTorch's parameters, names and init.

``weight`` has shape (out_channels, in_channels / groups, kh, kw) and ``bias`` (out_channels,);
both are initialised as PyTorch does (``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in),
1/sqrt(fan_in)) for the weight, and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias), so state
dicts interchange with ``torch.nn.Conv2d``.
"""
from __future__ import annotations

import math

import autodiff as ad
from autodiff.nn import functional_conv as Fc
from autodiff.nn import init
from autodiff.nn.module import Module, Parameter
from autodiff.tensor import Tensor

__all__ = ["Conv2d", "Conv1d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v, n: int, name: str) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"Conv: {name} must be an int or a {n}-tuple, got {v!r}")
    return v


class _ConvNd(Module):
    _n = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__()
        name = type(self).__name__
        n = self._n
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must be positive and divide "
                             f"in_channels={in_channels} and out_channels={out_channels}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in _tuple(stride, n, "stride")):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding")
        self.dilation = _tuple(dilation, n, "dilation")
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(ad.empty((out_channels, in_channels // groups)
                                         + self.kernel_size, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(ad.empty((out_channels,), dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.numel() // self.weight.shape[0]
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _explicit_pad(self, x: Tensor) -> tuple[Tensor, object]:
        """Non-zero padding modes pad first (F.pad) and convolve unpadded."""
        if self.padding_mode == "zeros":
            return x, self.padding
        if isinstance(self.padding, str):
            if self.padding == "valid":
                return x, 0
            pads = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
        else:
            pads = [p for p in reversed(self.padding) for _ in range(2)]
        return Fc.pad(x, tuple(pads), mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        zero = (0,) * self._n
        if self.padding != zero:
            s += f", padding={self.padding}"      # 'same' unquoted, as PyTorch
        if self.dilation != (1,) * self._n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) (``torch.nn.Conv2d``): im2col + one matmul.

    >>> conv = Conv2d(3, 16, 3, padding=1)
    >>> conv(ad.zeros((2, 3, 32, 32))).shape
    (2, 16, 32, 32)
    """

    _n = 2

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_pad(input)
        return Fc.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) (``torch.nn.Conv1d``)."""

    _n = 1

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_pad(input)
        return Fc.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                         self.groups)
