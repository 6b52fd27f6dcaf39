"""API cases for the shape and structure ops of the PyTorch port: roll, tril/triu, diagonal,
diag, diag_embed, meshgrid, Tensor.unfold, unflatten, einsum's ellipsis/list/sublist forms,
F.pad with negative widths in every mode, and the stacking/splitting/flipping family. Each
reference is NumPy's own routine or the definition written out."""
from __future__ import annotations

import warnings

import numpy as np

import autodiff as ad
from api_table import Case, U
from autodiff.nn import functional as F


def _diag_embed(x, offset=0, dim1=-2, dim2=-1):
    """out[..., i, i + offset] = x[..., i] in the (dim1, dim2) planes, written out."""
    n, k = x.shape[-1], abs(offset)
    out = np.zeros(x.shape[:-1] + (n + k, n + k))
    for i in range(n):
        out[..., i + max(-offset, 0), i + max(offset, 0)] = x[..., i]
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


def _unfold(x, dim, size, step):
    dim %= x.ndim
    w = np.lib.stride_tricks.sliding_window_view(x, size, axis=dim)
    return np.take(w, np.arange(0, w.shape[dim], step), axis=dim)


def _np_pad(x, pad, mode):
    """F.pad's widths (last dim first) with NumPy: 'constant' and 'circular' crop, then pad
    ('constant'/'wrap'); 'reflect' and 'replicate' pad ('reflect'/'edge'), then crop."""
    widths = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        widths[-1 - k] = (pad[2 * k], pad[2 * k + 1])
    pos = [(max(a, 0), max(b, 0)) for a, b in widths]
    npmode = {"constant": "constant", "circular": "wrap", "reflect": "reflect",
              "replicate": "edge"}[mode]

    def crop(y):
        return y[tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(widths, y.shape))]
    if mode in ("constant", "circular"):
        return np.pad(crop(x), pos, mode=npmode)
    return crop(np.pad(x, pos, mode=npmode))


def _meshgrid(indexing):
    def fn(a, b, c):
        return ad.meshgrid(a, b, c, indexing=indexing)
    return fn


