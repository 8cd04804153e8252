"""Warm starts keeping some of the run's own design (issue 17, item 6): ``Bayes._own_design = k`` runs k
points of this sampler's Sobol design on the run's own trials 1, 3, 5, ... and the model's picks between
them, so the model sees the run away from the sources' best region."""

from __future__ import annotations

from knobs.search._bayes import Bayes
from knobs.trial import FrozenTrial, TrialState

from test_two_task import PLANE, bowl, run_own, trials


class Own(Bayes):
    _own_design = 2


def design(start, n, sampler=Own):
    """Points ``start ...`` of the Sobol design a sampler of seed 0 runs (a cold run's from 0)."""
    fresh = sampler(seed=0)
    fresh._generator()
    return fresh._design(PLANE, start, n, set())


def test_own_trials_one_and_three_are_the_designs_first_points_and_the_rest_the_model():
    run = trials(lambda c: bowl(c) + 1.0, n_own=0)
    seen = run_own(Own(seed=0), run, 6)
    assert [seen[1].config, seen[3].config] == design(0, 2)  # what a cold run of the seed starts with
    plain = Bayes(seed=0)  # the model's picks, as without the option on the same histories
    assert [seen[k].config for k in (0, 2, 4, 5)] == [plain.suggest(PLANE, run + seen[:k])[0] for k in (0, 2, 4, 5)]


def test_an_offset_takes_later_points_and_a_batch_mixes_design_and_model():
    run = trials(lambda c: bowl(c) + 1.0, n_own=0)

    class Later(Own):
        _own_design_offset = 8

    assert Later(seed=0).suggest(PLANE, run)[0] == Bayes(seed=0).suggest(PLANE, run)[0]
    done = [FrozenTrial(0, {"x": 0.5, "y": 0.5}, TrialState.COMPLETE, 1.0)]
    [point] = Later(seed=0).suggest(PLANE, run + done)
    assert point == design(8, 1)[0]
    batch = Own(seed=0).suggest(PLANE, run, n=4)  # own trials 0-3: 1 and 3 from the design
    assert [c for c in batch if c in design(0, 2)] == design(0, 2)
    assert len({tuple(sorted(c.items())) for c in batch}) == 4


def test_a_cold_run_is_untouched():
    cold = trials(bowl, n_source=0, n_own=12)
    assert Own(seed=3).suggest(PLANE, cold) == Bayes(seed=3).suggest(PLANE, cold)
