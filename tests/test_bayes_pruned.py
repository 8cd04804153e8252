"""Bayes learns from pruned trials (issue 17, item 4): the history it fits, and whole studies.

Before, the GP saw complete trials only, so with ASHA on it stayed in its Sobol design (a real
study: 24 trials, 1 complete, the GP fitted 0 times).
"""

from __future__ import annotations

import math

import pytest

import knobs
from knobs.prune import ASHA, Hyperband
from knobs.search import Random
from knobs.search._base import completed_losses
from knobs.search._bayes import Bayes
from knobs.search._history import model_history
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

X = Space({"x": Float(0.0, 1.0)})


def done(n, x, value, curve=None):
    return FrozenTrial(n, {"x": x}, TrialState.COMPLETE, value, curve or {})


def cut(n, x, curve):
    return FrozenTrial(n, {"x": x}, TrialState.PRUNED, curve[max(curve)], curve)


def test_without_pruned_trials_the_history_is_the_complete_trials_as_before():
    trials = [done(0, 0.1, 0.5, {1: 0.9}), done(1, 0.2, float("nan")), FrozenTrial(2, {"x": 0.3}),
              FrozenTrial(3, {"x": 0.4}, TrialState.FAILED), done(4, 0.5, 0.2), done(5, 7.0, 0.1)]
    for direction in ("minimize", "maximize"):
        assert model_history(trials, direction, X, needed=5) == completed_losses(trials, direction, X)


def test_pruned_trials_rank_below_complete_ones_deeper_first_then_by_value():
    trials = [done(0, 0.1, 0.30), done(1, 0.2, 0.10),
              cut(2, 0.3, {1: 0.9}), cut(3, 0.4, {1: 0.5, 3: 0.8}), cut(4, 0.5, {1: 0.4}),
              cut(5, 0.6, {1: 0.2, 3: 0.6})]
    losses = dict((c["x"], loss) for c, loss in model_history(trials, "minimize", X, needed=2))
    assert losses[0.1] == 0.30 and losses[0.2] == 0.10
    # the deeper ones (step 3) first, by their best value up to there; then those cut at step 1
    order = sorted((x for x in losses if x > 0.25), key=losses.get)
    assert order == [0.6, 0.4, 0.5, 0.3]
    assert min(losses[x] for x in order) > 0.30  # all below the worst complete trial


def test_with_few_complete_the_model_sits_at_the_largest_step_enough_trials_reached():
    trials = [done(0, 0.1, 0.05, {1: 0.7, 3: 0.4, 9: 0.2, 27: 0.05}),
              cut(1, 0.2, {1: 0.8, 2: 0.5, 3: 0.6}), cut(2, 0.3, {1: 0.6, 3: 0.3}),
              cut(3, 0.4, {1: 0.9}), cut(4, 0.5, {1: 0.95}), cut(5, 0.6, {1: 0.65, 3: 0.45, 9: 0.35})]
    losses = dict((c["x"], loss) for c, loss in model_history(trials, "minimize", X, needed=4))
    # step 3: the complete trial and three pruned ones reached it; each at its best up to step 3
    assert losses[0.1] == 0.4 and losses[0.2] == 0.5 and losses[0.3] == 0.3 and losses[0.6] == 0.45
    assert losses[0.4] < losses[0.5] and losses[0.4] > 0.5
    # maximizing negates the values and keeps the same order
    flipped = [FrozenTrial(t.number, t.config, t.state, -t.value, {s: -v for s, v in t.intermediate.items()})
               for t in trials]
    assert model_history(flipped, "maximize", X, needed=4) == model_history(trials, "minimize", X, needed=4)


def test_a_pruned_trial_without_reports_keeps_its_value_and_bad_configs_are_left_out():
    trials = [done(0, 0.1, 0.2), done(1, 0.2, 0.3),
              FrozenTrial(2, {"x": 0.3}, TrialState.PRUNED, 0.9), FrozenTrial(3, {"x": 0.4}, TrialState.PRUNED),
              cut(4, 3.0, {1: 0.1})]
    assert [c["x"] for c, _ in model_history(trials, "minimize", X, needed=2)] == [0.1, 0.2, 0.3]


