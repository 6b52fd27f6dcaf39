"""Shape primitives (reshape, permute, broadcast/sum_to, concatenate, pad, cast, device move),
each registered beside its rule, and the composites built on them and on indexing (squeeze,
flatten, stack, tile, split, take...)."""
from __future__ import annotations

import numpy

from .. import backends
from ..backends import get_array_module
from ..tape import record
from ..tensor import Tensor, make
from ._util import as_t, astype as _astype, norm_axis, norm_dim
from .index import getitem
from .registry import SAME, SHAPE_ATTR, primitive


# ----------------------------------------------------------------------------- reshape
def reshape(x, *shape) -> Tensor:
    x = as_t(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        out = x.array.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.array.size} elements) into shape {tuple(shape)}") from None
    return record(RESHAPE, out, (x,), attrs=out.shape)


def _reshape_bw(ctx, g):
    return (reshape(g, ctx.in_meta[0][0]),)


def _reshape_fw(x, shape):
    return x.reshape(shape)


RESHAPE = primitive("reshape", _reshape_bw, forward=_reshape_fw, inputs="x", attrs="shape",
                    infer=SHAPE_ATTR)

view = reshape


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = as_t(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    shape = x.shape[:s] + (-1,) + x.shape[e + 1:]
    if x.array.size == 0:
        shape = x.shape[:s] + (int(numpy.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return reshape(x, shape)


def squeeze(x, dim=None) -> Tensor:
    x = as_t(x)
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = norm_axis(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1))
    return reshape(x, shape)


def unsqueeze(x, dim: int) -> Tensor:
    x = as_t(x)
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise ValueError(f"unsqueeze: dimension {dim} is out of range for a result of {nd} dims")
    dim %= nd
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


# ----------------------------------------------------------------------------- permute
def permute(x, *dims) -> Tensor:
    x = as_t(x)
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: {tuple(dims)} is not a permutation of the {x.ndim} dims of "
                         f"a tensor of shape {x.shape}")
    dims = tuple(d % x.ndim for d in dims)
    return record(PERMUTE, _permute_fw(x.array, dims), (x,), attrs=dims)


def _permute_fw(x, dims):
    return x.transpose(dims)


def _permute_bw(ctx, g):
    return (permute(g, tuple(numpy.argsort(ctx.attrs))),)


def _permute_infer(in_meta, dims):
    (shape, dtype), = in_meta
    return ((tuple(shape[d] for d in dims), dtype),)


PERMUTE = primitive("permute", _permute_bw, forward=_permute_fw, inputs="x", attrs="dims",
                    infer=_permute_infer)


def transpose(x, *axes) -> Tensor:
    """PyTorch's ``transpose(dim0, dim1)`` swaps two dims; with no dims it reverses them all
    (NumPy's ``.T``); with one tuple it permutes."""
    x = as_t(x)
    if len(axes) == 2 and all(isinstance(a, int) for a in axes):
        return swapaxes(x, *axes)
    if len(axes) == 0:
        return permute(x, tuple(range(x.ndim))[::-1])
    return permute(x, *axes)


def swapaxes(x, axis1: int, axis2: int) -> Tensor:
    x = as_t(x)
    dims = list(range(x.ndim))
    try:
        dims[axis1], dims[axis2] = dims[axis2], dims[axis1]
    except IndexError:
        raise ValueError(f"swapaxes: dims ({axis1}, {axis2}) out of range for shape "
                         f"{x.shape}") from None
    return permute(x, dims)


swapdims = swapaxes


def movedim(x, source, destination) -> Tensor:
    """PyTorch's ``movedim``/``moveaxis``: the dims ``source`` (an int or a sequence) move to
    positions ``destination``; the others keep their order."""
    x = as_t(x)
    src = norm_dims(source, x.ndim, "movedim")
    dst = norm_dims(destination, x.ndim, "movedim")
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must have "
                         f"the same number of dims")
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {source} or destination "
                         f"{destination}")
    rest = iter(d for d in range(x.ndim) if d not in src)
    where_from = dict(zip(dst, src))
    return permute(x, [where_from[i] if i in where_from else next(rest)
                       for i in range(x.ndim)])


