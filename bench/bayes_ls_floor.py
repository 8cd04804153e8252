"""A screened lever, not in knobs: a floor under the GP's fitted lengthscales (0.05 or 0.1 of the unit
cube). Traced on the dev mlp family, a lengthscale collapsed to 0.02 to explain jitter between neighbours
as structure; the floor forbids that. docs/benchmarks.md, "The dev set's mlp family at 20 trials". Run:
    .venv/bin/python bench/search.py --set dev --families mlp,synthetic --seeds 10 --budgets 20 40 \
        --optimizers knobs.Bayes floor05=bayes_ls_floor:floor05 floor10=bayes_ls_floor:floor10
"""
import numpy as np
from knobs.search import Bayes
from knobs.search._gp import gp as gpm

def _floored(floor):
    orig = gpm.raw_bounds
    def bounds(d):
        b = orig(d)
        return [(np.log(floor), hi) for lo, hi in b[:d]] + b[d:]
    return bounds

class Floor(Bayes):
    floor = 0.05
    def _fit(self, X, z, coding, rng):
        orig = gpm.raw_bounds
        gpm.raw_bounds = _floored(self.floor)
        try:
            if self._raw is not None:
                self._raw = self._raw.copy(); self._raw[:-2] = np.maximum(self._raw[:-2], np.log(self.floor))
            return super()._fit(X, z, coding, rng)
        finally:
            gpm.raw_bounds = orig

def floor05(seed=None):
    s = Floor(seed=seed); s.floor = 0.05; return s

def floor10(seed=None):
    s = Floor(seed=seed); s.floor = 0.10; return s
