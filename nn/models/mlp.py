"""The documents' multi-layer perceptrons.

* :func:`mnist_mlp` — the MNIST classifier 784-100-10 with a ReLU (experiments 1, 4, 5), the
  same structure (and state-dict keys ``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``) as
  ``torch.nn.Sequential(Linear(784, 100), ReLU(), Linear(100, 10))``.
* :func:`deep_relu_net` — a deep stack of Linear(-BatchNorm1d)-ReLU blocks (experiment 6:
  20 layers of 100 units on 1000 inputs) for watching activations and gradients vanish
  without batch normalisation.
"""
from __future__ import annotations

from autodiff import nn

__all__ = ["mnist_mlp", "deep_relu_net"]


def mnist_mlp(hidden: int = 100, in_features: int = 784, num_classes: int = 10) -> "nn.Sequential":
    """``Sequential(Linear(784, hidden), ReLU(), Linear(hidden, 10))`` returning logits."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


def deep_relu_net(depth: int = 20, width: int = 100, input_dim: int = 1000,
                  batch_norm: bool = False, num_classes: int | None = 10,
                  init_std: float | None = None) -> "nn.Sequential":
    """``depth`` blocks Linear -> [BatchNorm1d] -> ReLU of ``width`` units, then (unless
    ``num_classes`` is None) a Linear head.

    Weights use PyTorch's default Linear initialisation unless ``init_std`` is given, in which
    case they are drawn from N(0, init_std^2) with zero biases (the documents' "small random
    numbers"). Either way the hidden signal shrinks layer after layer without batch norm.
    Block ``i`` occupies indices ``i*k .. i*k+k-1`` (k = 3 with batch norm, else 2); the
    ReLU outputs are the per-layer activations.
    """
    if depth < 1:
        raise ValueError(f"deep_relu_net: depth must be >= 1, got {depth}")
    layers = []
    n_in = input_dim
    for _ in range(depth):
        lin = nn.Linear(n_in, width)
        if init_std is not None:
            nn.init.normal_(lin.weight, 0.0, init_std)
            nn.init.zeros_(lin.bias)
        layers.append(lin)
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(nn.ReLU())
        n_in = width
    if num_classes is not None:
        layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
