"""Pure Gaussian-process math behind ``knobs.search.Bayes``: numpy and scipy only, no state.

Modules: ``kernel`` (Matérn-5/2 ARD with Hamming categoricals), ``gp`` (fit by marginal
likelihood, predict, condition), ``acquisition`` (EI, log-EI, PI, UCB), ``optimize``
(acquisition maximization over mixed spaces), ``transforms`` (output warping, input snapping).
The sampler in ``knobs.search._bayes`` only wires them together.
"""

from . import acquisition, gp, kernel, optimize, transforms

__all__ = ["acquisition", "gp", "kernel", "optimize", "transforms"]
