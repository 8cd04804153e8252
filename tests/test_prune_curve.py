"""``knobs.prune.Curve``: extrapolated learning curves decide, on synthetic curves with known ends."""

from __future__ import annotations

import math

import numpy as np
import pytest

import knobs
from knobs.errors import ConfigError
from knobs.prune import Curve
from knobs.prune._curve_fit import forecast, probability_below
from knobs.trial import FrozenTrial, TrialState

T = 50


def power(c: float, a: float, alpha: float):
    """A power-law learning curve c + a * step**-alpha (its value at T is about c + a * T**-alpha)."""
    return lambda s: c + a * s ** -alpha


def done(number: int, fn, last: int = T) -> FrozenTrial:
    curve = {s: fn(s) for s in range(1, last + 1)}
    return FrozenTrial(number, {}, TrialState.COMPLETE, curve[last], curve)


def running(number: int, fn, upto: int) -> FrozenTrial:
    return FrozenTrial(number, {}, TrialState.RUNNING, None, {s: fn(s) for s in range(1, upto + 1)})


def first_pruned_step(pruner, fn, peers, direction="minimize", last=T):
    """The step at which ``pruner`` stops a trial following ``fn`` (None: it completes)."""
    for step in range(1, last + 1):
        trial = running(99, fn, step)
        if pruner.prune(trial, [*peers, trial], direction=direction):
            return step
    return None


INCUMBENT = power(0.30, 0.7, 0.9)          # ends near 0.30
HOPELESS = power(0.80, 0.15, 0.5)          # flattens near 0.8
CROSSER = power(0.10, 2.0, 0.8)            # 0.65 at step 5 (worse than the incumbent's end), 0.19 at T


def test_prunes_a_clearly_bad_curve_at_the_first_judgement():
    assert first_pruned_step(Curve(max_resource=T), HOPELESS, [done(0, INCUMBENT)]) == 4


def test_keeps_a_curve_that_will_cross_the_incumbent():
    peers = [done(0, INCUMBENT)]
    assert CROSSER(5) > INCUMBENT(T) > CROSSER(T)
    assert first_pruned_step(Curve(max_resource=T), CROSSER, peers) is None
    # the same curve against the median rule, which compares values at equal steps: stopped
    assert first_pruned_step(knobs.prune.Median(n_startup_trials=1), CROSSER, [done(0, INCUMBENT)]) is not None


@pytest.mark.parametrize("min_points", [3, 4, 7])
def test_never_prunes_before_min_points(min_points):
    assert first_pruned_step(Curve(min_points=min_points, max_resource=T), HOPELESS,
                             [done(0, INCUMBENT)]) == min_points


def test_maximize_mirrors_minimize():
    acc = lambda fn: (lambda s: 1.0 - fn(s))  # noqa: E731
    peers = [done(0, acc(INCUMBENT))]
    assert first_pruned_step(Curve(max_resource=T), acc(HOPELESS), peers, direction="maximize") == 4
    assert first_pruned_step(Curve(max_resource=T), acc(CROSSER), peers, direction="maximize") is None
    # read the wrong way round, the hopeless accuracy curve looks like a winner
    assert first_pruned_step(Curve(max_resource=T), acc(HOPELESS), peers, direction="minimize") is None


def test_nan_reports_are_skipped_and_a_nan_latest_report_prunes():
    peers = [done(0, INCUMBENT)]
    holed = running(1, CROSSER, 8)
    holed.intermediate[3] = math.nan
    holed.intermediate[5] = math.inf
    assert not Curve(max_resource=T).prune(holed, [*peers, holed], direction="minimize")
    holed.intermediate[9] = math.nan
    assert Curve(max_resource=T).prune(holed, [*peers, holed], direction="minimize")
    # a completed peer with NaN reports and no value still counts by its last finite report
    peer = done(2, INCUMBENT)
    peer = FrozenTrial(2, {}, TrialState.COMPLETE, None, {**peer.intermediate, T: math.nan})
    hopeless = running(3, HOPELESS, 4)
    assert Curve(max_resource=T).prune(hopeless, [peer, hopeless], direction="minimize")


