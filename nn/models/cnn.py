"""The small MNIST convolutional network: (conv5x5-ReLU-maxpool2) twice, then linear.

(N, 1, 28, 28) -> conv(1->c1, 5x5, pad 2) -> ReLU -> maxpool 2 -> (N, c1, 14, 14)
-> conv(c1->c2, 5x5, pad 2) -> ReLU -> maxpool 2 -> (N, c2, 7, 7) -> flatten -> linear(c2*49, 10).
Flat (N, 784) inputs are reshaped to images.
"""
from __future__ import annotations

import autodiff as ad
from autodiff.nn import functional_pool as Fp
from autodiff.nn.layers.conv import Conv2d
from autodiff.nn.module import Module
from autodiff.tensor import Tensor

__all__ = ["MNISTCNN", "mnist_cnn"]


class MNISTCNN(Module):
    """conv-ReLU-maxpool, conv-ReLU-maxpool, linear."""

    def __init__(self, channels: tuple = (8, 16), kernel_size: int = 5, num_classes: int = 10,
                 in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        from autodiff.nn.layers.linear import Linear   # owned by nn core
        c1, c2 = channels
        self.image_size, self.in_channels = image_size, in_channels
        self.conv1 = Conv2d(in_channels, c1, kernel_size, padding=kernel_size // 2)
        self.conv2 = Conv2d(c1, c2, kernel_size, padding=kernel_size // 2)
        side = image_size // 4
        self.fc = Linear(c2 * side * side, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = ad.reshape(x, (x.shape[0], self.in_channels, self.image_size, self.image_size))
        x = Fp.max_pool2d(ad.relu(self.conv1(x)), 2)
        x = Fp.max_pool2d(ad.relu(self.conv2(x)), 2)
        return self.fc(ad.reshape(x, (x.shape[0], -1)))


def mnist_cnn(channels: tuple = (8, 16), kernel_size: int = 5, num_classes: int = 10) -> MNISTCNN:
    """The small MNIST CNN (about 12k parameters with the default channels)."""
    return MNISTCNN(channels, kernel_size, num_classes)
