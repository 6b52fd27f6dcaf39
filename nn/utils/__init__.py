"""``autodiff.nn.utils``: PyTorch's ``torch.nn.utils``: gradient clipping (the implementations
are ``autodiff.optim``'s) and flattening parameters to one vector and back."""
from autodiff.optim.clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm

from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "parameters_to_vector",
           "vector_to_parameters"]