def _quiet_meshgrid(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ad.meshgrid([a, b])


def _block_diag(*blocks):
    blocks = [np.atleast_2d(b) for b in blocks]
    out = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)))
    r = c = 0
    for b in blocks:
        out[r:r + b.shape[0], c:c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    return out


_PADS = [("constant", (-1, 2), U(1, 2, 6)), ("reflect", (-4, 3), U(1, 2, 6)),
         ("reflect", (3, -4, -1, 1), U(1, 3, 6)), ("replicate", (2, -3), U(1, 2, 5)),
         ("replicate", (-1, -1, 2, -1), U(1, 1, 4, 4)), ("circular", (2, -1), U(1, 2, 6)),
         ("circular", (-3, 3, 1, -2), U(1, 1, 4, 6)), ("constant", (1, -2, -1, 0), U(1, 3, 4))]

CASES = [
    # roll
    Case("roll", lambda x: ad.roll(x, (1, -2), (0, 2)), lambda x: np.roll(x, (1, -2), (0, 2)),
         (U(2, 3, 4),), torch_fn=lambda torch, x: torch.roll(x, (1, -2), (0, 2)), tag="dims"),
    Case("roll", lambda x: ad.roll(x, 5), lambda x: np.roll(x, 5), (U(2, 3),),
         torch_fn=lambda torch, x: torch.roll(x, 5), tag="flat"),
    Case("Tensor.roll", lambda x: x.roll(-1, 1), lambda x: np.roll(x, -1, 1), (U(2, 3),),
         torch_fn=lambda torch, x: x.roll(-1, 1)),
    # triangles and diagonals
    Case("tril", lambda x: ad.tril(x, 1), lambda x: np.tril(x, 1), (U(2, 3, 4),),
         torch_fn=lambda torch, x: torch.tril(x, 1)),
    Case("triu", lambda x: ad.triu(x, diagonal=-1), lambda x: np.triu(x, -1), (U(2, 4, 3),),
         torch_fn=lambda torch, x: torch.triu(x, diagonal=-1)),
    Case("Tensor.tril", lambda x: x.tril(), np.tril, (U(3, 3),),
         torch_fn=lambda torch, x: x.tril()),
    Case("diagonal", lambda x: ad.diagonal(x, 1, 2, 0), lambda x: np.diagonal(x, 1, 2, 0),
         (U(3, 2, 4),), torch_fn=lambda torch, x: torch.diagonal(x, 1, 2, 0)),
    Case("diagonal", lambda x: ad.diagonal(x, offset=-1), lambda x: np.diagonal(x, -1),
         (U(3, 4),), torch_fn=lambda torch, x: torch.diagonal(x, offset=-1), tag="neg"),
    Case("Tensor.diagonal", lambda x: x.diagonal(0, -2, -1),
         lambda x: np.diagonal(x, 0, -2, -1), (U(2, 3, 3),),
         torch_fn=lambda torch, x: x.diagonal(0, -2, -1)),
    Case("diag", lambda x: ad.diag(x, 1), lambda x: np.diag(x, 1), (U(3),),
         torch_fn=lambda torch, x: torch.diag(x, 1), tag="1d"),
    Case("diag", lambda x: ad.diag(x, diagonal=-1), lambda x: np.diag(x, -1), (U(3, 4),),
         torch_fn=lambda torch, x: torch.diag(x, diagonal=-1), tag="2d"),
    Case("diag_embed", lambda x: ad.diag_embed(x), _diag_embed, (U(2, 3),),
         torch_fn=lambda torch, x: torch.diag_embed(x)),
    Case("diag_embed", lambda x: ad.diag_embed(x, -1, 0, 2),
         lambda x: _diag_embed(x, -1, 0, 2), (U(2, 3),),
         torch_fn=lambda torch, x: torch.diag_embed(x, -1, 0, 2), tag="offset_dims"),
    Case("trace", ad.trace, np.trace, (U(3, 4),), torch_fn=lambda torch, x: torch.trace(x)),
    Case("block_diag", lambda a, b, c: ad.block_diag(a, b, c), _block_diag,
         (U(2, 3), U(3, seed=1), U(seed=2)),
         torch_fn=lambda torch, a, b, c: torch.block_diag(a, b, c)),
    # grids, windows, unflatten
    Case("meshgrid", _meshgrid("ij"), lambda a, b, c: np.meshgrid(a, b, c, indexing="ij"),
         (U(2), U(3, seed=1), U(4, seed=2)),
         torch_fn=lambda torch, a, b, c: torch.meshgrid(a, b, c, indexing="ij"), tag="ij"),
    Case("meshgrid", _meshgrid("xy"), lambda a, b, c: np.meshgrid(a, b, c, indexing="xy"),
         (U(2), U(3, seed=1), U(4, seed=2)),
         torch_fn=lambda torch, a, b, c: torch.meshgrid(a, b, c, indexing="xy"), tag="xy"),
    Case("meshgrid", _quiet_meshgrid, lambda a, b: np.meshgrid(a, b, indexing="ij"),
         (U(2), U(3, seed=1)), tag="default_ij_list"),
    Case("Tensor.unfold", lambda x: x.unfold(1, 3, 2), lambda x: _unfold(x, 1, 3, 2),
         (U(2, 7, 3),), torch_fn=lambda torch, x: x.unfold(1, 3, 2)),
    Case("Tensor.unfold", lambda x: x.unfold(-1, 2, 3), lambda x: _unfold(x, -1, 2, 3),
         (U(3, 8),), torch_fn=lambda torch, x: x.unfold(-1, 2, 3), tag="gap"),
    Case("unflatten", lambda x: ad.unflatten(x, 1, (2, -1)), lambda x: x.reshape(3, 2, 3, 2),
         (U(3, 6, 2),), torch_fn=lambda torch, x: torch.unflatten(x, 1, (2, -1))),
    Case("Tensor.unflatten", lambda x: x.unflatten(-1, (3, 2)), lambda x: x.reshape(2, 3, 2),
         (U(2, 6),), torch_fn=lambda torch, x: x.unflatten(-1, (3, 2))),
    Case("nn.Unflatten", lambda x: ad.nn.Unflatten(1, (2, 2))(x), lambda x: x.reshape(3, 2, 2),
         (U(3, 4),), torch_fn=lambda torch, x: torch.nn.Unflatten(1, (2, 2))(x)),
    # einsum
    Case("einsum", lambda a, b: ad.einsum("...ij,...jk", a, b),
         lambda a, b: np.einsum("...ij,...jk", a, b), (U(2, 1, 3, 4), U(5, 4, 2, seed=1)),
         torch_fn=lambda torch, a, b: torch.einsum("...ij,...jk", a, b), tag="ellipsis"),
    Case("einsum", lambda x: ad.einsum("i...i->...", x),
         lambda x: np.einsum("i...i->...", x), (U(3, 2, 3),),
         torch_fn=lambda torch, x: torch.einsum("i...i->...", x), tag="ellipsis_diagonal"),
    Case("einsum", lambda a, b: ad.einsum("bij,bjk->bik", [a, b]),
         lambda a, b: a @ b, (U(2, 3, 4), U(2, 4, 2, seed=1)),
         torch_fn=lambda torch, a, b: torch.einsum("bij,bjk->bik", [a, b]), tag="list"),
    Case("einsum", lambda a, b: ad.einsum(a, [0, 1], b, [1, 2], [0, 2]), lambda a, b: a @ b,
         (U(2, 3), U(3, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]),
         tag="sublist"),
    Case("einsum", lambda a, b: ad.einsum("ij,jk", a, b),
         lambda a, b: np.broadcast_to(a, (2, 3)) @ b, (U(2, 1), U(3, 4, seed=1)), torch_fn=lambda torch, a, b: torch.einsum("ij,jk", a, b),
         tag="size1_broadcast"),
    # F.pad with negative widths in every mode
    *[Case("F.pad", lambda x, p=p, m=m: F.pad(x, p, mode=m),
           lambda x, p=p, m=m: _np_pad(x, p, m), (x,),
           torch_fn=lambda torch, x, p=p, m=m: torch.nn.functional.pad(x, p, mode=m),
           tag=f"{m}{p}") for m, p, x in _PADS],
    Case("pad", lambda x: ad.pad(x, ((-1, 2), (1, -1)), mode="reflect"),
         lambda x: np.pad(x, ((0, 2), (1, 0)), mode="reflect")[1:, :-1], (U(4, 3),),
         tag="reflect_numpy_widths"),
    # move, swap, flatten
    Case("movedim", lambda x: ad.movedim(x, (0, 1), (2, 0)),
         lambda x: np.moveaxis(x, (0, 1), (2, 0)), (U(2, 3, 4),),
         torch_fn=lambda torch, x: torch.movedim(x, (0, 1), (2, 0))),
    Case("moveaxis", lambda x: ad.moveaxis(x, -1, 0), lambda x: np.moveaxis(x, -1, 0),
         (U(2, 3, 4),), torch_fn=lambda torch, x: torch.moveaxis(x, -1, 0)),
    Case("swapdims", lambda x: ad.swapdims(x, 0, 2), lambda x: np.swapaxes(x, 0, 2),
         (U(2, 3, 4),), torch_fn=lambda torch, x: torch.swapdims(x, 0, 2)),
    Case("flatten", lambda x: ad.flatten(x, 1, 2), lambda x: x.reshape(2, 12, 5),
         (U(2, 3, 4, 5),), torch_fn=lambda torch, x: torch.flatten(x, 1, 2)),
    # stacking, splitting
    Case("hstack", lambda a, b: ad.hstack([a, b]), lambda a, b: np.hstack([a, b]),
         (U(2, 3), U(2, 1, seed=1)), torch_fn=lambda torch, a, b: torch.hstack([a, b])),
    Case("hstack", lambda a, b: ad.hstack((a, b)), lambda a, b: np.hstack([a, b]),
         (U(3), U(2, seed=1)), torch_fn=lambda torch, a, b: torch.hstack((a, b)), tag="1d"),
    Case("vstack", lambda a, b: ad.vstack([a, b]), lambda a, b: np.vstack([a, b]),
         (U(3), U(2, 3, seed=1)), torch_fn=lambda torch, a, b: torch.vstack([a, b])),
    Case("row_stack", lambda a, b: ad.row_stack([a, b]), lambda a, b: np.vstack([a, b]),
         (U(3), U(3, seed=1)), torch_fn=lambda torch, a, b: torch.vstack([a, b])),
    Case("dstack", lambda a, b: ad.dstack([a, b]), lambda a, b: np.dstack([a, b]),
         (U(2, 3), U(2, 3, 2, seed=1)), torch_fn=lambda torch, a, b: torch.dstack([a, b])),
    Case("column_stack", lambda a, b, c: ad.column_stack([a, b, c]),
         lambda a, b, c: np.column_stack([a, b, c]), (U(3), U(3, 2, seed=1), U(3, seed=2)),
         torch_fn=lambda torch, a, b, c: torch.column_stack([a, b, c])),
    Case("atleast_1d", ad.atleast_1d, np.atleast_1d, (U(),),
         torch_fn=lambda torch, x: torch.atleast_1d(x)),
    Case("atleast_2d", lambda a, b: ad.atleast_2d(a, b), lambda a, b: np.atleast_2d(a, b),
         (U(), U(3, seed=1)), torch_fn=lambda torch, a, b: torch.atleast_2d(a, b)),
    Case("atleast_3d", lambda a, b, c: ad.atleast_3d([a, b, c]),
         lambda a, b, c: tuple(np.atleast_3d(a, b, c)), (U(3), U(2, 3, seed=1), U(seed=2)),
         torch_fn=lambda torch, a, b, c: torch.atleast_3d([a, b, c])),
    Case("tensor_split", lambda x: ad.tensor_split(x, 3, dim=1),
         lambda x: tuple(np.array_split(x, 3, axis=1)), (U(2, 7),),
         torch_fn=lambda torch, x: torch.tensor_split(x, 3, dim=1), tag="sections"),
    Case("tensor_split", lambda x: ad.tensor_split(x, [1, 4, 5]),
         lambda x: tuple(np.split(x, [1, 4, 5])), (U(6, 2),),
         torch_fn=lambda torch, x: torch.tensor_split(x, [1, 4, 5]), tag="indices"),
    # a split point past the end gives an empty piece (values only: gradcheck takes no empty
    # outputs)
    Case("tensor_split", lambda x: ad.tensor_split(x, [4, 9]),
         lambda x: tuple(np.split(x, [4, 9])), (U(6, 2),), grad=0,
         torch_fn=lambda torch, x: torch.tensor_split(x, [4, 9]), tag="past_end"),
    Case("Tensor.tensor_split", lambda x: x.tensor_split(ad.tensor([2]), -1),
         lambda x: tuple(np.split(x, [2], axis=-1)), (U(2, 5),),
         torch_fn=lambda torch, x: x.tensor_split(torch.tensor([2]), -1)),
    # flips and rotations
    Case("flip", lambda x: ad.flip(x, (0, 2)), lambda x: np.flip(x, (0, 2)), (U(2, 3, 2),),
         torch_fn=lambda torch, x: torch.flip(x, (0, 2))),
    Case("fliplr", ad.fliplr, np.fliplr, (U(2, 3),), torch_fn=lambda torch, x: torch.fliplr(x)),
    Case("flipud", ad.flipud, np.flipud, (U(3, 2),), torch_fn=lambda torch, x: torch.flipud(x)),
    *[Case("rot90", lambda x, k=k: ad.rot90(x, k, (1, 2)),
           lambda x, k=k: np.rot90(x, k, (1, 2)), (U(2, 3, 4),),
           torch_fn=lambda torch, x, k=k: torch.rot90(x, k, (1, 2)), tag=f"k{k}")
      for k in (1, 2, 3, -1)],
    # squeeze, expand, repeat, tile, broadcast
    Case("squeeze", lambda x: ad.squeeze(x, (0, 2, 3)), lambda x: x.reshape(3, 2),
         (U(1, 3, 1, 2),), torch_fn=lambda torch, x: torch.squeeze(x, (0, 2, 3))),
    Case("Tensor.expand", lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
         (U(3, 1),), torch_fn=lambda torch, x: x.expand(2, -1, 4)),
    Case("Tensor.repeat", lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)),
         (U(2, 3),), torch_fn=lambda torch, x: x.repeat(2, 1, 3)),
    Case("tile", lambda x: ad.tile(x, (2,)), lambda x: np.tile(x, (1, 2)), (U(2, 3),),
         torch_fn=lambda torch, x: torch.tile(x, (2,))),
    Case("broadcast_tensors", lambda a, b: ad.broadcast_tensors(a, b),
         lambda a, b: tuple(np.broadcast_arrays(a, b)), (U(3, 1), U(2, 1, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.broadcast_tensors(a, b)),
]
