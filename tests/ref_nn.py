"""NumPy references for the nn layers, written out from PyTorch's documentation (no PyTorch, no
autodiff): activations with their closed-form derivatives, batch norm over training steps
(running statistics, momentum, cumulative average), and a ReLU MLP's cross-entropy loss,
hand-derived backward pass and SGD step."""
from __future__ import annotations

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _gelu_tanh_inner(x):
    return np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """x Phi(x), or PyTorch's tanh approximation 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))."""
    if approximate == "tanh":
        return 0.5 * x * (1 + _gelu_tanh_inner(x))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def gelu_grad(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        t = _gelu_tanh_inner(x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
    return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    return np.where(beta * x > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def softplus_grad(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    return np.where(beta * x > threshold, 1.0, sigmoid(beta * x))


def softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(dim, keepdims=True))
    return e / e.sum(dim, keepdims=True)


def log_softmax(x: np.ndarray, dim: int = -1) -> np.ndarray:
    m = x.max(dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(dim, keepdims=True))


def _elementwise(f, df):
    """(value, vector-Jacobian product) of an elementwise function with derivative ``df``."""
    return f, lambda x, g, **kw: g * df(x, **kw)


# name -> (value(x, **kw), vjp(x, g, **kw)): the keyword names are the module's arguments.
ACTIVATIONS = {
    "ReLU": _elementwise(lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(x.dtype)),
    "Sigmoid": _elementwise(sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x))),
    "Tanh": _elementwise(np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "LeakyReLU": _elementwise(
        lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x),
        lambda x, negative_slope=0.01: np.where(x > 0, 1.0, negative_slope)),
    "ELU": _elementwise(lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(x)),
                        lambda x, alpha=1.0: np.where(x > 0, 1.0, alpha * np.exp(x))),
    "GELU": _elementwise(gelu, gelu_grad),
    "Softplus": _elementwise(softplus, softplus_grad),
    # d softmax: s * (g - <g, s>); d log_softmax: g - softmax * sum(g)
    "Softmax": (softmax, lambda x, g, dim=-1: softmax(x, dim) * (
        g - (g * softmax(x, dim)).sum(dim, keepdims=True))),
    "LogSoftmax": (log_softmax, lambda x, g, dim=-1: g - softmax(x, dim) * g.sum(
        dim, keepdims=True)),
}


# ----------------------------------------------------------------------------- batch norm
class BatchNormRef:
    """PyTorch's BatchNorm1d/2d, step by step (torch.nn.BatchNorm2d documentation).

    Training: normalise with the batch mean and *biased* variance; update
    ``running = (1 - m) * running + m * statistic`` with the *unbiased* variance, where
    ``m = momentum`` or, for ``momentum=None``, ``1 / num_batches_tracked`` (the cumulative
    average). Eval: normalise with the running statistics, or with the batch statistics when
    ``track_running_stats=False``. Parameter gradients accumulate over steps, as ``.grad`` does.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 weight: np.ndarray | None = None, bias: np.ndarray | None = None) -> None:
        c = num_features
        self.eps, self.momentum, self.affine, self.track = eps, momentum, affine, \
            track_running_stats
        self.weight = np.ones(c) if weight is None else np.array(weight, dtype=np.float64)
        self.bias = np.zeros(c) if bias is None else np.array(bias, dtype=np.float64)
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)
        self.num_batches_tracked = 0
        self.weight_grad, self.bias_grad = np.zeros(c), np.zeros(c)

    @staticmethod
    def _axes_shape(x):
        return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)

    def state_dict(self) -> dict:
        sd = {"weight": self.weight, "bias": self.bias} if self.affine else {}
        if self.track:
            sd.update(running_mean=self.running_mean, running_var=self.running_var,
                      num_batches_tracked=np.array(self.num_batches_tracked))
        return sd

    def train_step(self, x: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output and input gradient for upstream gradient ``g``; updates the running
        statistics and accumulates the parameter gradients."""
        axes, shape = self._axes_shape(x)
        n = x.size // x.shape[1]
        mean, var = x.mean(axes), x.var(axes)
        if self.track:
            self.num_batches_tracked += 1
            m = 1 / self.num_batches_tracked if self.momentum is None else self.momentum
            self.running_mean = (1 - m) * self.running_mean + m * mean
            self.running_var = (1 - m) * self.running_var + m * var * n / (n - 1)
        invstd = 1 / np.sqrt(var + self.eps)
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        w = self.weight if self.affine else np.ones_like(self.weight)
        b = self.bias if self.affine else np.zeros_like(self.bias)
        out = xhat * w.reshape(shape) + b.reshape(shape)
        # d/dx of (x - mean) * invstd, contracted with dxhat (the standard three-term form)
        dxhat = g * w.reshape(shape)
        dx = invstd.reshape(shape) / n * (n * dxhat - dxhat.sum(axes, keepdims=True) -
                                          xhat * (dxhat * xhat).sum(axes, keepdims=True))
        self.weight_grad = self.weight_grad + (g * xhat).sum(axes)
        self.bias_grad = self.bias_grad + g.sum(axes)
        return out, dx

    def eval_forward(self, x: np.ndarray) -> np.ndarray:
        axes, shape = self._axes_shape(x)
        mean, var = (self.running_mean, self.running_var) if self.track else \
            (x.mean(axes), x.var(axes))
        out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + self.eps)
        if self.affine:
            out = out * self.weight.reshape(shape) + self.bias.reshape(shape)
        return out


# ----------------------------------------------------------------------------- MLP
def mlp_loss_and_grads(params: list[np.ndarray], x: np.ndarray,
                       y: np.ndarray) -> tuple[float, list[np.ndarray]]:
    """Linear -> ReLU -> Linear, mean cross-entropy over the batch, in float64: the loss and
    the gradients of [W1, b1, W2, b2] by the chain rule written out by hand."""
    W1, b1, W2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    x = np.asarray(x, dtype=np.float64)
    n = len(y)
    pre = x @ W1.T + b1
    h = np.maximum(pre, 0)
    z = h @ W2.T + b2
    loss = -log_softmax(z, 1)[np.arange(n), y].mean()
    dz = softmax(z, 1)
    dz[np.arange(n), y] -= 1
    dz /= n
    dpre = (dz @ W2) * (pre > 0)
    return float(loss), [dpre.T @ x, dpre.sum(0), dz.T @ h, dz.sum(0)]


def mlp_sgd(params: list[np.ndarray], batches, lr: float) -> tuple[list[float], list[np.ndarray]]:
    """Plain SGD (p -= lr * grad) over ``batches`` of (x, y); the losses before each step and
    the final parameters."""
    params = [np.asarray(p, dtype=np.float64).copy() for p in params]
    losses = []
    for x, y in batches:
        loss, grads = mlp_loss_and_grads(params, x, y)
        losses.append(loss)
        params = [p - lr * g for p, g in zip(params, grads)]
    return losses, params
