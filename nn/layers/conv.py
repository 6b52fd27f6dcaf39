"""Convolution layers with PyTorch's parameters, names, shapes and init: ``Conv1d``,
``Conv2d``, ``Conv3d`` and the transposed ``ConvTranspose1d/2d/3d``.

``weight`` has shape (out_channels, in_channels / groups, *kernel_size) for a convolution and
(in_channels, out_channels / groups, *kernel_size) for a transposed one, ``bias``
(out_channels,); both are initialised as PyTorch does (``kaiming_uniform_(a=sqrt(5))``, i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.shape[1] * prod(kernel_size), and the
same bound for the bias), so state dicts interchange with ``torch.nn``'s.
"""
from __future__ import annotations

import math

import autodiff as ad
from autodiff.nn import functional_conv as Fc
from autodiff.nn import init
from autodiff.nn.module import Module, Parameter
from autodiff.tensor import Tensor

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
           "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v, n: int, name: str, owner: str) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) != n:
        raise ValueError(f"{owner}: {name} must be an int or a {n}-tuple, got {v!r}")
    return v


class _ConvNd(Module):
    _n = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None, output_padding=0) -> None:
        super().__init__()
        name = type(self).__name__
        n = self._n
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must be positive and divide "
                             f"in_channels={in_channels} and out_channels={out_channels}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        if self._transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {name}')
        if isinstance(padding, str):
            if self._transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple"
                                 f"{'' if self._transposed else ', same or valid'}, got "
                                 f"{padding!r}")
            if padding == "same" and any(s != 1 for s in _tuple(stride, n, "stride", name)):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size", name)
        self.stride = _tuple(stride, n, "stride", name)
        self.padding = padding if isinstance(padding, str) else _tuple(padding, n, "padding",
                                                                       name)
        self.dilation = _tuple(dilation, n, "dilation", name)
        self.output_padding = _tuple(output_padding, n, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = ((in_channels, out_channels // groups) if self._transposed
                 else (out_channels, in_channels // groups))
        self.weight = Parameter(ad.empty(shape + self.kernel_size, dtype=dtype, device=device))
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

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        n = self._n
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"      # 'same' unquoted, as PyTorch
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """Convolutions: ``padding_mode`` other than zeros pads first (F.pad), then convolves."""

    _functional = staticmethod(Fc.conv2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)

    def _explicit_pad(self, x: Tensor) -> tuple[Tensor, object]:
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

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._explicit_pad(input)
        return self._functional(x, self.weight, self.bias, self.stride, padding, self.dilation,
                                self.groups)


class Conv1d(_Conv):
    """1-D convolution over (N, C_in, L) (``torch.nn.Conv1d``)."""

    _n = 1
    _functional = staticmethod(Fc.conv1d)


class Conv2d(_Conv):
    """2-D convolution over (N, C_in, H, W) (``torch.nn.Conv2d``): im2col + one matmul.

    >>> conv = Conv2d(3, 16, 3, padding=1)
    >>> conv(ad.zeros((2, 3, 32, 32))).shape
    (2, 16, 32, 32)
    """

    _n = 2
    _functional = staticmethod(Fc.conv2d)


class Conv3d(_Conv):
    """3-D convolution over (N, C_in, D, H, W) (``torch.nn.Conv3d``)."""

    _n = 3
    _functional = staticmethod(Fc.conv3d)


class _ConvTranspose(_ConvNd):
    """Transposed convolutions; ``forward(input, output_size=None)`` picks the output_padding
    that gives ``output_size`` (which may include the batch and channel dims), as PyTorch."""

    _transposed = True
    _functional = staticmethod(Fc.conv_transpose2d)

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def _output_padding(self, input: Tensor, output_size) -> tuple:
        if output_size is None:
            return self.output_padding
        n = self._n
        lead = 2 if input.ndim == n + 2 else 1
        output_size = [int(v) for v in output_size]
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            raise ValueError(f"{type(self).__name__}: for {input.ndim}D input, output_size must "
                             f"have {n} or {n + lead} elements (got {len(output_size)})")
        low = [Fc.transposed_size(size, k, s, p, 0, d) for size, k, s, p, d in zip(
            input.shape[lead:], self.kernel_size, self.stride, self.padding, self.dilation)]
        high = [a + s - 1 for a, s in zip(low, self.stride)]
        if any(not a <= v <= b for v, a, b in zip(output_size, low, high)):
            raise ValueError(f"{type(self).__name__}: requested an output size of "
                             f"{output_size}, but valid sizes range from {low} to {high} (for "
                             f"an input of {tuple(input.shape[lead:])})")
        return tuple(v - a for v, a in zip(output_size, low))

    def forward(self, input: Tensor, output_size=None) -> Tensor:
        return self._functional(input, self.weight, self.bias, self.stride, self.padding,
                                self._output_padding(input, output_size), self.groups,
                                self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution over (N, C_in, L) (``torch.nn.ConvTranspose1d``)."""

    _n = 1
    _functional = staticmethod(Fc.conv_transpose1d)


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution ("deconvolution") over (N, C_in, H, W)
    (``torch.nn.ConvTranspose2d``): the adjoint of Conv2d in its input."""

    _n = 2
    _functional = staticmethod(Fc.conv_transpose2d)


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution over (N, C_in, D, H, W) (``torch.nn.ConvTranspose3d``)."""

    _n = 3
    _functional = staticmethod(Fc.conv_transpose3d)
