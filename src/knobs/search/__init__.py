"""Samplers: given a space and the trials so far, suggest the next configs.

All samplers follow one contract (``knobs.search.Sampler``): ``suggest(space, trials, n,
direction=...)`` plus ``state_dict`` / ``load_state_dict`` for resuming. They never touch
storage; they see frozen trial records only.

* ``Grid`` — the full-factorial grid, points no trial holds yet; stops when exhausted.
* ``Random`` — independent draws from the space's prior, or a scrambled Sobol sequence.
* ``CoarseToFine`` — broad first, then boxes shrinking around the best trials.
"""

from knobs.search._base import Sampler
from knobs.search._coarse_to_fine import CoarseToFine
from knobs.search._grid import Grid
from knobs.search._random import Random



def __getattr__(name: str):
    """``Bayes`` on first touch: its Gaussian process needs scipy.stats and scipy.special (about
    1.2 s to import), which ``import knobs`` and every CLI command that samples no GP should not pay."""
    if name == "Bayes":
        from knobs.search._bayes import Bayes

        return Bayes
    raise AttributeError(f"module 'knobs.search' has no attribute {name!r}")


__all__ = ["Bayes", "CoarseToFine", "Grid", "Random", "Sampler"]
