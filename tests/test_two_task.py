"""Warm starts as a two-task GP (issue 17, item 6): the study as an input with its own lengthscale."""

from __future__ import annotations

import numpy as np
import pytest

from knobs.search._bayes import Bayes
from knobs.search._history import WARM_START, model_history, study_labels
from knobs.search._two_task import POOLED, study_correlation, study_input
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

PLANE = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
MIXED = Space({"x": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
               "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})


def bowl(c):
    """This run's loss: best at (0.7, 0.3)."""
    return (c["x"] - 0.7) ** 2 + (c["y"] - 0.3) ** 2


def trials(source_loss, n_source=20, n_own=6, seed=0, space=PLANE, own_loss=bowl, source="earlier#search"):
    """A source's trials (``attrs["warm_start"]``) and this run's, at random configs."""
    configs = space.sample(seed, n_source + n_own)
    fed = [FrozenTrial(-1 - i, c, TrialState.COMPLETE, source_loss(c), attrs={WARM_START: source})
           for i, c in enumerate(configs[:n_source])]
    own = [FrozenTrial(i, c, TrialState.COMPLETE, own_loss(c)) for i, c in enumerate(configs[n_source:])]
    return fed + own


def run_own(sampler, fed, n, space=PLANE, loss=bowl):
    """``n`` trials of this run, one suggestion at a time after the ``fed`` warm-start trials."""
    seen = []
    for number in range(n):
        [config] = sampler.suggest(space, fed + seen)
        seen.append(FrozenTrial(number, config, TrialState.COMPLETE, loss(config)))
    return seen


def mixed_run():
    """A source and this run on MIXED (a conditional choice, an integer), with one trial running."""
    run = trials(lambda c: (c["x"] - 3.0) ** 2 + c["n"], space=MIXED,
                 own_loss=lambda c: (c["x"] - 3.0) ** 2 + c["n"] + 0.5)
    run.append(FrozenTrial(100, MIXED.sample(5, 1)[0], TrialState.RUNNING))
    return run


class TwoTask(Bayes):
    """Bayes with the study input, keeping its last fitted GP (every source kept: no vetting)."""

    _two_task = True
    _vet_sources = False

    def _fit(self, X, z, coding, rng):
        self.model = super()._fit(X, z, coding, rng)
        return self.model


class Pooled(TwoTask):
    _two_task = False


def cold_mixed_history():
    """A cold run in a mixed space: 12 complete trials and one running, no source."""
    history = [FrozenTrial(i, c, TrialState.COMPLETE, float(c["x"] + c["n"]))
               for i, c in enumerate(MIXED.sample(1, 12))]
    return history + [FrozenTrial(12, MIXED.sample(2, 1)[0], TrialState.RUNNING)]


def test_cold_suggestions_are_unchanged_bit_for_bit():
    history = cold_mixed_history()
    with_input, without = TwoTask(seed=0), Pooled(seed=0)
    assert with_input.suggest(MIXED, history, n=3) == without.suggest(MIXED, history, n=3)
    assert np.array_equal(with_input.model.X, without.model.X)
    assert with_input.model.X.shape[1] == len(MIXED)  # no study axis without a source


def test_a_source_that_agrees_is_fitted_a_high_correlation_one_that_disagrees_a_low_one():
    agrees = TwoTask(seed=0)
    agrees.suggest(PLANE, trials(lambda c: 3.0 * bowl(c) + 5.0))  # another scale and offset: same shape
    reversed_ = TwoTask(seed=0)
    reversed_.suggest(PLANE, trials(lambda c: -bowl(c)))
    assert study_correlation(agrees.model) > 0.9
    assert study_correlation(reversed_.model) < 0.3


def test_a_run_guided_into_the_good_region_still_agrees_with_its_source():
    """The run's results all lie near the optimum, so standardized on their own they spread over
    [-2, 2] where the source's (over the whole square) sit at one level near its minimum: matched
    to the source's level and spread there, the study axis sees agreement, not an offset."""
    rng = np.random.default_rng(5)
    near = [{"x": 0.7 + 0.1 * rng.normal(), "y": 0.3 + 0.1 * rng.normal()} for _ in range(5)]
    own = [FrozenTrial(i, c, TrialState.COMPLETE, bowl(c)) for i, c in enumerate(near)]
    sampler = TwoTask(seed=0)
    [suggestion] = sampler.suggest(PLANE, trials(bowl, n_own=0) + own)
    assert study_correlation(sampler.model) > 0.9
    assert np.hypot(suggestion["x"] - 0.7, suggestion["y"] - 0.3) < 0.05


def test_a_source_that_agrees_guides_the_run_from_its_first_results():
    run = trials(lambda c: bowl(c) + 1.0, n_own=3)
    [suggestion] = TwoTask(seed=0).suggest(PLANE, run)
    assert abs(suggestion["x"] - 0.7) < 0.05 and abs(suggestion["y"] - 0.3) < 0.05


def test_a_reversed_source_steers_the_run_less_than_when_pooled():
    miss = {"two-task": [], "pooled": []}  # distance of the suggestion from this run's optimum
    for seed in range(4):
        run = trials(lambda c: -bowl(c), n_own=8, seed=seed)  # the source's best is the run's worst
        for name, sampler in (("two-task", TwoTask(seed=0)), ("pooled", Pooled(seed=0))):
            [s] = sampler.suggest(PLANE, run)
            miss[name].append(np.hypot(s["x"] - 0.7, s["y"] - 0.3))
    assert all(a < b for a, b in zip(miss["two-task"], miss["pooled"]))
    assert np.mean(miss["two-task"]) < np.mean(miss["pooled"]) - 0.3


def test_candidates_are_this_runs_points_with_running_trials_and_batches():
    run = mixed_run()
    sampler = TwoTask(seed=1)
    batch = sampler.suggest(MIXED, run, n=3)
    assert len(batch) == 3 and all(MIXED.validate(c) is None for c in batch)
    assert sampler.model.X.shape[1] == len(MIXED) + 1
    assert set(sampler.model.X[:, -1]) == {0.0, 1.0}  # this run's code, the source's
    assert study_input([0, 1]).space(MIXED).to_unit_many(batch)[:, -1].tolist() == [0.0] * 3


def test_before_any_result_of_its_own_the_run_follows_the_sources_pooled():
    run = trials(lambda c: bowl(c), n_own=0)
    two_task, pooled = TwoTask(seed=0), Pooled(seed=0)
    assert two_task.suggest(PLANE, run) == pooled.suggest(PLANE, run)
    assert study_input([1, 1, 2]) is POOLED and study_input([0, 0]) is POOLED


def test_study_labels_follow_the_model_history_order():
    fed_a = trials(lambda c: bowl(c), n_source=3, n_own=0, source="a")
    fed_b = trials(lambda c: bowl(c), n_source=2, n_own=0, seed=1, source="b")
    own = trials(lambda c: 0.0, n_source=0, n_own=4, seed=2)
    mixed = [fed_b[0], *own[:2], *fed_a, fed_b[1], *own[2:]]
    history = model_history(mixed, "minimize", PLANE, needed=2)
    labels = study_labels(mixed, "minimize", PLANE, needed=2)
    assert labels == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    assert [c for c, _ in history[4:6]] == [t.config for t in fed_b]
    assert study_labels(own, "minimize", PLANE, needed=2) == [0, 0, 0, 0]


@pytest.mark.parametrize("labels", [[0, 1], [0, 1, 2, 2]])
def test_sources_get_codes_apart_from_this_run(labels):
    codes = study_input(labels).inputs(np.zeros((len(labels), 1)))[:, -1]
    assert codes[0] == 0.0 and (codes[1:] > 0).all() and codes.max() == 1.0