def test_bad_direction_and_options_get_one_clear_message():
    trial = running(1, HOPELESS, 5)
    with pytest.raises(ConfigError, match="direction must be 'minimize' or 'maximize'; got 'max'"):
        Curve().prune(trial, [done(0, INCUMBENT), trial], direction="max")
    for options, name in [({"threshold": 1.5}, "threshold"), ({"min_points": 2}, "min_points"),
                          ({"rank": 0}, "rank"), ({"max_resource": 1}, "max_resource"),
                          ({"noise_floor": -0.1}, "noise_floor"), ({"calibrate": "yes"}, "calibrate")]:
        with pytest.raises(ConfigError, match=rf"Curve\({name}=\.\.\.\)"):
            Curve(**options).prune(trial, [done(0, INCUMBENT), trial], direction="minimize")


def test_nothing_is_pruned_before_rank_trials_completed_and_rank_k_compares_with_the_kth_best():
    middling = power(0.45, 0.5, 0.9)  # ends near 0.45: worse than the best, better than the second
    second = power(0.60, 0.5, 0.9)
    assert first_pruned_step(Curve(max_resource=T, rank=2), HOPELESS, [done(0, INCUMBENT)]) is None
    peers = [done(0, INCUMBENT), done(1, second)]
    assert first_pruned_step(Curve(max_resource=T), middling, peers) is not None
    assert first_pruned_step(Curve(max_resource=T, rank=2), middling, peers) is None


def test_running_leaders_count_once_their_forecasts_can_be_checked():
    """Parallel workers: before any trial completes, leaders still running bound the incumbent."""
    pruner = Curve(max_resource=T)
    early = [running(0, INCUMBENT, 10), running(1, power(0.35, 0.7, 0.9), 10)]
    # running leaders but no curve long enough to check the forecasts against: kept
    assert first_pruned_step(pruner, HOPELESS, early) is None
    half_way = [running(0, INCUMBENT, 30), running(1, power(0.35, 0.7, 0.9), 25)]
    assert first_pruned_step(pruner, HOPELESS, half_way) == 4
    assert first_pruned_step(pruner, CROSSER, half_way) is None
    # a leader that is running is a bet: never taken without the calibration
    assert first_pruned_step(Curve(max_resource=T, calibrate=False), HOPELESS, half_way) is None
    # pruned trials are no leaders (they will not end better than where they stopped)
    stopped = [FrozenTrial(t.number, {}, TrialState.PRUNED, None, t.intermediate) for t in half_way]
    assert first_pruned_step(pruner, HOPELESS, stopped) is None


def test_target_defaults_to_the_longest_completed_trial_and_early_stopped_trials_count():
    early = done(0, INCUMBENT, last=20)     # stopped early at step 20, value ~0.33
    full = done(1, power(0.5, 0.7, 0.9))    # ran the 50 steps
    pruner = Curve()
    assert first_pruned_step(pruner, HOPELESS, [early, full]) == 4
    # a trial already at the longest length is finished work: never pruned there
    at_end = running(2, HOPELESS, T)
    assert not pruner.prune(at_end, [early, full, at_end], direction="minimize")


def test_calibration_keeps_a_trial_when_completed_curves_ended_below_their_forecasts():
    """Curves that drop late (a cosine schedule's end), which no family foresees from early points."""
    def late(level):
        return lambda s: level + 0.5 * s ** -0.7 - (0.15 if s > 40 else 0.0)

    peers = [done(0, late(0.30)), done(1, late(0.45)), done(2, late(0.50))]
    newcomer = late(0.28)  # the same shape, slightly lower: it ends best
    assert newcomer(T) < peers[0].value < newcomer(40)
    assert first_pruned_step(Curve(max_resource=T), newcomer, peers) is None
    assert first_pruned_step(Curve(max_resource=T, calibrate=False), newcomer, peers) is not None