def curves_objective(optimum):
    """A learning curve per config: its final loss is the squared distance of (x, y, z) to
    ``optimum`` (others count 0.05 when off their best), and every curve falls as 1 / step**0.7
    from above it (so early values rank configs as the final ones do)."""

    def objective(config, trial):
        final = sum((config.get(k, o) - o) ** 2 for k, o in zip("xyz", optimum))
        final += 0.05 * (config.get("width", 64) != 64)
        for step in range(1, 28):
            value = final + 0.5 / step ** 0.7
            trial.report(step, value)
        return value

    return objective


def near(study, optimum, radius=0.25):
    """How many trials were proposed within ``radius`` of the optimum."""
    return sum(math.dist([t.config[k] for k in "xyz"], optimum) < radius for t in study.trials)


def count_fits(monkeypatch):
    calls = []
    fit = Bayes._fit

    def counted(self, *args, **kwargs):
        calls.append(1)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Bayes, "_fit", counted)
    return calls


XYZ = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0), "z": Float(0.0, 1.0)})
OPTIMUM = (0.83, 0.2, 0.5)


@pytest.mark.parametrize("pruner", [ASHA(1, 3, 27), Hyperband(1, 27, 3)], ids=["asha", "hyperband"])
def test_with_a_pruner_the_gp_is_fitted_and_proposes_near_the_optimum(monkeypatch, pruner):
    fits = count_fits(monkeypatch)
    study = knobs.Study(XYZ, sampler=Bayes(seed=0, n_initial=5), pruner=pruner)
    study.optimize(curves_objective(OPTIMUM), n_trials=24)
    assert sum(t.state == TrialState.PRUNED for t in study.trials) >= 8
    assert len(fits) >= 15  # a fit for (nearly) every trial after the design, pruned or not
    rand = knobs.Study(XYZ, sampler=Random(seed=0), pruner=pruner)
    rand.optimize(curves_objective(OPTIMUM), n_trials=24)
    assert near(study, OPTIMUM) >= near(rand, OPTIMUM) + 4


def test_mixed_conditional_space_with_pruned_trials_gives_valid_configs_from_the_gp(monkeypatch):
    space = Space({"x": Float(0.0, 1.0), "width": Int(16, 256, log=True), "act": Choice(["relu", "tanh"]),
                   "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})
    fits = count_fits(monkeypatch)
    study = knobs.Study(space, sampler=Bayes(seed=1, n_initial=5), pruner=ASHA(1, 3, 27), direction="maximize")
    objective = curves_objective((0.3,))
    study.optimize(lambda config, trial: -objective(config, _Negated(trial)), n_trials=16)
    assert fits, "the GP was never fitted"
    for t in study.trials:
        space.validate(t.config)
        assert isinstance(t.config["width"], int) and t.config["act"] in ("relu", "tanh")
        assert ("slope" in t.config) == (t.config["act"] == "relu")


class _Negated:
    """Reports the negated value (a maximized metric, like accuracy)."""

    def __init__(self, trial):
        self.trial = trial

    def report(self, step, value):
        self.trial.report(step, -value)


def test_bayes_stays_in_its_design_until_enough_trials_finished_pruned_or_not():
    sampler = Bayes(seed=0, n_initial=4)
    design = Bayes(seed=0, n_initial=4)
    trials = [cut(n, x, {1: 1.0 - x}) for n, x in enumerate([0.1, 0.2, 0.3])]
    assert sampler.suggest(X, trials) == design.suggest(X, trials)  # 3 < 4: still the Sobol design
    trials.append(cut(3, 0.9, {1: 0.1}))
    assert sampler.suggest(X, trials) != Bayes(seed=0, n_initial=100).suggest(X, trials)
    assert math.isfinite(sampler._raw[0])  # the GP was fitted on the four pruned trials
