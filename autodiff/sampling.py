"""Random sampling with PyTorch's signatures, drawn from autodiff's generators (so
``autodiff.manual_seed`` or a ``Generator`` passed as ``generator=`` governs them):
``multinomial``, ``normal``, ``bernoulli``, ``poisson`` and the in-place fillers bound as
Tensor methods (``uniform_``, ``normal_``, ``bernoulli_``, ``exponential_``, ``random_``,
``geometric_``, ``log_normal_``, ``cauchy_``).

Like PyTorch, ``normal``/``bernoulli``/``poisson`` of parameters that require grad return a
sample that requires grad with a zero gradient (samples are not reparameterised); the link is
a ``where`` that never selects the parameter, so the value is the sample exactly."""
from __future__ import annotations

import math

import numpy

from .dtypes import get_default_dtype, xp_for
from .grad_mode import STATE
from .ops._util import as_t
from .ops.elementwise import where
from .random import Generator, generator as _generator
from .tape import increment_version
from .tensor import Tensor, make


def _float_dtype(x: Tensor, op: str):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point tensor, got {x.dtype}")
    return x.dtype


def _sample_dtype(dtype):
    """NumPy/CuPy generators draw float32 or float64 only; other floats are cast after."""
    return numpy.float32 if numpy.dtype(dtype) == numpy.float32 else numpy.float64


def _link(sample, dtype, *params) -> Tensor:
    """``sample`` (an array) as a Tensor of ``dtype``, tied to every parameter that requires
    grad by a zero gradient (PyTorch's convention for non-reparameterised samplers)."""
    out = make(sample.astype(dtype, copy=False))
    if STATE.enabled:
        never = out.xp.zeros((), dtype=bool)
        for p in params:
            if isinstance(p, Tensor) and p.requires_grad:
                out = where(never, p, out)
    return out


