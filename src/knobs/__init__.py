"""knobs: the common practices of deep-learning training, as software.

``import knobs`` is torch-free: the space, the samplers, the pruners and the study tune anything.
The torch layers (``knobs.data``, ``knobs.models``, ``knobs.train``, ``knobs.checks``,
``knobs.pipeline``) are imported where they are used.
"""

from knobs import prune, search
from knobs.errors import ConfigError, DataError, KnobsError, SpaceError, TrialError
from knobs.space import Choice, Float, Int, Space
from knobs.study import Study
from knobs.trial import FrozenTrial, Pruned, Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Choice", "ConfigError", "DataError", "Float", "FrozenTrial", "Int", "KnobsError",
    "Pruned", "Space", "SpaceError", "Study", "Trial", "TrialError", "TrialState",
    "prune", "search", "__version__",
]
