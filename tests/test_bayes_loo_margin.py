"""Bayes's exploration margin from leave-one-out misses (``Bayes._loo_margin``, off by default).

The lever widens EI's margin by how badly the GP predicts its own best points out of sample: a
jagged objective (jitter the fit takes for structure) keeps those misses large, a smooth one lets
them vanish (docs/benchmarks.md, "An exploration margin from leave-one-out misses").
"""

from __future__ import annotations

import numpy as np
import pytest

from knobs.search._bayes import Bayes
from knobs.space import Float, Space
from knobs.trial import FrozenTrial, TrialState

SPACE = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})


def _history(jitter: float, seed: int) -> list[FrozenTrial]:
    """12 scattered points and 14 in a cluster at a bowl's minimum; ``jitter``: a deterministic
    high-frequency ripple on top (a jagged objective, as SST-2's linear models are near alpha 5e-7)."""
    rng = np.random.default_rng(seed)
    pts = np.vstack([rng.random((12, 2)), [0.3, 0.6] + 0.06 * (rng.random((14, 2)) - 0.5)])
    values = ((pts[:, 0] - 0.3) ** 2 + (pts[:, 1] - 0.6) ** 2
              + jitter * np.sin(3000 * pts[:, 0] + 2000 * pts[:, 1]))
    return [FrozenTrial(i, {"x": float(a), "y": float(b)}, TrialState.COMPLETE, float(v))
            for i, ((a, b), v) in enumerate(zip(pts, values))]


def _lever(sampler: Bayes) -> Bayes:
    sampler._loo_margin = 0.1
    return sampler


def _handed_xi(trials: list[FrozenTrial], seed: int = 0) -> float:
    """The EI margin the lever hands to the acquisition (``xi`` plus its growth)."""
    sampler, seen = _lever(Bayes(seed=seed)), []
    pick = sampler._pick
    sampler._pick = lambda *args: seen.append(args[-1]) or pick(*args)
    sampler.suggest(SPACE, trials)
    return seen[0]


def _margin(trials: list[FrozenTrial]) -> float:
    """The lever's growth of the margin over the fixed ``xi``."""
    return _handed_xi(trials) - Bayes().xi


@pytest.mark.parametrize("seed", range(3))
def test_the_margin_grows_on_a_jagged_objective_and_stays_zero_on_a_smooth_one(seed):
    smooth, jagged = _margin(_history(0.0, seed)), _margin(_history(0.1, seed))
    assert 0.0 <= smooth < 1e-5
    assert jagged > 0.02


def test_the_lever_is_ei_with_the_larger_margin_and_nothing_else():
    trials = _history(0.1, 0)
    lever = _lever(Bayes(seed=3)).suggest(SPACE, trials)
    assert lever == Bayes(seed=3, xi=_handed_xi(trials, seed=3)).suggest(SPACE, trials)
    assert lever != Bayes(seed=3).suggest(SPACE, trials)


def test_off_by_default():
    assert Bayes._loo_margin == 0.0