# ----------------------------------------------------------------------------- multinomial
def multinomial(input, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Category indices drawn from the rows of ``input`` (non-negative weights, normalised
    per row): shape (num_samples,) for a 1-d input, (rows, num_samples) for a 2-d one. Without
    replacement each row's draws are distinct (sequential draws without replacement, as an
    exponential race: the smallest num_samples of Exp(1) / weight)."""
    x = as_t(input)
    if x.ndim not in (1, 2):
        raise ValueError(f"multinomial: the input must be 1-d or 2-d, got shape {x.shape}")
    _float_dtype(x, "multinomial")
    n = x.shape[-1]
    k = int(num_samples)
    if k <= 0 or n == 0:
        raise ValueError(f"multinomial: needs num_samples > 0 and at least one category, got "
                         f"num_samples={num_samples} for shape {x.shape}")
    w = x.array.reshape(-1, n).astype(numpy.float64)
    xp = x.xp
    if not bool(xp.isfinite(w).all()) or not bool((w >= 0).all()):
        raise RuntimeError("multinomial: the probability tensor contains inf, nan or an "
                           "element < 0")
    if not bool((w.sum(1) > 0).all()):
        raise RuntimeError("multinomial: invalid distribution (a row sums to 0)")
    rng = _generator(xp, generator)
    if not replacement:
        if k > n:
            raise ValueError(f"multinomial: cannot draw {k} samples without replacement from "
                             f"{n} categories")
        if int((w > 0).sum(1).min()) < k:
            raise RuntimeError(f"multinomial: a row has fewer than {k} categories of non-zero "
                               f"weight to draw without replacement")
        race = rng.standard_exponential(w.shape) / xp.where(w > 0, w, 1.0)
        idx = xp.argsort(xp.where(w > 0, race, xp.inf), axis=1)[:, :k]
    else:
        cdf = xp.cumsum(w, axis=1)
        u = rng.random((w.shape[0], k)) * cdf[:, -1:]
        # the first category whose cumulative weight exceeds u: zero weights never win
        idx = xp.stack([xp.searchsorted(c, v, side="right") for c, v in zip(cdf, u)])
        idx = xp.minimum(idx, n - 1)
    return make(idx.reshape(x.shape[:-1] + (k,)).astype(numpy.int64))


# ----------------------------------------------------------------------------- normal
def normal(mean=0.0, std=1.0, size=None, *, generator: Generator | None = None, dtype=None,
           device=None, requires_grad: bool = False, out=None) -> Tensor:
    """N(mean, std^2) samples. ``mean`` and/or ``std`` tensors (broadcast together) give the
    shape and dtype; with two floats, ``size`` does (default dtype and device unless
    given)."""
    if out is not None:
        raise NotImplementedError("normal: out= is not supported; use the returned tensor")
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if tensors:
        if size is not None:
            raise ValueError("normal: size is only taken with a float mean and std")
        m, s = (as_t(v) if isinstance(v, Tensor) else v for v in (mean, std))
        dt = numpy.result_type(*[_float_dtype(t, "normal") for t in tensors])
        shape = numpy.broadcast_shapes(*[t.shape for t in tensors])
        xp = tensors[0].xp
        mv = m.array if isinstance(m, Tensor) else m
        sv = s.array if isinstance(s, Tensor) else s
    else:
        if size is None:
            raise ValueError("normal: with a float mean and std, give the size")
        dt = numpy.dtype(dtype or get_default_dtype())
        shape = (size,) if isinstance(size, int) else tuple(size)
        xp, mv, sv, m, s = xp_for(device), float(mean), float(std), None, None
    if not bool(xp.all(xp.asarray(sv) >= 0)):
        raise RuntimeError(f"normal: expects all elements of std >= 0.0, got std "
                           f"{float(xp.asarray(sv).min())}")
    z = _generator(xp, generator).standard_normal(shape, dtype=_sample_dtype(dt))
    res = _link(mv + sv * z, dt, m, s)
    if requires_grad:
        res.requires_grad = True
    return res


# ----------------------------------------------------------------------------- bernoulli
def _probabilities(p, like: Tensor, op: str):
    """``p`` (a float or a tensor) as an array broadcast to ``like``, checked in [0, 1]."""
    a = p.array if isinstance(p, Tensor) else like.xp.asarray(float(p))
    if not bool(((a >= 0) & (a <= 1)).all()):
        raise RuntimeError(f"{op}: expects all probabilities in [0, 1], got "
                           f"{float(a.min())}..{float(a.max())}")
    try:
        return like.xp.broadcast_to(a, like.shape)
    except ValueError:
        raise ValueError(f"{op}: p of shape {a.shape} does not broadcast to the tensor's shape "
                         f"{like.shape}") from None


def _draw_bernoulli(p, shape, xp, generator):
    return _generator(xp, generator).random(shape) < p


def bernoulli(input, p: float | None = None, *, generator: Generator | None = None,
              out=None) -> Tensor:
    """1 with probability ``input`` (or with the float ``p`` in every position), else 0; the
    input's dtype and shape."""
    if out is not None:
        raise NotImplementedError("bernoulli: out= is not supported; use the returned tensor")
    x = as_t(input)
    dt = _float_dtype(x, "bernoulli")
    probs = _probabilities(x if p is None else p, x, "bernoulli")
    return _link(_draw_bernoulli(probs, x.shape, x.xp, generator), dt,
                 x if p is None else None)


# ----------------------------------------------------------------------------- poisson
def poisson(input, generator: Generator | None = None) -> Tensor:
    """Poisson counts with rates ``input`` (>= 0), in the input's dtype."""
    x = as_t(input)
    dt = _float_dtype(x, "poisson")
    lam = x.array.astype(numpy.float64)
    if not bool((lam >= 0).all()) or not bool(x.xp.isfinite(lam).all()):
        raise RuntimeError("poisson: rates must be finite and >= 0")
    return _link(_generator(x.xp, generator).poisson(lam), dt, x)


# ----------------------------------------------------------------------------- in-place fillers
def _fill(self: Tensor, values, op: str) -> Tensor:
    """Write ``values`` into ``self`` in place (PyTorch's rule: not on a leaf that requires
    grad while grad mode is on) and bump its version."""
    if STATE.enabled and self.requires_grad and self.grad_fn is None:
        raise RuntimeError(f"{op}: a leaf tensor that requires grad cannot be filled in place "
                           f"outside autodiff.no_grad()")
    data = self.array
    if isinstance(data, numpy.generic):     # a 0-d result is a NumPy scalar: make it writable
        data = self.array = numpy.array(data)
    data[...] = values
    increment_version(self)
    return self


def _floats(self: Tensor, op: str):
    if self.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating point tensor, got {self.dtype}")
    return _sample_dtype(self.dtype)


