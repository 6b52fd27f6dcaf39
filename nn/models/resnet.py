"""The CIFAR-10 residual networks of He et al. (2016), section 4.2.

A 3x3 convolution with 16 filters, then three stages of ``n`` basic blocks with 16, 32 and 64
filters on 32x32, 16x16 and 8x8 feature maps (the first block of stages 2 and 3 downsamples with
a stride-2 convolution), global average pooling and a 10-way linear layer: 6n + 2 weighted
layers, so depth 20, 32, 44, 56, 110 for n = 3, 5, 7, 9, 18. A basic block is
conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. Shortcuts are identities; where the
dimensions change, option "A" subsamples the input (``x[:, :, ::2, ::2]``) and zero-pads the new
channels (no parameters), option "B" uses a 1x1 projection convolution (stride 2) + BN.
Convolutions have no bias (BN follows); weights use He (kaiming normal) initialisation.

Parameter counts (option A): ResNet-20 269,722 (0.27M), ResNet-32 0.46M, ResNet-44 0.66M,
ResNet-56 853,018 (0.85M), ResNet-110 1.7M, as in the paper's Table 6.

>>> model = resnet_cifar(depth=20, shortcut="A")
>>> model.num_parameters()
269722
"""
from __future__ import annotations

import autodiff as ad
from autodiff.nn import functional_conv as Fc
from autodiff.nn import init
from autodiff.nn.layers.conv import Conv2d
from autodiff.nn.module import Module, Sequential
from autodiff.tensor import Tensor

__all__ = ["BasicBlock", "ResNetCIFAR", "resnet_cifar", "resnet20", "resnet32", "resnet44",
           "resnet56", "resnet110"]


def _batchnorm2d(c: int) -> Module:
    from autodiff.nn.layers.norm import BatchNorm2d   # imported late: owned by nn core
    return BatchNorm2d(c)


def _linear(i: int, o: int) -> Module:
    from autodiff.nn.layers.linear import Linear
    return Linear(i, o)


class _ShortcutA(Module):
    """Option A: subsample by ``stride`` and zero-pad the extra channels (parameter free)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = planes - in_planes
        self.pad_before, self.pad_after = extra // 2, extra - extra // 2

    def forward(self, x: Tensor) -> Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return Fc.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad_channels=({self.pad_before}, {self.pad_after})"


class BasicBlock(Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 shortcut: str = "A") -> None:
        super().__init__()
        self.conv1 = Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _batchnorm2d(planes)
        self.conv2 = Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = _batchnorm2d(planes)
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.shortcut = _ShortcutA(in_planes, planes, stride)
            else:
                self.shortcut = Sequential(Conv2d(in_planes, planes, 1, stride=stride,
                                                  bias=False), _batchnorm2d(planes))
        else:
            self.shortcut = None

    def forward(self, x: Tensor) -> Tensor:
        out = ad.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return ad.relu(out)


class ResNetCIFAR(Module):
    """The 6n+2-layer CIFAR ResNet; see the module docstring."""

    def __init__(self, n: int, shortcut: str = "A", num_classes: int = 10,
                 widths: tuple = (16, 32, 64), in_channels: int = 3) -> None:
        super().__init__()
        shortcut = str(shortcut).upper()
        if shortcut not in ("A", "B"):
            raise ValueError(f"resnet_cifar: shortcut must be 'A' (zero-padding identity) or "
                             f"'B' (1x1 projection), got {shortcut!r}")
        self.n, self.shortcut_type = n, shortcut
        self.conv1 = Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = _batchnorm2d(widths[0])
        in_planes = widths[0]
        for s, planes in enumerate(widths):
            blocks = []
            for b in range(n):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            setattr(self, f"layer{s + 1}", Sequential(*blocks))
        self.fc = _linear(in_planes, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation (kaiming normal, fan_in, ReLU gain) of convolutions and the
        linear layer; BN scale 1 and shift 0; the linear bias 0."""
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        init.kaiming_normal_(self.fc.weight, mode="fan_in", nonlinearity="relu")
        if getattr(self.fc, "bias", None) is not None:
            init.zeros_(self.fc.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = ad.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = ad.mean(out, axis=(2, 3))                       # global average pooling
        return self.fc(out)

    def extra_repr(self) -> str:
        return f"depth={6 * self.n + 2}, shortcut={self.shortcut_type!r}"


def resnet_cifar(depth: int = 20, shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    """ResNet-``depth`` for CIFAR-10 (depth = 6n + 2: 20, 32, 44, 56, 110, ...)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet_cifar: depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, "
                         f"110), got {depth}")
    return ResNetCIFAR((depth - 2) // 6, shortcut, num_classes)


def resnet20(shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    return resnet_cifar(20, shortcut, num_classes)


def resnet32(shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    return resnet_cifar(32, shortcut, num_classes)


def resnet44(shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    return resnet_cifar(44, shortcut, num_classes)


def resnet56(shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    return resnet_cifar(56, shortcut, num_classes)


def resnet110(shortcut: str = "A", num_classes: int = 10) -> ResNetCIFAR:
    return resnet_cifar(110, shortcut, num_classes)
