"""``autodiff.autograd.graph``: the graph's node type and the version counter, as PyTorch's
``torch.autograd.graph`` names them."""
from ..tape import Node, increment_version

__all__ = ["Node", "increment_version"]
