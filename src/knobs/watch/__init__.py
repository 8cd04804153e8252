"""Watching a training run: cheap probes on sampled steps, recorded as plain data.

- ``Watch``: a ``knobs.train`` callback; per sampled step the update/weight ratio and gradient
  norm of every parameter tensor, dead-ReLU and saturated tanh/sigmoid/ELU-family/GELU/SiLU fractions (forward hooks
  armed for that step only); per epoch the loss-curve statistics and the train/validation gap.
- ``ActivationProbe``: the forward hooks for one training pass, removed when read.
- Pure statistics: ``update_ratio``, ``dead_fraction``, ``zero_fraction``, ``saturated_fraction``
  (one step); ``curve_stats``, ``divergence_index``, ``relative_noise``, ``relative_slope``,
  ``plateaued``, ``gap_series`` (loss curves).

Example:
    >>> from knobs.train import Trainer
    >>> watch = Watch(every=10)
    >>> Trainer(callbacks=[watch]).fit(model, (X, y), (Xv, yv))     # doctest: +SKIP
    >>> watch.probes[-1]["params"]["0.weight"]["update_ratio"]       # doctest: +SKIP
    0.0012
"""

from knobs.watch._curve import (DIVERGE_FACTOR, curve_stats, divergence_index, gap_series, plateaued,
                                relative_noise, relative_slope)
from knobs.watch._hooks import ActivationProbe, activation_kind
from knobs.watch._stats import SATURATION, dead_fraction, saturated_fraction, update_ratio, zero_fraction
from knobs.watch._watch import Watch

__all__ = [
    "ActivationProbe", "DIVERGE_FACTOR", "SATURATION", "Watch", "activation_kind", "curve_stats",
    "dead_fraction", "divergence_index", "gap_series", "plateaued", "relative_noise",
    "relative_slope", "saturated_fraction", "update_ratio", "zero_fraction",
]