def test_a_cached_fit_never_changes_a_decision():
    warm = Curve(max_resource=T)
    peers = [done(0, INCUMBENT)]
    decisions = []
    for fn in (HOPELESS, CROSSER, power(0.25, 0.7, 0.9), HOPELESS):
        trial = running(7, fn, 6)  # the same trial number, different curves
        decisions.append(warm.prune(trial, [*peers, trial], direction="minimize"))
        assert decisions[-1] == Curve(max_resource=T).prune(trial, [*peers, trial], direction="minimize")
    assert decisions == [True, False, False, True]


def test_forecast_recovers_a_noisy_power_law_and_its_uncertainty_covers_the_truth():
    rng = np.random.default_rng(0)
    steps = np.arange(1.0, 11.0)
    truth = power(0.2, 0.8, 0.7)
    hits, sharp = [], []
    for _ in range(40):
        values = truth(steps) + rng.normal(0, 0.01, steps.size)
        f = forecast(steps, values, 50.0, 1e-6)
        assert abs(f.weights.sum() - 1) < 1e-9
        below = probability_below(f, np.array([truth(50.0), truth(50.0) - 0.15, truth(50.0) + 0.15]))
        hits.append(0.02 < below[0] < 0.98)
        sharp.append(below[1] < 0.1 and below[2] > 0.9)  # not uselessly wide either
    assert np.mean(hits) >= 0.9 and np.mean(sharp) >= 0.9


def test_a_study_with_the_curve_pruner_keeps_the_best_and_saves_work():
    fns = [power(0.2 + 0.06 * ((7 * i + 3) % 10), 0.8, 0.6 + 0.1 * (i % 4)) for i in range(20)]  # best: i = 11
    space = knobs.Space({"i": knobs.Int(0, 19)})
    configs = iter(range(20))

    class InOrder(knobs.search.Random):
        def suggest(self, space, trials, n=1, *, direction="minimize"):
            return [{"i": next(configs)} for _ in range(n)]

    study = knobs.Study(space, sampler=InOrder(seed=0), pruner=Curve(max_resource=30))

    def objective(config, trial):
        fn = fns[config["i"]]
        for s in range(1, 31):
            trial.report(s, fn(s))
        return fn(30)

    study.optimize(objective, n_trials=20)
    states = [t.state for t in study.trials]
    steps = sum(t.last_step for t in study.trials)
    assert states.count(TrialState.PRUNED) >= 10 and steps < 0.5 * 20 * 30
    assert study.best.value == pytest.approx(min(fn(30) for fn in fns))


def test_knobs_run_config_builds_it_with_the_epoch_budget():
    from knobs.config import load_config
    from knobs.pipeline.stages._components import make_pruner

    cfg = load_config(None, {"search.pruner": "curve", "search.pruner_options": {"threshold": 0.1}})
    pruner = make_pruner(cfg.search.pruner, cfg.search.pruner_options, 60)
    assert isinstance(pruner, Curve) and pruner.max_resource == 60 and pruner.threshold == 0.1
    with pytest.raises(ConfigError, match="search.pruner_options"):
        make_pruner("curve", {"thresold": 0.1}, 60)


def test_knobs_run_compares_with_the_ensembles_kth_best_so_it_keeps_its_members():
    from knobs.config import load_config
    from knobs.pipeline.stages._study import open_study

    space = knobs.Space({"lr": knobs.Float(1e-3, 1e-1, log=True)})

    def rank(**keys):
        cfg = load_config(None, {"search.pruner": "curve", **keys})
        return open_study(cfg, "sqlite://", "search", space).pruner.rank

    assert rank() == 8  # the ensemble's default top_k
    assert rank(**{"ensemble.top_k": 3}) == 3
    assert rank(**{"ensemble.enabled": False}) == 1
    assert rank(**{"data.task": "regression"}) == 1  # no ensemble for regression
    assert rank(**{"search.pruner_options": {"rank": 2}}) == 2  # an explicit rank wins