def uniform_(self, from_: float = 0.0, to: float = 1.0, *,
             generator: Generator | None = None) -> Tensor:
    """Fill with U(from, to) samples."""
    u = _generator(self.xp, generator).random(self.shape, dtype=_floats(self, "uniform_"))
    return _fill(self, from_ + (to - from_) * u, "uniform_")


def normal_(self, mean: float = 0.0, std: float = 1.0, *,
            generator: Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2) samples."""
    if std < 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, got {std}")
    z = _generator(self.xp, generator).standard_normal(self.shape,
                                                       dtype=_floats(self, "normal_"))
    return _fill(self, mean + std * z, "normal_")


def bernoulli_(self, p=0.5, *, generator: Generator | None = None) -> Tensor:
    """Fill with 1 (probability ``p``, a float or a tensor broadcast to ``self``) or 0."""
    probs = _probabilities(p, self, "bernoulli_")
    return _fill(self, _draw_bernoulli(probs, self.shape, self.xp, generator), "bernoulli_")


def exponential_(self, lambd: float = 1.0, *, generator: Generator | None = None) -> Tensor:
    """Fill with Exp(lambd) samples (mean 1 / lambd)."""
    if lambd <= 0:
        raise RuntimeError(f"exponential_: expects lambd > 0.0, got {lambd}")
    e = _generator(self.xp, generator).standard_exponential(
        self.shape, dtype=_floats(self, "exponential_"))
    return _fill(self, e / lambd, "exponential_")


def geometric_(self, p: float, *, generator: Generator | None = None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_: expects p in (0, 1), got {p}")
    return _fill(self, _generator(self.xp, generator).geometric(p, self.shape), "geometric_")


def log_normal_(self, mean: float = 1.0, std: float = 2.0, *,
                generator: Generator | None = None) -> Tensor:
    """Fill with exp(N(mean, std^2)) samples."""
    if std <= 0:
        raise RuntimeError(f"log_normal_: expects std > 0.0, got {std}")
    z = _generator(self.xp, generator).standard_normal(self.shape,
                                                       dtype=_floats(self, "log_normal_"))
    return _fill(self, self.xp.exp(mean + std * z), "log_normal_")


def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *,
            generator: Generator | None = None) -> Tensor:
    """Fill with Cauchy(median, sigma) samples: median + sigma * tan(pi (U - 1/2))."""
    if sigma <= 0:
        raise RuntimeError(f"cauchy_: expects sigma > 0.0, got {sigma}")
    u = _generator(self.xp, generator).random(self.shape, dtype=_floats(self, "cauchy_"))
    return _fill(self, median + sigma * self.xp.tan(math.pi * (u - 0.5)), "cauchy_")


def random_(self, from_: int = 0, to: int | None = None, *,
            generator: Generator | None = None) -> Tensor:
    """Fill with integers uniform in [from, to); ``random_(to)`` is [0, to); ``random_()`` is
    [0, 2^mantissa] for floats (every integer the dtype holds exactly) and [0, max] for
    integers."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        dt = self.dtype
        to = 2 ** (numpy.finfo(dt).nmant + 1) + 1 if dt.kind == "f" else \
            (2 if dt.kind == "b" else int(numpy.iinfo(dt).max) + 1)
    if from_ >= to:
        raise RuntimeError(f"random_: expects from < to, got from={from_} and to={to}")
    draws = _generator(self.xp, generator).integers(from_, to, self.shape)
    return _fill(self, draws, "random_")


def bernoulli_method(self, p: float | None = None, *,
                     generator: Generator | None = None) -> Tensor:
    """``Tensor.bernoulli``: :func:`bernoulli` of the tensor."""
    return bernoulli(self, p, generator=generator)


def multinomial_method(self, num_samples: int, replacement: bool = False, *,
                       generator: Generator | None = None) -> Tensor:
    return multinomial(self, num_samples, replacement, generator=generator)


METHODS = {"uniform_": uniform_, "normal_": normal_, "bernoulli_": bernoulli_,
           "exponential_": exponential_, "geometric_": geometric_, "log_normal_": log_normal_,
           "cauchy_": cauchy_, "random_": random_, "bernoulli": bernoulli_method,
           "multinomial": multinomial_method}

