"""knobs.search.Bayes: the sampler contract, search quality, batches, mixed and conditional spaces."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sampler_contract import (  # noqa: E402
    CONTRACT_CHECKS, config_keys, make_history, mixed_space, quadratic, quadratic_space, run_loop,
)

from knobs.errors import ConfigError  # noqa: E402
from knobs.search import Random  # noqa: E402
from knobs.search._bayes import Bayes, _Coding  # noqa: E402
from knobs.search._gp import gp as gpm  # noqa: E402
from knobs.space import Choice, Float, Int, Space  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

BRANIN_MIN = 0.397887


def branin(c: dict) -> float:
    x1, x2 = c["x1"], c["x2"]
    return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


BRANIN = Space({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
def test_sampler_contract(check):
    check(lambda seed: Bayes(seed=seed))


def test_beats_random_search_on_branin_at_budget_30():
    gaps = {"bayes": [], "random": []}
    for seed in range(3):
        for name, sampler in (("bayes", Bayes(seed=seed)), ("random", Random(seed=seed))):
            trials = run_loop(sampler, BRANIN, steps=30, objective=branin)
            gaps[name].append(min(t.value for t in trials) - BRANIN_MIN)
    assert np.mean(gaps["bayes"]) < 0.05
    assert np.mean(gaps["bayes"]) < 0.2 * np.mean(gaps["random"])


def _gp_history(space: Space, n: int = 12, seed: int = 0) -> list[FrozenTrial]:
    return make_history(space, n, seed=seed)


def test_batch_and_running_trials_never_share_a_point():
    history = _gp_history(quadratic_space())
    running = [FrozenTrial(len(history) + i, c, TrialState.RUNNING)
               for i, c in enumerate(quadratic_space().sample(np.random.default_rng(9), 3))]
    configs = Bayes(seed=0).suggest(quadratic_space(), history + running, 4)
    assert len(configs) == 4
    keys = config_keys(configs)
    assert len(set(keys)) == 4 and not set(keys) & set(config_keys([t.config for t in running]))
    # the kriging believer spreads the batch out instead of stacking it on one optimum
    U = quadratic_space().to_unit_many(configs + [t.config for t in running])
    dist = np.linalg.norm(U[:, None] - U[None], axis=-1) + np.eye(len(U))
    assert dist.min() > 1e-3


def test_believer_moves_the_next_pick_away_from_a_running_trial():
    space, history = quadratic_space(), _gp_history(quadratic_space())
    first = Bayes(seed=1).suggest(space, history)[0]
    running = FrozenTrial(len(history), first, TrialState.RUNNING)
    second = Bayes(seed=1).suggest(space, history + [running])[0]
    assert config_keys([first]) != config_keys([second])


def test_batches_spread_where_the_gp_promises_an_improvement():
    # 8 points of a bowl: the GP predicts values below the best seen, where a believed result
    # used to leave EI = best - mean untouched and the rest of the batch landed on the first pick
    space = quadratic_space()
    for seed in range(10):
        U = space.to_unit_many(Bayes(seed=seed).suggest(space, _gp_history(space, 8, seed), 4))
        dist = np.linalg.norm(U[:, None] - U[None], axis=-1) + np.eye(4)
        assert dist.min() > 0.02, seed


def test_a_believed_improvement_becomes_the_incumbent_and_pins_the_gp_there():
    space = quadratic_space()
    history = _gp_history(space, 8, seed=1)
    sampler = Bayes(seed=1)
    X = space.to_unit_many([t.config for t in history])
    z = np.array([t.value for t in history])
    z = (z - z.mean()) / z.std()
    model = sampler._fit(X, z, _Coding(space), np.random.default_rng(0))
    u = space.to_unit_many([{"x": 0.3, "y": 0.3}])  # the bowl's centre, between the points
    mean, var = gpm.posterior(model, u)
    assert mean[0] < z.min()
    believed, best = sampler._believe(model, u, float(z.min()))
    assert best == pytest.approx(mean[0])
    assert gpm.posterior(believed, u)[1][0] < 1e-6 < var[0]


def test_running_trials_at_one_config_still_give_a_batch():
    space, history = quadratic_space(), _gp_history(quadratic_space())
    config = history[0].config
    running = [FrozenTrial(len(history) + i, dict(config), TrialState.RUNNING) for i in range(3)]
    assert len(Bayes(seed=0).suggest(space, history + running, 4)) == 4


def test_mixed_space_with_ints_choices_and_conditions_gives_valid_improving_configs():
    space = mixed_space()
    sampler = Bayes(seed=0, n_initial=6)
    trials = run_loop(sampler, space, steps=24)
    for t in trials:
        space.validate(t.config)
        assert isinstance(t.config["width"], int) and isinstance(t.config["layers"], int)
    gp_phase = [t.value for t in trials[6:]]
    design = [t.value for t in trials[:6]]
    assert min(gp_phase) < min(design)
    # the GP phase searched the conditional parameters too (no silent random fallback)
    assert any("momentum" in t.config for t in trials[6:])


def test_coding_snaps_ints_and_choices_and_parks_inactive_parameters():
    space = Space({"opt": Choice(["sgd", "adam"]), "m": Float(0.0, 1.0, when={"opt": "sgd"}),
                   "n": Int(1, 4), "lr": Float(1e-4, 1.0, log=True)})
    coding = _Coding(space)
    U, free = coding.canonical(np.array([[0.9, 0.3, 0.1, 0.5], [0.2, 0.3, 0.55, 0.5]]))
    # opt=adam -> m inactive at 0.5; n snaps to the bin centre of its value
    np.testing.assert_allclose(U[0], [0.75, 0.5, 0.125, 0.5])
    np.testing.assert_allclose(U[1], [0.25, 0.3, 0.625, 0.5])
    assert free.tolist() == [[False, False, True, True], [False, True, True, True]]
    for u in U:  # canonical points are exactly what the space encodes
        np.testing.assert_allclose(space.to_unit(space.from_unit(u)), u)


def test_nan_and_failed_values_never_reach_the_gp():
    space = quadratic_space()
    history = _gp_history(space)
    junk = [FrozenTrial(len(history), {"x": 0.9, "y": 0.9}, TrialState.COMPLETE, float("nan")),
            FrozenTrial(len(history) + 1, {"x": -0.9, "y": 0.9}, TrialState.COMPLETE, float("inf")),
            FrozenTrial(len(history) + 2, {"x": 0.9, "y": -0.9}, TrialState.FAILED, None)]
    a = Bayes(seed=3)
    configs = a.suggest(space, history + junk, 2)
    assert all(math.isfinite(v) for v in a._raw)
    space.validate(configs[0])


def test_maximize_finds_the_maximum():
    trials = run_loop(Bayes(seed=0), quadratic_space(), steps=20,
                      objective=lambda c: -quadratic(c), direction="maximize")
    assert max(t.value for t in trials) > -0.01  # maximum 0 at x = y = 0.3


@pytest.mark.parametrize("acquisition", ["ei", "pi", "ucb"])
@pytest.mark.parametrize("warp", ["power", "rank", "standardize"])
def test_every_acquisition_and_warp_converges_on_a_quadratic(acquisition, warp):
    trials = run_loop(Bayes(acquisition=acquisition, warp=warp, seed=0), quadratic_space(), steps=20)
    assert min(t.value for t in trials) < 0.02


def test_reproducible_and_state_round_trip_keeps_the_fitted_hyperparameters():
    space, history = quadratic_space(), _gp_history(quadratic_space())
    a = Bayes(seed=11)
    first = a.suggest(space, history)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["raw"] is not None and len(state["raw"]) == len(space) + 2
    b = Bayes(seed=None)
    b.load_state_dict(state)
    assert a.suggest(space, history, 2) == b.suggest(space, history, 2)
    assert Bayes(seed=11).suggest(space, history) == first


def test_initial_design_is_a_sobol_sequence_continued_across_calls():
    space = quadratic_space()
    sampler = Bayes(seed=0, n_initial=8)
    one_call = Bayes(seed=0, n_initial=8).suggest(space, [], 4)
    trials: list[FrozenTrial] = []
    for _ in range(4):
        [config] = sampler.suggest(space, trials)
        trials.append(FrozenTrial(len(trials), config, TrialState.RUNNING))
    assert [t.config for t in trials] == one_call


@pytest.mark.parametrize("kwargs, match", [
    ({"acquisition": "poi"}, "acquisition"), ({"warp": "log"}, "warp"), ({"xi": -1.0}, "xi"),
    ({"kappa": "2"}, "kappa"), ({"n_initial": 0}, "n_initial"), ({"n_candidates": 0}, "n_candidates"),
    ({"n_local": 1.5}, "n_local"), ({"seed": -3}, "seed"),
])
def test_bad_arguments_are_config_errors_at_first_use(kwargs, match):
    sampler = Bayes(**kwargs)  # the constructor only stores
    with pytest.raises(ConfigError, match=match):
        sampler.suggest(quadratic_space(), [])


def test_bad_state_is_a_config_error():
    with pytest.raises(ConfigError, match="missing"):
        Bayes().load_state_dict({"rng": {}})
    with pytest.raises(ConfigError, match="rng"):
        Bayes().load_state_dict({"rng": {"bit_generator": "nope"}, "design_seed": 1, "raw": None})


def _blas_threads_seen_by_the_fit(monkeypatch, sampler):
    from threadpoolctl import threadpool_info

    seen = []
    fit = Bayes._fit

    def spy(self, *args, **kwargs):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Bayes, "_fit", spy)
    space = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    trials = [FrozenTrial(number=i, config={"x": i / 10, "y": 1 - i / 10}, state=TrialState.COMPLETE,
                          value=(i / 10 - 0.3) ** 2) for i in range(8)]
    sampler.suggest(space, trials, 1)
    return seen[0]


def test_a_suggestion_runs_on_one_blas_thread_and_restores_the_callers_setting(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads_seen_by_the_fit(monkeypatch, Bayes(seed=0)) == {1}
        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {2}
        assert _blas_threads_seen_by_the_fit(monkeypatch, Bayes(seed=0, blas_threads=None)) == {2}


def test_blas_threads_must_be_a_positive_count():
    with pytest.raises(ConfigError, match="blas_threads"):
        Bayes(blas_threads=0).suggest(Space({"x": Float(0.0, 1.0)}), [], 1)


def test_the_fit_uses_the_instances_prior():
    """bench/bayes_levers.py tries GP priors by setting ``_prior`` on an instance."""
    from knobs.search._gp.gp import Prior

    space, history = quadratic_space(), _gp_history(quadratic_space())
    stiff = Bayes(seed=0)
    stiff._prior = Prior(ls_loc=float(np.log(5.0)), ls_scale=0.05)
    stiff.suggest(space, history)
    default = Bayes(seed=0)
    default.suggest(space, history)
    assert np.exp(stiff.state_dict()["raw"][:2]) == pytest.approx(5.0, rel=0.2)
    assert np.all(np.exp(default.state_dict()["raw"][:2]) < 2.0)


# ---- a flat axis is drawn at random, not run into a bound ------------------------------------------------------------

FLAT_SPACE = Space({"lr": Float(1e-4, 1e-1, log=True), "flat": Float(0.1, 10.0, log=True), "width": Int(16, 256),
                    "act": Choice(["relu", "tanh"])})


def _flat_loss(c: dict) -> float:
    """Decided by lr and width; ``flat`` does nothing, ``act`` little."""
    return (math.log10(c["lr"]) + 2.5) ** 2 + ((c["width"] - 100) / 200) ** 2 + 0.01 * (c["act"] == "tanh")


def _flat_run(sampler, n: int = 40) -> list[FrozenTrial]:
    trials: list[FrozenTrial] = []
    for i in range(n):
        config = sampler.suggest(FLAT_SPACE, trials)[0]
        trials.append(FrozenTrial(i, config, TrialState.COMPLETE, _flat_loss(config)))
    return trials


def test_fill_flat_redraws_only_the_axes_the_gp_holds_flat_at_the_point():
    from knobs.search._bayes import _fill_flat

    trials = Random(seed=0).suggest(FLAT_SPACE, [], n=60)
    coding = _Coding(FLAT_SPACE)
    X = coding.encode(FLAT_SPACE.to_unit_many(trials))
    y = np.array([_flat_loss(c) for c in trials])
    model = gpm.fit(X, (y - y.mean()) / y.std(), coding.is_cat, [gpm.default_raw(4)])
    u = coding.canonical(np.array([[0.5, 1.0, 0.35, 0.75]]))[0][0]  # flat on its upper bound
    rng = np.random.default_rng(0)
    filled = _fill_flat(model, coding, u, 0.05, rng)
    assert filled[1] != 1.0 and 0.0 <= filled[1] <= 1.0
    assert filled[0] == u[0] and filled[2] == u[2] and filled[3] == u[3]  # lr and width matter; a choice is never free
    assert np.array_equal(_fill_flat(model, coding, u, 0.0, rng), u)  # nothing is flatter than 0


def test_a_parameter_that_does_nothing_no_longer_sits_on_its_bounds():
    def on_bounds(trials):
        u = np.array([FLAT_SPACE["flat"].to_unit(t.config["flat"]) for t in trials[10:]])
        return int(((u < 0.01) | (u > 0.99)).sum())

    off = Bayes(seed=1)
    off._flat_fill = None  # as the acquisition puts it
    off_trials, filled_trials = _flat_run(off), _flat_run(Bayes(seed=1))
    assert Bayes._flat_fill == 0.05
    assert on_bounds(off_trials) >= 15 and on_bounds(filled_trials) <= 8  # of the 30 model-guided trials
    assert min(t.value for t in filled_trials) < 0.01  # and it still finds the optimum
