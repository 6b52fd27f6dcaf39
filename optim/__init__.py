"""``autodiff.optim``: optimizers, learning-rate schedules, gradient clipping and the LR finder,
with ``torch.optim``'s names, defaults and update rules.

>>> import autodiff as ad
>>> from autodiff import optim
>>> w = ad.tensor([1.0, -2.0], requires_grad=True)
>>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
>>> (w * w).sum().backward(); opt.step(); opt.zero_grad()
>>> w
tensor([ 0.8, -1.6], requires_grad=True)
"""
from . import lr_scheduler  # noqa: F401
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from .lbfgs import LBFGS
from .lr_finder import LRFinder, LRFinderResult, find_lr
from .noisy_sgd import NoisySGD
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "NoisySGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "LBFGS", "clip_grad_norm_", "clip_grad_value_", "get_total_norm", "lr_scheduler",
           "find_lr", "LRFinder", "LRFinderResult"]
