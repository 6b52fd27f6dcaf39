"""autodiff: a tape-based reverse-mode automatic-differentiation engine.

>>> import autodiff as ad
>>> x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x ** 2).sum()
>>> y.backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from __future__ import annotations

from .backends import available_backends, current as _current_backend, set_backend
from .backends.precision import get_float32_matmul_precision, set_float32_matmul_precision

from . import methods as _methods  # noqa: F401  (binds Tensor methods)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full,
                       full_like, linspace, ones, ones_like, rand, rand_like, randint, randn,
                       randn_like, randperm, tensor, zeros, zeros_like)
from .dtypes import (bool_, can_cast, cdouble, cfloat, complex64, complex128, double, float16,
                     float32, float64, get_default_dtype, half, int8, int16, int32, int64,
                     is_complex, is_floating_point, long, promote_types, result_type,
                     set_default_dtype, short, uint8, uint16, uint32, uint64)
from .dtypes import bool_ as bool, float32 as float, int32 as int  # noqa: A001,E402  (PyTorch's)
from .ops.bitwise import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,  # noqa: E402
                          bitwise_right_shift, bitwise_xor)
from .ops.elementwise import logical_xor  # noqa: E402
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import (detect_anomaly, enable_grad, is_anomaly_enabled, is_grad_enabled,
                        no_grad, set_grad_enabled)
from .gradcheck import gradcheck, gradgradcheck
from .compile import compile  # noqa: E402,A004  (autodiff.compile: capture and replay)
from .ops.elementwise import (abs, add, clip, cos, div, elu, eq, erf, exp, expm1, ge, gelu, gt,
                              isfinite, isnan, le, leaky_relu, log, log1p, logical_and,
                              logical_not, logical_or, lt, maximum, minimum, mul, ne, neg, pow,
                              relu, rsub, sigmoid, sin, softplus, sqrt, sub, tan, tanh,
                              where)
from .ops.elementwise import clamp_max, clamp_min  # noqa: E402
from .ops.elementwise import piecewise_where  # noqa: E402
from .ops.nonfinite import allclose, isclose, isinf, isneginf, isposinf, nan_to_num
from .ops.rounding import (ceil, copysign, fix, floor, floor_divide, fmod, frac, heaviside,
                           remainder, round, sgn, sign, signbit, trunc)
from .ops.transcendental import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan,
                                 arctan2, arctanh, asin, asinh, atan, atan2, atanh, cosh, exp2,
                                 hypot, lerp, log2, log10, logaddexp, logaddexp2, reciprocal,
                                 rsqrt, sinc, sinh, square, xlogy)
from . import methods_math as _methods_math  # noqa: F401,E402  (binds their Tensor methods)
from .ops.index import gather, getitem, index_put, index_select, take_along_axis
from .ops.index import take_along_dim  # noqa: E402
from .ops.scatter import (argwhere, index_add, index_copy, index_fill, masked_fill,  # noqa: E402
                          masked_select, narrow, nonzero, scatter, scatter_add, scatter_reduce,
                          select)
from .ops.linalg import dot, einsum, matmul, outer
from .ops.reduce import (all, amax, amin, aminmax, any, argmax, argmin, count_nonzero,
                         log_softmax, logsumexp, max, mean, min, nanmean, nansum, norm, prod,
                         softmax, std, std_mean, sum, var, var_mean)
from .ops.scan import cummax, cummin, cumprod, cumsum, diff, logcumsumexp
from .ops.search import (argsort, bucketize, histc, kthvalue, median, mode, msort, nanmedian,
                         searchsorted, sort, topk, unique, unique_consecutive)
from .ops.shape import (astype, broadcast_to, cat, chunk, concatenate, expand, flatten, flip,
                        movedim, pad, permute, repeat, repeat_interleave, reshape, split,
                        squeeze, stack, sum_to, swapaxes, take, tile, transpose, unbind,
                        unsqueeze, view)
from .random import get_rng_state, initial_seed, manual_seed, set_rng_state
# shape, structure, products and sampling for the PyTorch port
from .ops.diagonals import diag, diag_embed, diagonal, trace, tril, triu
from .ops.distance import cdist
from .ops.products import cross, inner, kron, tensordot
from .ops.shape import fliplr, flipud, moveaxis, roll, rot90, swapdims, unflatten
from .ops.stacking import (atleast_1d, atleast_2d, atleast_3d, block_diag, broadcast_shapes,
                           broadcast_tensors, column_stack, dstack, hstack, meshgrid, row_stack,
                           tensor_split, vstack)
from .random import Generator
from .sampling import bernoulli, multinomial, normal, poisson
from . import linalg  # noqa: E402
from .tape import Tape, backward, grad, increment_version
from .tensor import Tensor
from . import functional  # noqa: E402
from . import viz  # noqa: E402  (make_dot; graphviz is imported only when drawing)
from . import autograd, cuda  # noqa: E402  (PyTorch's namespaces; nn, optim, utils: below)
from .device import device  # noqa: E402
from .grad_mode import inference_mode  # noqa: E402
from .ops.blas import addmm, addmv, baddbmm, bmm, mm, mv  # noqa: E402
from .size import Size  # noqa: E402
from .printing import set_printoptions  # noqa: E402
from .tensor_api import (channels_last, contiguous_format, equal, is_tensor, numel,  # noqa: E402
                         preserve_format)

clamp = clip
true_divide = divide = div
multiply = mul
subtract = sub
negative = neg
power = pow


def get_backend():
    """The backend new tensors are created on."""
    return _current_backend()


def save(obj, path, format: str | None = None) -> None:
    """Save a (nested) dict of tensors/arrays as ``.npz`` or, with ``format="safetensors"``
    (or a ``.safetensors`` path), as safetensors; see ``autodiff.serialization``."""
    from .serialization import save as _save
    _save(obj, path, format=format)


def load(path):
    """Read what :func:`save` wrote (npz or safetensors); see ``autodiff.serialization``."""
    from .serialization import load as _load
    return _load(path)


__version__ = "0.1.0"


#: subpackages loaded on first attribute access (``ad.nn.Linear``): nn and optim import
#: autodiff themselves, utils.data brings the data loaders
_LAZY_SUBMODULES = ("nn", "optim", "utils")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
