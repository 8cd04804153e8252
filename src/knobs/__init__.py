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


#: Lazy exports: name → the module that defines it (loaded on first touch, so ``import knobs`` stays torch-free).
_LAZY = {"run": "knobs.pipeline.commands._python_run", "ModelInfo": "knobs.pipeline.model._info"}


def __getattr__(name: str):
    """Lazy torch-side exports: ``knobs.diagnose`` loads torch only when first touched;
    ``knobs.run(model=..., data=..., space=..., **settings)`` (the cycle of ``knobs run`` from
    Python) and ``knobs.ModelInfo`` (what a model builder is told) load the pipeline when called.

    NOTE: ``knobs.diagnose`` is both a subpackage and the function people call; the subpackage
    module is itself callable (it forwards to ``knobs.diagnose.diagnose``), so the name means the
    same thing whether or not the subpackage was imported before.
    """
    if name == "diagnose":
        import importlib

        return importlib.import_module("knobs.diagnose")
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'knobs' has no attribute {name!r}")

__all__ = [
    "Choice", "ConfigError", "ModelInfo", "DataError", "Float", "FrozenTrial", "Int", "KnobsError",
    "Pruned", "Space", "SpaceError", "Study", "Trial", "TrialError", "TrialState",
    "prune", "run", "search", "__version__",
]
