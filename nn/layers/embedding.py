"""Layer modules: Embedding (a lookup table of learnable rows, N(0, 1) initialised)."""
from __future__ import annotations

import autodiff as ad
from autodiff.tensor import Tensor

from .. import functional_core as F
from .. import init
from ..module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """``weight[input]`` with weight (num_embeddings, embedding_dim); the ``padding_idx`` row
    starts at zero and gets no gradient; ``max_norm``, ``norm_type``, ``scale_grad_by_freq``
    and ``sparse`` as in :func:`autodiff.nn.functional.embedding`."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse=True is not supported (there are no "
                                      "sparse tensors here); use sparse=False")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"num_embeddings {self.num_embeddings}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dt = dtype if dtype is not None else ad.get_default_dtype()
        if _weight is None:
            self.weight = Parameter(ad.empty(self.num_embeddings, self.embedding_dim,
                                             dtype=dt, device=device))
            self.reset_parameters()
        else:
            w = ad.tensor(_weight, dtype=dt)
            if tuple(w.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(w.shape)}, expected "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(w)
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, sparse: bool = False) -> "Embedding":
        e = ad.tensor(embeddings)
        if e.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(e.shape)}")
        return cls(e.shape[0], e.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq,
                   sparse, _weight=e, _freeze=freeze, dtype=e.dtype)

    def forward(self, input) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            s += ", sparse=True"
        return s
