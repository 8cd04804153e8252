"""knobs: the common practices of deep-learning training, as software.

``import knobs`` is torch-free: the space, the samplers, the pruners and the study tune anything.
The torch layers (``knobs.data``, ``knobs.models``, ``knobs.train``, ``knobs.checks``,
``knobs.pipeline``) are imported where they are used; ``knobs.diagnose(model, train, val, ...)``
imports them on first use.
"""

from knobs import prune, search
from knobs.errors import ConfigError, DataError, KnobsError, SpaceError, TrialError
from knobs.space import Choice, Float, Int, Space
from knobs.study import Study
from knobs.trial import FrozenTrial, Pruned, Trial, TrialState

__version__ = "0.1.0"


def __getattr__(name: str):
    """Lazy torch-side exports: ``knobs.diagnose`` loads torch only when first touched.

    NOTE: ``knobs.diagnose`` is both a subpackage and the function people call; the subpackage
    module is itself callable (it forwards to ``knobs.diagnose.diagnose``), so the name means the
    same thing whether or not the subpackage was imported before.
    """
    if name == "diagnose":
        import importlib

        return importlib.import_module("knobs.diagnose")
    raise AttributeError(f"module 'knobs' has no attribute {name!r}")

__all__ = [
    "Choice", "ConfigError", "DataError", "Float", "FrozenTrial", "Int", "KnobsError",
    "Pruned", "Space", "SpaceError", "Study", "Trial", "TrialError", "TrialState",
    "prune", "search", "__version__",
]
