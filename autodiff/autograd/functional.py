"""``autodiff.autograd.functional``: PyTorch's ``torch.autograd.functional`` (the
implementations are in :mod:`autodiff.functional`)."""
from ..functional import hessian, hvp, jacobian, jvp, vhp, vjp

__all__ = ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"]
