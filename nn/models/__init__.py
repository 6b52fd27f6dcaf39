"""The documents' models: ``mnist_mlp``, ``mnist_cnn``, ``resnet_cifar``, ``char_rnn``..."""
from .cnn import *  # noqa: F401,F403
from .mlp import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