moveaxis = movedim


def norm_dims(dims, ndim: int, op: str) -> list[int]:
    """An int or a sequence of dims, each made non-negative by ``norm_dim`` (PyTorch's range
    rule and IndexError), in the given order."""
    dims = list(dims) if isinstance(dims, (tuple, list)) else [dims]
    return [norm_dim(d, ndim, op) for d in dims]


# ----------------------------------------------------------------------------- broadcast
def broadcast_to(x, shape) -> Tensor:
    x = as_t(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    try:
        out = _broadcast_fw(x.array, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None
    return record(BROADCAST_TO, out, (x,), attrs=shape)


def _broadcast_fw(x, shape):
    return get_array_module(x).broadcast_to(x, shape)


def _broadcast_bw(ctx, g):
    return (sum_to(g, ctx.in_meta[0][0]),)


BROADCAST_TO = primitive("broadcast_to", _broadcast_bw, forward=_broadcast_fw, inputs="x",
                         attrs="shape", infer=SHAPE_ATTR)


def expand(x, *sizes) -> Tensor:
    """PyTorch's ``expand``: -1 keeps a dimension's size."""
    x = as_t(x)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {sizes}")
    if any(s == -1 for s in sizes[:lead]):
        raise ValueError(f"expand: the size -1 is not allowed in a new leading dimension "
                         f"(expanding shape {x.shape} to {tuple(sizes)})")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def sum_to(x, shape) -> Tensor:
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting): the engine's unbroadcast."""
    x = as_t(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return record(SUM_TO, _sum_to_fw(x.array, shape), (x,), attrs=shape)


def _sum_to_fw(x, shape):
    lead = x.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != xs for s, xs in zip(shape, x.shape[lead:])):
        raise ValueError(f"sum_to: shape {x.shape} cannot be reduced to {shape}")
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and x.shape[i + lead] != 1)
    return backends.kernels_for(x).sum_to(x, shape, axes)


def _sum_to_bw(ctx, g):
    return (broadcast_to(g, ctx.in_meta[0][0]),)


SUM_TO = primitive("sum_to", _sum_to_bw, forward=_sum_to_fw, inputs="x", attrs="shape",
                   infer=SHAPE_ATTR)


# ----------------------------------------------------------------------------- dtype / device
# the cast (astype) lives in _util, beside the type promotion that applies it
astype = _astype


def to_device(x, device: str) -> Tensor:
    """Copy to 'cpu' or 'cuda' (differentiable)."""
    x = as_t(x)
    out = backends.to_device(x.array, device)
    if out is x.array:
        return x
    return record(TO_DEVICE, out, (x,), attrs=(x.device, device))


def _to_device_fw(x, source, target):
    return backends.to_device(x, target)


def _to_device_bw(ctx, g):
    return (to_device(g, ctx.attrs[0]),)


TO_DEVICE = primitive("to_device", _to_device_bw, forward=_to_device_fw, inputs="x",
                      attrs=("source", "target"), elementwise=True, infer=SAME)


