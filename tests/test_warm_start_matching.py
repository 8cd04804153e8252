"""Warm starts, pooled with level matching (issue 17, item 6): one GP on every study's points, this
run's losses first moved to the sources' level and spread at its points (``Bayes._pooled_matched``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from knobs.search._bayes import Bayes
from knobs.search._two_task import POOLED, matched_pool
from knobs.trial import FrozenTrial, TrialState

from test_two_task import MIXED, PLANE, bowl, cold_mixed_history, mixed_run, trials


class Pooled(Bayes):
    """Bayes pooling the studies unmatched, keeping the last fitted GP and the losses it was fitted on (every
    source kept: no vetting)."""

    _pooled_matched = False
    _vet_sources = False

    def _fit(self, X, z, coding, rng):
        self.model, self.z = super()._fit(X, z, coding, rng), z
        return self.model


class Matched(Pooled):
    _pooled_matched = True


def guided_run(draw):
    """A source over the whole square and a run of 5 results the source guided near the optimum
    (0.7, 0.3), both on ``bowl``: this run's trials first in the model's history, then the source's."""
    rng = np.random.default_rng(draw)
    near = [{"x": float(np.clip(0.7 + 0.1 * rng.normal(), 0, 1)), "y": float(np.clip(0.3 + 0.1 * rng.normal(), 0, 1))}
            for _ in range(5)]
    own = [FrozenTrial(i, c, TrialState.COMPLETE, bowl(c)) for i, c in enumerate(near)]
    source = trials(bowl, n_own=0, seed=draw)
    return source + own, [t.config for t in own + source]


@pytest.mark.parametrize("draw", range(4))
def test_matched_the_model_ranks_both_studies_as_one_function(draw):
    """Standardized on its own, the run's narrow range of good results spreads over [-2, 2] while the
    source puts them all near its minimum: the pooled losses rank the points against their true loss
    at Spearman 0.75-0.82. Matched, the run sits at the source's level and the order is the true one."""
    run, configs = guided_run(draw)
    true = [bowl(c) for c in configs]
    plain, matched = Pooled(seed=0), Matched(seed=0)
    plain.suggest(PLANE, run)
    matched.suggest(PLANE, run)
    assert spearmanr(matched.z, true).statistic > 0.99
    assert spearmanr(plain.z, true).statistic < 0.9


@pytest.mark.parametrize("draw", range(4))
def test_matched_a_run_guided_near_the_optimum_suggests_it(draw):
    run, _ = guided_run(draw)
    [plain] = Pooled(seed=0).suggest(PLANE, run)
    [matched] = Matched(seed=0).suggest(PLANE, run)
    assert np.hypot(matched["x"] - 0.7, matched["y"] - 0.3) < 0.03
    assert np.hypot(plain["x"] - 0.7, plain["y"] - 0.3) > 0.05


def test_on_by_default():
    assert Bayes._pooled_matched and not Bayes._two_task


def test_cold_suggestions_are_unchanged_bit_for_bit():
    history = cold_mixed_history()
    matched, plain = Matched(seed=0), Pooled(seed=0)
    assert matched.suggest(MIXED, history, n=3) == plain.suggest(MIXED, history, n=3)
    assert np.array_equal(matched.model.X, plain.model.X) and np.array_equal(matched.z, plain.z)


def test_before_any_result_of_its_own_the_run_follows_the_plain_pool():
    run = trials(bowl, n_own=0)
    assert Matched(seed=0).suggest(PLANE, run) == Pooled(seed=0).suggest(PLANE, run)
    assert matched_pool([1, 1, 2]) is POOLED and matched_pool([0, 0]) is POOLED


def test_mixed_spaces_with_running_trials_and_batches():
    run = mixed_run()
    sampler = Matched(seed=1)
    batch = sampler.suggest(MIXED, run, n=3)
    assert len(batch) == 3 and all(MIXED.validate(c) is None for c in batch)
    assert sampler.model.X.shape[1] == len(MIXED)  # one GP, no study axis
