"""Functional forms of the core layers: linear, activations, softmax, dropout, batch/layer norm,
embedding, one_hot, flatten (PyTorch's ``torch.nn.functional`` names and signatures).

``linear``, ``dropout`` and ``batch_norm`` are primitives with hand-written backward rules
(one tape node each); the rules use Tensor ops only, so double backward works.
"""
from __future__ import annotations

import numpy

import autodiff as ad
from autodiff.backends import get_array_module
from autodiff.ops import linear as _linear
from autodiff.ops import norm as _norm
from autodiff.ops.inplace import apply, update_op
from autodiff.random import draw
from autodiff.tensor import Tensor, make

from .input_checks import deferred_check, row_ids

__all__ = ["linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "gelu", "softplus",
           "softmax", "log_softmax", "dropout", "batch_norm", "layer_norm", "embedding",
           "one_hot", "flatten", "identity"]


def _t(x) -> Tensor:
    return x if isinstance(x, Tensor) else ad.tensor(x)


# ------------------------------------------------------------------------------------ linear
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` with weight (out_features, in_features), input (..., in)."""
    input, weight = _t(input), _t(weight)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} does not match weight "
                         f"of shape {tuple(weight.shape)} (expected input.shape[-1] == "
                         f"{weight.shape[1]})")
    if bias is None:
        return _linear.linear(input, weight)
    bias = _t(bias)
    if bias.shape not in ((weight.shape[0],), ()):
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                         f"out_features {weight.shape[0]}")
    return _linear.linear(input, weight, bias)


def identity(input: Tensor) -> Tensor:
    return input


# ------------------------------------------------------------------------------------ activations
def _inplace(name: str, input: Tensor, fn) -> Tensor:
    """PyTorch's ``inplace=True``: ``input`` itself is returned, its data overwritten with
    ``fn(input)`` and its version bumped; when the op is recorded, its history moves onto the
    op's node (as ``x.relu_()``). Refused for a leaf that requires grad while grad is on."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(inplace=True): input must be a Tensor, got "
                        f"{type(input).__name__}")
    recording = ad.is_grad_enabled() and input.requires_grad
    if recording and input.is_leaf:
        raise RuntimeError(f"{name}(inplace=True): a leaf Variable that requires grad is being "
                           f"used in an in-place operation.")
    # the op's rule may save its input: give it the values before they are overwritten
    src = make(input.array.copy(), True, input.grad_fn, input._out_idx) if recording else input
    out = fn(src)
    data = input.array
    if isinstance(data, numpy.generic):  # a 0-d result kept as a NumPy scalar: immutable
        data = input.array = numpy.array(data)
    try:
        data[...] = out.array
    except ValueError as e:
        raise RuntimeError(f"{name}(inplace=True): the input's data (shape {input.shape}) "
                           f"cannot be written in place: {e}") from None
    ad.increment_version(input)
    if recording:
        node = out.grad_fn
        input.grad_fn, input._out_idx = node, out._out_idx
        for s in node.saved:  # the op's saved output is now input: share its data and version
            if s is not None and s.out_idx == out._out_idx:
                s.array, s.version, s.expected = data, input._version, input._version.v
    return input


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). With ``inplace`` (here and in leaky_relu, elu, dropout) ``input`` itself is
    overwritten and returned, as PyTorch's (see ``_inplace``)."""
    if inplace:
        return _inplace("relu", input, ad.relu)
    return ad.relu(input)


def sigmoid(input: Tensor) -> Tensor:
    return ad.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    return ad.tanh(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    if inplace:
        return _inplace("leaky_relu", input, lambda x: ad.leaky_relu(x, negative_slope))
    return ad.leaky_relu(input, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if inplace:
        return _inplace("elu", input, lambda x: ad.elu(x, alpha))
    return ad.elu(input, alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return ad.gelu(input, approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return ad.softplus(input, beta, threshold)


def softmax(input: Tensor, dim: int = -1, dtype=None) -> Tensor:
    input = _t(input)
    if dtype is not None:
        input = input.astype(dtype)
    return ad.softmax(input, dim=dim)


def log_softmax(input: Tensor, dim: int = -1, dtype=None) -> Tensor:
    input = _t(input)
    if dtype is not None:
        input = input.astype(dtype)
    return ad.log_softmax(input, dim=dim)


# ------------------------------------------------------------------------------------ dropout
def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted
    dropout); the identity when not ``training`` or ``p == 0``. The mask is kept for
    backward. ``inplace`` as in :func:`relu`."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return _t(input)
    if inplace:
        return _inplace("dropout", input, lambda x: dropout(x, p, training))
    input = _t(input)
    xp = input.xp
    if p == 1.0:
        mask = xp.zeros(input.shape, input.dtype)
    else:
        mask = draw(_dropout_mask, xp, None, input.shape, input.dtype, p)
    return _linear.dropout(input, mask)


def _dropout_mask(rng, shape: tuple, dtype, p: float):
    """Zeros with probability ``p``, else 1/(1-p) (a random draw ``autodiff.compile``
    replays)."""
    # uniforms in the input's precision: no float64 temporary for float32/float16 data
    dt = dtype if dtype == numpy.float64 else numpy.float32
    keep = rng.random(shape, dtype=dt) >= p
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - p))


# ------------------------------------------------------------------------------------ batch norm
def _bn_shape(x: Tensor) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every dim but the channel dim 1 ((N, C), (N, C, L), (N, C, H, W)).

    In training the batch statistics are used (biased variance) and the running statistics,
    when given, are updated in place: ``r = (1 - momentum) * r + momentum * s`` with the
    *unbiased* batch variance for ``running_var`` (as PyTorch). In eval the running statistics
    are used.
    """
    input = _t(input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of at least 2 dims (N, C, ...), got "
                         f"shape {tuple(input.shape)}")
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (C,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)}, expected ({C},) "
                             f"for an input of shape {tuple(input.shape)}")
    shape = _bn_shape(input)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are needed when not "
                             "training")
        # ops on the running statistics (no raw arrays): autodiff.compile reads them live
        inv = ad.div(1.0, ad.sqrt(ad.add(running_var, eps)))
        scale = inv if inv.dtype == input.dtype else inv.astype(input.dtype)
        if weight is not None:
            scale = ad.mul(weight, scale)
        mean = running_mean if running_mean.dtype == input.dtype else \
            running_mean.astype(input.dtype)
        shift = ad.mul(ad.neg(mean), scale)
        if bias is not None:
            shift = ad.add(shift, bias)
        return ad.add(ad.mul(input, ad.reshape(scale, shape)), ad.reshape(shift, shape))

    n = input.array.size // C
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {tuple(input.shape)}")
    out, mean, var = _norm.batch_norm(input, weight, bias, eps)
    if running_mean is not None:
        apply(RUNNING_AVERAGE, (running_mean, make(mean)), (momentum, None))
    if running_var is not None:
        apply(RUNNING_AVERAGE, (running_var, make(var)), (momentum, n / (n - 1)))
    return out


def _running_average_fw(r, stat, momentum, correction) -> None:
    if correction is not None:          # the unbiased variance from the biased one
        stat = stat * correction
    r[...] = ((1 - momentum) * r + momentum * stat).astype(r.dtype)


#: ``r = (1 - momentum) * r + momentum * stat``: batch norm's running statistics (an update
#: op, so ``autodiff.compile`` replays it)
RUNNING_AVERAGE = update_op("batch_norm_running_average", _running_average_fw)


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims (biased variance), then scale and
    shift elementwise."""
    input = _t(input)
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if tuple(input.shape[input.ndim - len(ns):]) != ns:
        raise ValueError(f"layer_norm: input of shape {tuple(input.shape)} does not end with "
                         f"normalized_shape {ns}")
    axes = tuple(range(input.ndim - len(ns), input.ndim))
    mean = ad.mean(input, axes, True)
    centred = ad.sub(input, mean)
    var = ad.mean(ad.mul(centred, centred), axes, True)
    out = ad.mul(centred, ad.div(1.0, ad.sqrt(ad.add(var, eps))))
    if weight is not None:
        out = ad.mul(out, weight)
    if bias is not None:
        out = ad.add(out, bias)
    return out


# ------------------------------------------------------------------------------------ embedding
def embedding(input, weight: Tensor, padding_idx: int | None = None, max_norm=None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False,
              sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input`` (any shape), as PyTorch's.

    The row at ``padding_idx`` gets no gradient. With ``max_norm``, every row looked up whose
    ``norm_type``-norm exceeds it is first rescaled in place (under no-grad, the version of
    ``weight`` bumped) to norm ``max_norm`` (by ``max_norm / (norm + 1e-7)``). With
    ``scale_grad_by_freq`` each lookup's gradient is divided by the number of times its index
    occurs in ``input``. ``sparse=True`` (sparse gradients) is not supported."""
    if sparse:
        raise NotImplementedError("embedding: sparse=True is not supported (there are no sparse "
                                  "tensors here); use sparse=False for the dense gradient")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {tuple(weight.shape)}")
    xp = weight.xp
    num = weight.shape[0]
    idx, bad = row_ids("embedding", input, weight, num)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within "
                             f"num_embeddings {num}")
        padding_idx %= num
    if max_norm is not None:
        _embedding_renorm_(weight, idx, float(max_norm), float(norm_type))
    out = _linear.embedding(weight, idx, bad)
    if padding_idx is None and not scale_grad_by_freq:
        return out
    scale = xp.ones(idx.shape, weight.dtype)
    if scale_grad_by_freq:
        counts = xp.bincount(idx.reshape(-1), minlength=num)
        scale = (1.0 / counts[idx]).astype(weight.dtype)
    if padding_idx is not None:
        scale = xp.where(idx == padding_idx, 0, scale).astype(weight.dtype, copy=False)
    return _linear.embedding_grad_scale(out, scale[..., None])


def _embedding_renorm_(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """Rescale in place the rows of ``weight`` indexed by ``idx`` whose norm exceeds max_norm."""
    xp = weight.xp
    rows = xp.unique(idx.reshape(-1))
    w = weight.array
    norms = xp.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if bool(big.any()):
        w[rows[big]] *= (max_norm / (norms[big] + 1e-7)).astype(w.dtype)[:, None]
    ad.increment_version(weight)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding with a trailing class dim. ``num_classes=-1`` reads the largest
    value (a host synchronisation on a GPU, as in PyTorch). A value outside [0, num_classes)
    raises, on a GPU only in anomaly mode (otherwise its row is all zeros)."""
    idx = tensor.array if isinstance(tensor, Tensor) else ad.as_tensor(tensor).array
    xp = get_array_module(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects an integer tensor, got dtype {idx.dtype}")
    if num_classes < 0:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    deferred_check(idx, (idx < 0) | (idx >= num_classes), lambda v: ValueError(
        f"one_hot: class values must be in [0, {num_classes}), got {v}"))
    out = (idx[..., None] == xp.arange(num_classes)).astype(numpy.int64)
    return make(out)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return ad.flatten(_t(input), start_dim, end_dim)