# ----------------------------------------------------------------------------- join / pad
def cat(tensors, dim: int = 0, axis: int | None = None) -> Tensor:
    """Concatenate along ``dim`` (alias ``axis``)."""
    if axis is not None:
        dim = axis
    tensors = [as_t(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    nd = tensors[0].ndim
    if nd == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    d = dim % nd
    for t in tensors:
        if t.ndim != nd or t.shape[:d] + t.shape[d + 1:] != tensors[0].shape[:d] + \
                tensors[0].shape[d + 1:]:
            raise ValueError(f"cat: shapes {[x.shape for x in tensors]} do not match except "
                             f"in dimension {dim}")
    xp = tensors[0].xp
    if any(t.xp is not xp for t in tensors):
        raise TypeError(f"cat: tensors live on different devices "
                        f"({', '.join(sorted({t.device for t in tensors}))}); move them with .to()")
    sizes = [t.shape[d] for t in tensors]
    return record(CAT, _cat_fw([t.array for t in tensors], d, sizes), tuple(tensors),
                  attrs=(d, sizes))


def _cat_fw(arrays, dim, sizes):
    dt = numpy.result_type(*[a.dtype for a in arrays])
    return get_array_module(*arrays).concatenate([a.astype(dt, copy=False) for a in arrays],
                                                 axis=dim)


def _cat_bw(ctx, g):
    d, sizes = ctx.attrs
    out, start = [], 0
    for n, need in zip(sizes, ctx.needs_input_grad):
        if need:
            out.append(getitem(g, (slice(None),) * d + (slice(start, start + n),)))
        else:
            out.append(None)
        start += n
    return tuple(out)


def _cat_infer(in_meta, dim, sizes):
    shape = list(in_meta[0][0])
    shape[dim] = sum(sizes)
    return ((tuple(shape), numpy.result_type(*[d for _, d in in_meta])),)


CAT = primitive("cat", _cat_bw, forward=_cat_fw, inputs="*tensors", attrs=("dim", "sizes"),
                infer=_cat_infer)

concatenate = cat


def stack(tensors, dim: int = 0, axis: int | None = None) -> Tensor:
    if axis is not None:
        dim = axis
    tensors = [as_t(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(f"stack: all tensors must have the same shape, got "
                         f"{[t.shape for t in tensors]}")
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """PyTorch's ``split``: chunks of a given size, or a list of section sizes."""
    x = as_t(x)
    n = x.shape[dim]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split size must be positive, got {step}")
        sizes = [min(step, n - s) for s in range(0, n, step)]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} do not sum to dimension {dim} of "
                             f"shape {x.shape}")
    d = dim % x.ndim
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    x = as_t(x)
    n = x.shape[dim]
    return split(x, -(-n // chunks), dim)


def unbind(x, dim: int = 0) -> tuple:
    x = as_t(x)
    d = dim % x.ndim
    return tuple(getitem(x, (slice(None),) * d + (i,)) for i in range(x.shape[d]))


def tile(x, reps) -> Tensor:
    """NumPy's ``tile`` (PyTorch's ``repeat``), built from reshape + broadcast_to."""
    x = as_t(x)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    nd = max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + x.shape
    inter = tuple(v for r, s in zip(reps, shape) for v in (1, s))
    big = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    return reshape(broadcast_to(reshape(x, inter), big),
                   tuple(r * s for r, s in zip(reps, shape)))


def repeat(x, *sizes) -> Tensor:
    """PyTorch's ``Tensor.repeat`` (= NumPy ``tile``)."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    x = as_t(x)
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} repeat counts for a tensor of {x.ndim} dims")
    return tile(x, sizes)


def repeat_interleave(x, repeats: int, dim: int | None = None) -> Tensor:
    x = as_t(x)
    if dim is None:
        x, dim = reshape(x, (-1,)), 0
    idx = numpy.repeat(numpy.arange(x.shape[dim]), repeats)
    return getitem(x, (slice(None),) * (dim % x.ndim) + (idx,))


def pad(x, pad_width, mode: str = "constant", value: float = 0.0) -> Tensor:
    """NumPy's ``pad_width`` (an int, a (before, after) pair, or one pair per dim) with
    PyTorch's modes: 'constant' (``value``), 'reflect' (mirror without repeating the edge),
    'replicate' (repeat the edge), 'circular' (wrap around). A negative width crops, as in
    PyTorch: in 'constant' and 'circular' mode the crop comes first (the wrap reads the cropped
    tensor); in 'reflect' and 'replicate' mode each output index maps into the whole input."""
    x = as_t(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    try:
        pw = numpy.broadcast_to(numpy.asarray(pad_width, dtype=numpy.int64), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width} does not fit a tensor of shape "
                         f"{x.shape}") from None
    pw = [(int(a), int(b)) for a, b in pw]
    if mode in ("constant", "circular") and any(a < 0 or b < 0 for a, b in pw):
        for d, ((a, b), n) in enumerate(zip(pw, x.shape)):
            if n + min(a, 0) + min(b, 0) < 0:
                raise ValueError(f"pad: widths {(a, b)} crop more than dimension {d} of size "
                                 f"{n} (input shape {x.shape})")
        x = getitem(x, tuple(slice(-min(a, 0), n + min(b, 0)) for (a, b), n in zip(pw, x.shape)))
        pw = [(max(a, 0), max(b, 0)) for a, b in pw]
    if mode == "constant":
        if all(a == 0 and b == 0 for a, b in pw):
            return x
        return record(PAD, _pad_fw(x.array, tuple(pw), value), (x,), attrs=(tuple(pw), value))
    out = x
    for d, (a, b) in enumerate(pw):
        if a != 0 or b != 0:
            out = getitem(out, (slice(None),) * d + (_pad_index(x.shape, d, a, b, mode),))
    return out


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(shape: tuple, d: int, a: int, b: int, mode: str):
    """Which input index along dim ``d`` (of size n) each output index of a (a, b)-padded
    dimension reads: output i reads input i - a, mirrored, clipped or wrapped into [0, n)."""
    n = shape[d]
    if n + a + b <= 0 and mode != "circular":
        raise ValueError(f"pad: widths {(a, b)} leave nothing of dimension {d} of size {n} "
                         f"(input shape {shape})")
    if mode == "reflect" and (a >= n or b >= n):
        raise ValueError(f"pad: reflect padding {(a, b)} must be smaller than dimension {d} of "
                         f"size {n} (input shape {shape})")
    if mode == "circular" and (a > n or b > n):
        raise ValueError(f"pad: circular padding {(a, b)} wraps around dimension {d} of size "
                         f"{n} more than once (input shape {shape} after any cropping)")
    if mode == "replicate" and n == 0:
        raise ValueError(f"pad: cannot replicate the edge of the empty dimension {d} "
                         f"(input shape {shape})")
    idx = numpy.arange(-a, n + b)
    if mode == "reflect":
        idx = numpy.abs(idx)
        return numpy.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    if mode == "replicate":
        return numpy.clip(idx, 0, n - 1)
    return idx % n


def _pad_fw(x, pad_width, value):
    return get_array_module(x).pad(x, pad_width, mode="constant", constant_values=value)


def _pad_bw(ctx, g):
    pw = ctx.attrs[0]
    return (getitem(g, tuple(slice(a, g.shape[i] - b) for i, (a, b) in enumerate(pw))),)


def _pad_infer(in_meta, pad_width, value):
    (shape, dtype), = in_meta
    return ((tuple(s + a + b for s, (a, b) in zip(shape, pad_width)), dtype),)


PAD = primitive("pad", _pad_bw, forward=_pad_fw, inputs="x", attrs=("pad_width", "value"),
                infer=_pad_infer)


def flip(x, dims) -> Tensor:
    x = as_t(x)
    axes = norm_axis(dims, x.ndim, "flip")
    return record(FLIP, _flip_fw(x.array, axes), (x,), attrs=axes)


def _flip_fw(x, dims):
    return get_array_module(x).flip(x, dims)


def _flip_bw(ctx, g):
    return (flip(g, ctx.attrs),)


FLIP = primitive("flip", _flip_bw, forward=_flip_fw, inputs="x", attrs="dims", infer=SAME)


def fliplr(x) -> Tensor:
    x = as_t(x)
    if x.ndim < 2:
        raise ValueError(f"fliplr: the input must have at least 2 dims, got shape {x.shape}")
    return flip(x, 1)


def flipud(x) -> Tensor:
    x = as_t(x)
    if x.ndim < 1:
        raise ValueError("flipud: the input must have at least 1 dim, got a 0-d tensor")
    return flip(x, 0)


def roll(input, shifts, dims=None) -> Tensor:  # noqa: A002
    """PyTorch's ``roll``: element i moves to i + shift along each dim (wrapping around);
    without ``dims`` the flattened tensor rolls and keeps its shape."""
    x = as_t(input)
    shifts = [shifts] if isinstance(shifts, int) else [int(s) for s in shifts]
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: without dims, shifts must be one int, got {shifts}")
        return reshape(roll(reshape(x, (-1,)), shifts, 0), x.shape)
    dims = norm_dims(dims, x.ndim, "roll")
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    for s, d in zip(shifts, dims):
        n = x.shape[d] if x.ndim else 1
        if n == 0 or s % n == 0:
            continue
        s %= n
        pre = (slice(None),) * d
        x = cat([getitem(x, pre + (slice(n - s, n),)), getitem(x, pre + (slice(0, n - s),))], d)
    return x


def rot90(x, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times in the plane of ``dims``, from the first dim towards
    the second (PyTorch's and NumPy's direction)."""
    x = as_t(x)
    if len(dims) != 2:
        raise ValueError(f"rot90: dims must name 2 dims, got {dims}")
    d0, d1 = norm_dims(dims, x.ndim, "rot90")
    if x.ndim < 2 or d0 == d1:
        raise ValueError(f"rot90: needs two different dims of a tensor of at least 2 dims, "
                         f"got dims {tuple(dims)} for shape {x.shape}")
    k %= 4
    if k == 1:
        return swapaxes(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return swapaxes(flip(x, d0), d0, d1)
    return x


def unflatten(input, dim: int, sizes) -> Tensor:  # noqa: A002
    """Split dimension ``dim`` into ``sizes`` (one entry may be -1)."""
    x = as_t(input)
    (d,) = norm_dims(dim, x.ndim, "unflatten")
    sizes = tuple(int(s) for s in sizes)
    known = int(numpy.prod([s for s in sizes if s != -1]))
    n = x.shape[d]
    if not sizes or sizes.count(-1) > 1 or (-1 not in sizes and known != n) or \
            (-1 in sizes and (known == 0 or n % known)):
        raise ValueError(f"unflatten: sizes {sizes} do not multiply up to dimension {dim} of "
                         f"size {n} (input shape {x.shape})")
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def unfold(x, dimension: int, size: int, step: int) -> Tensor:
    """PyTorch's ``Tensor.unfold``: every window of ``size`` elements along ``dimension``,
    ``step`` apart; the windows take that dimension's place and their elements form a new last
    dimension."""
    x = as_t(x)
    (d,) = norm_dims(dimension, x.ndim, "unfold")
    if x.ndim == 0:                 # PyTorch: a 0-d tensor unfolds to shape (size,)
        if size not in (0, 1):
            raise ValueError(f"unfold: size {size} must be 0 or 1 for a 0-d tensor")
        return getitem(reshape(x, (1,)), slice(0, size))
    n = x.shape[d]
    if size > n or size < 0:
        raise ValueError(f"unfold: size {size} must be in [0, {n}], the size of dimension "
                         f"{dimension} (input shape {x.shape})")
    if step <= 0:
        raise ValueError(f"unfold: step must be positive, got {step}")
    starts = numpy.arange((n - size) // step + 1) * step
    windows = getitem(x, (slice(None),) * d + (starts[:, None] + numpy.arange(size),))
    return movedim(windows, d + 1, -1)


def take(x, index) -> Tensor:
    """PyTorch's ``take``: index into the flattened tensor."""
    x = as_t(x)
    return getitem(reshape(x, (-1,)), (index.array if isinstance(index, Tensor) else
                                       x.xp.asarray(index)))
