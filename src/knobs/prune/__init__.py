"""Pruners: stop bad trials early from their intermediate values.

Each is ``pruner.prune(trial, trials, *, direction) -> bool`` over frozen trial records; the
study calls it at every ``trial.report(step, value)``. ``Median``, ``ASHA`` and ``Hyperband`` rank
values at equal steps; ``Curve`` extrapolates each trial's own learning curve.

Example:
    >>> import knobs
    >>> pruner = knobs.prune.ASHA(min_resource=1, reduction_factor=3, max_resource=27)
"""

from knobs.prune._asha import ASHA
from knobs.prune._base import Pruner
from knobs.prune._curve import Curve
from knobs.prune._hyperband import Hyperband
from knobs.prune._median import Median

__all__ = ["Pruner", "Median", "ASHA", "Hyperband", "Curve"]
