"""``autodiff.nn``: modules, layers, losses and initialisers built on the engine's public API."""
from . import functional, init, parallel, utils  # noqa: F401
from .layers import *  # noqa: F401,F403
from .module import *  # noqa: F401,F403
