"""API cases for the everyday Tensor methods and the BLAS-style products (``autodiff/tensor_api.py``,
``autodiff/ops/blas.py``): values against NumPy, first and second derivatives, and PyTorch."""
from __future__ import annotations

import numpy as np

import autodiff as ad
from api_table import Case, U

_BT = np.swapaxes


def _addmm_ref(beta, alpha):
    return lambda i, a, b: beta * i + alpha * (a @ b)


CASES = [
    # transposes
    Case("Tensor.t", lambda x: x.t(), lambda x: x.T, (U(2, 3),),
         torch_fn=lambda torch, x: x.t()),
    Case("Tensor.t", lambda x: x.t(), lambda x: x, (U(3),), tag="1d",
         torch_fn=lambda torch, x: x.t()),
    Case("Tensor.t_", lambda x: (x * 1).t_(), lambda x: x.T, (U(2, 3),),
         torch_fn=lambda torch, x: (x * 1).t_()),
    Case("Tensor.transpose_", lambda x: (x * 1).transpose_(0, 2),
         lambda x: np.swapaxes(x, 0, 2), (U(2, 3, 4),),
         torch_fn=lambda torch, x: (x * 1).transpose_(0, 2)),
    Case("Tensor.unsqueeze_", lambda x: (x * 1).unsqueeze_(1), lambda x: x[:, None],
         (U(2, 3),), torch_fn=lambda torch, x: (x * 1).unsqueeze_(1)),
    Case("Tensor.squeeze_", lambda x: (x * 1).squeeze_(), lambda x: x.reshape(2, 3),
         (U(2, 1, 3, 1),), torch_fn=lambda torch, x: (x * 1).squeeze_()),
    Case("Tensor.squeeze_", lambda x: (x * 1).squeeze_(1), lambda x: x.reshape(2, 3, 1),
         (U(2, 1, 3, 1),), tag="dim", torch_fn=lambda torch, x: (x * 1).squeeze_(1)),
    # the products, as functions and methods
    Case("mm", lambda a, b: ad.mm(a, b), lambda a, b: a @ b, (U(2, 3), U(3, 4, seed=1)),
         torch_fn=lambda torch, a, b: torch.mm(a, b)),
    Case("Tensor.mm", lambda a, b: a.mm(b), lambda a, b: a @ b, (U(2, 3), U(3, 4, seed=1)),
         torch_fn=lambda torch, a, b: a.mm(b)),
    Case("bmm", lambda a, b: ad.bmm(a, b), lambda a, b: a @ b,
         (U(2, 2, 3), U(2, 3, 4, seed=1)), torch_fn=lambda torch, a, b: torch.bmm(a, b)),
    Case("Tensor.bmm", lambda a, b: a.bmm(b), lambda a, b: np.einsum("bij,bjk->bik", a, b),
         (U(3, 2, 2), U(3, 2, 1, seed=1)), torch_fn=lambda torch, a, b: a.bmm(b)),
    Case("mv", lambda a, v: ad.mv(a, v), lambda a, v: a @ v, (U(2, 3), U(3, seed=1)),
         torch_fn=lambda torch, a, v: torch.mv(a, v)),
    Case("Tensor.mv", lambda a, v: a.mv(v), lambda a, v: (a * v).sum(1),
         (U(4, 3), U(3, seed=1)), torch_fn=lambda torch, a, v: a.mv(v)),
    Case("addmm", lambda i, a, b: ad.addmm(i, a, b), _addmm_ref(1, 1),
         (U(2, 4, seed=2), U(2, 3), U(3, 4, seed=1)),
         torch_fn=lambda torch, i, a, b: torch.addmm(i, a, b)),
    Case("addmm", lambda i, a, b: ad.addmm(i, a, b, beta=0.5, alpha=-2.0),
         _addmm_ref(0.5, -2.0), (U(4, seed=2), U(2, 3), U(3, 4, seed=1)), tag="beta_alpha",
         torch_fn=lambda torch, i, a, b: torch.addmm(i, a, b, beta=0.5, alpha=-2.0)),
    Case("addmm", lambda i, a, b: ad.addmm(i, a, b, beta=0), _addmm_ref(0, 1),
         (U(2, 1, seed=2), U(2, 3), U(3, 4, seed=1)), tag="beta0",
         torch_fn=lambda torch, i, a, b: torch.addmm(i, a, b, beta=0)),
    Case("Tensor.addmm", lambda i, a, b: i.addmm(a, b, alpha=3), _addmm_ref(1, 3),
         (U(2, 4, seed=2), U(2, 3), U(3, 4, seed=1)),
         torch_fn=lambda torch, i, a, b: i.addmm(a, b, alpha=3)),
    Case("baddbmm", lambda i, a, b: ad.baddbmm(i, a, b, beta=2.0, alpha=0.5),
         lambda i, a, b: 2.0 * i + 0.5 * np.einsum("bij,bjk->bik", a, b),
         (U(1, 2, 4, seed=2), U(3, 2, 3), U(3, 3, 4, seed=1)),
         torch_fn=lambda torch, i, a, b: torch.baddbmm(i, a, b, beta=2.0, alpha=0.5)),
    Case("Tensor.baddbmm", lambda i, a, b: i.baddbmm(a, b),
         lambda i, a, b: i + np.einsum("bij,bjk->bik", a, b),
         (U(3, 2, 4, seed=2), U(3, 2, 3), U(3, 3, 4, seed=1)),
         torch_fn=lambda torch, i, a, b: i.baddbmm(a, b)),
    Case("addmv", lambda i, a, v: ad.addmv(i, a, v, beta=-1.0, alpha=2.0),
         lambda i, a, v: -i + 2.0 * (a @ v), (U(2, seed=2), U(2, 3), U(3, seed=1)),
         torch_fn=lambda torch, i, a, v: torch.addmv(i, a, v, beta=-1.0, alpha=2.0)),
    Case("Tensor.addmv", lambda i, a, v: i.addmv(a, v), lambda i, a, v: i + a @ v,
         (U(1, seed=2), U(2, 3), U(3, seed=1)),
         torch_fn=lambda torch, i, a, v: i.addmv(a, v)),
    # layout, views and casts
    Case("Tensor.contiguous", lambda x: x.t().contiguous() * 2, lambda x: x.T * 2, (U(2, 3),),
         torch_fn=lambda torch, x: x.t().contiguous() * 2),
    Case("Tensor.clone", lambda x: x.clone(memory_format=ad.preserve_format), lambda x: x,
         (U(2, 3),), torch_fn=lambda torch, x: x.clone(memory_format=torch.preserve_format)),
    Case("Tensor.view_as", lambda x, y: x.view_as(y), lambda x, y: x.reshape(3, 2),
         (U(6), U(3, 2, seed=1)), const=(1,), torch_fn=lambda torch, x, y: x.view_as(y)),
    Case("Tensor.reshape_as", lambda x, y: x.t().reshape_as(y), lambda x, y: x.T.reshape(6),
         (U(2, 3), U(6, seed=1)), const=(1,), torch_fn=lambda torch, x, y: x.t().reshape_as(y)),
    Case("Tensor.expand_as", lambda x, y: x.expand_as(y), lambda x, y: np.broadcast_to(x, y.shape),
         (U(3, 1), U(2, 3, 4, seed=1)), const=(1,),
         torch_fn=lambda torch, x, y: x.expand_as(y)),
    Case("Tensor.type_as", lambda x, y: x.type_as(y), lambda x, y: x.astype(np.float32),
         (U(2, 3), U(2).astype(np.float32)), grad=0,
         torch_fn=lambda torch, x, y: x.type_as(y)),
    Case("Tensor.to", lambda x, y: x.to(y) * x.to(ad.float64), lambda x, y: x * x,
         (U(2, 3), U(2, seed=1)), const=(1,), torch_fn=lambda torch, x, y: x.to(y) * x.to(
             torch.float64)),
    # factories: the dtype and device of the tensor they are called on
    Case("Tensor.new_zeros", lambda x: x.new_zeros(2, 3), lambda x: np.zeros((2, 3)),
         (U(4),), grad=0, torch_fn=lambda torch, x: x.new_zeros(2, 3)),
    Case("Tensor.new_ones", lambda x: x.new_ones((3,)), lambda x: np.ones(3),
         (U(4),), grad=0, torch_fn=lambda torch, x: x.new_ones((3,))),
    Case("Tensor.new_full", lambda x: x.new_full((2, 2), 1.5), lambda x: np.full((2, 2), 1.5),
         (U(4),), grad=0, torch_fn=lambda torch, x: x.new_full((2, 2), 1.5)),
    Case("Tensor.new_full", lambda x: x.new_full((2,), 2.7), lambda x: np.full(2, 2),
         (np.array([1, 2]),), grad=0, tag="int", torch_fn=lambda torch, x: x.new_full((2,), 2.7)),
    Case("Tensor.new_tensor", lambda x: x.new_tensor([1, 2]), lambda x: np.array([1.0, 2.0]),
         (U(4),), grad=0, torch_fn=lambda torch, x: x.new_tensor([1, 2])),
    Case("Tensor.new_empty", lambda x: x.new_empty(2, 3).fill_(4.0), lambda x: np.full((2, 3), 4.0),
         (U(4),), grad=0, torch_fn=lambda torch, x: x.new_empty(2, 3).fill_(4.0)),
    # sizes and predicates (plain Python values; PyTorch's checked in test_tensor_methods.py)
    Case("numel", lambda x: ad.numel(x), lambda x: x.size, (U(2, 3),), grad=0),
    Case("is_tensor", lambda x: ad.is_tensor(x), lambda x: True, (U(2),), grad=0),
    Case("equal", lambda x: ad.equal(x, x * 1), lambda x: True, (U(2, 3),), grad=0),
    Case("equal", lambda x, y: ad.equal(x, y), lambda x, y: False, (U(2, 3), U(2, 3, seed=1)),
         grad=0, tag="different"),
    Case("Tensor.ndimension", lambda x: x.ndimension(), lambda x: x.ndim, (U(2, 3, 1),), grad=0),
    Case("Tensor.nelement", lambda x: x.nelement(), lambda x: x.size, (U(2, 3, 1),), grad=0),
    Case("Tensor.element_size", lambda x: x.element_size(), lambda x: x.itemsize, (U(2),),
         grad=0),
    Case("Tensor.is_contiguous", lambda x: x.t().is_contiguous(), lambda x: False, (U(2, 3),),
         grad=0),
]
