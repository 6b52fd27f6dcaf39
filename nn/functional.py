"""``autodiff.nn.functional`` (``F``): functional forms of the layers and the losses."""
from .functional_activation import *  # noqa: F401,F403
from .functional_attention import *  # noqa: F401,F403
from .functional_conv import *  # noqa: F401,F403
from .functional_core import *  # noqa: F401,F403
from .functional_dropout import *  # noqa: F401,F403
from .functional_norm import *  # noqa: F401,F403
from .functional_pool import *  # noqa: F401,F403
from .functional_resample import *  # noqa: F401,F403
from .functional_distance import *  # noqa: F401,F403
from .functional_rnn import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .style import *  # noqa: F401,F403
