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
    starts at zero and gets no gradient."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 _weight=None, device=None, dtype=None) -> None:
        super().__init__()
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

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True,
                        padding_idx: int | None = None) -> "Embedding":
        e = ad.tensor(embeddings)
        if e.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                             f"{tuple(e.shape)}")
        m = cls(e.shape[0], e.shape[1], padding_idx, _weight=e, dtype=e.dtype)
        m.weight.requires_grad = not freeze
        return m

    def forward(self, input) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
