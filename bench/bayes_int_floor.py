"""A screened lever, not in knobs: a floor under the fitted lengthscale of integer axes with many levels
(batch size, width, tree counts), none elsewhere. Why: on mlp_digits the fit explained the loss flipping
between batch 94, 95 and 96 by a short batch lengthscale and EI kept proposing neighbours of the
incumbent (docs/benchmarks.md, "The dev set's sklearn family"); neighbouring integers of such an axis differ
by jitter, not structure. The all-axes floor (bench/bayes_ls_floor.py) cost Levy-4 and Hartmann-6, whose
axes are continuous: this one leaves continuous axes and few-level integers (depth 1..12) alone. Run:
    .venv/bin/python bench/search.py --set dev --families sklearn,mlp,convnet --seeds 5 --budgets 20 40 80 \
        --optimizers ifloor=bayes_int_floor:ifloor --timing-reps 0
"""
import numpy as np

from knobs.search import Bayes
from knobs.search._gp import gp as gpm

MANY = 16  # levels above which an integer axis is "many-level"
FLOOR = 0.1  # unit-cube lengthscale floor on such axes


class IntFloor(Bayes):
    floor = FLOOR

    def _fit(self, X, z, coding, rng):
        many = np.array([lv is not None and len(lv) > MANY and not cat
                         for lv, cat in zip(coding.levels, coding.is_cat)] + [False] * (X.shape[1] - len(coding.levels)))
        if not many.any():
            return super()._fit(X, z, coding, rng)
        orig = gpm.raw_bounds
        floor = np.log(self.floor)

        def bounds(d):
            b = orig(d)
            return [(max(lo, floor), hi) if j < len(many) and many[j] else (lo, hi)
                    for j, (lo, hi) in enumerate(b[:d])] + b[d:]

        gpm.raw_bounds = bounds
        try:
            if self._raw is not None and len(self._raw) == X.shape[1] + 2:
                self._raw = self._raw.copy()
                self._raw[:-2][many] = np.maximum(self._raw[:-2][many], floor)
            return super()._fit(X, z, coding, rng)
        finally:
            gpm.raw_bounds = orig


def ifloor(seed=None):
    return IntFloor(seed=seed)


def placebo(seed=None):
    """The default but for EI's rounding (``xi=0.0100001``): how far chance alone moves these runs
    (docs/benchmarks.md, "A minimum distance from evaluated points")."""
    return Bayes(seed=seed, xi=0.0100001)
