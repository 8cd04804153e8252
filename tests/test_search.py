"""knobs.search: the sampler contract over Grid, Random, Sobol and CoarseToFine, then each one."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import qmc

sys.path.insert(0, str(Path(__file__).parent))
from sampler_contract import (  # noqa: E402
    CONTRACT_CHECKS, check_sampler_contract, config_keys, run_loop, small_discrete_space,
)

from knobs.errors import ConfigError, SpaceError  # noqa: E402
from knobs.search import CoarseToFine, Grid, Random, Sampler  # noqa: E402
from knobs.search._base import completed_losses, config_key  # noqa: E402
from knobs.search._coarse_to_fine import (  # noqa: E402
    choice_bins, into_box, round_of, round_sizes, search_box, shrink_box,
)
from knobs.search._random import sobol_points  # noqa: E402
from knobs.space import Choice, Float, Int, Space  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

SAMPLERS = {
    "grid": lambda seed: Grid(points_per_axis=5),
    "grid-shuffled": lambda seed: Grid(points_per_axis=4, shuffle=True, seed=seed),
    "random": lambda seed: Random(seed=seed),
    "sobol": lambda seed: Random(seed=seed, qmc=True),
    "coarse-to-fine": lambda seed: CoarseToFine(seed=seed),
    "coarse-to-fine-fast": lambda seed: CoarseToFine(rounds=3, per_round=3, top_k=2, seed=seed,
                                                     qmc=False),
}


@pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_contract(name, check):
    check(SAMPLERS[name])


def test_contract_runner_and_skip():
    check_sampler_contract(SAMPLERS["random"], skip=("check_state_round_trip",))
    with pytest.raises(AssertionError, match="unknown contract checks"):
        check_sampler_contract(SAMPLERS["random"], skip=("check_typo",))


def test_contract_catches_a_broken_sampler():
    class Repeats(Sampler):  # ignores running trials: always the first grid point
        def suggest(self, space, trials, n=1, *, direction="minimize"):
            return [space.grid(2)[0]] * n

    for check in ("check_running_not_repeated", "check_batch_is_distinct"):
        with pytest.raises(AssertionError):
            dict((c.__name__, c) for c in CONTRACT_CHECKS)[check](lambda seed: Repeats())


def complete(number: int, config: dict, value: float = 1.0) -> FrozenTrial:
    return FrozenTrial(number, config, TrialState.COMPLETE, value)


# -- base helpers --------------------------------------------------------------------------

def test_completed_losses_keeps_finite_complete_results_only():
    space = Space({"x": Float(0, 1)})
    trials = [complete(0, {"x": 0.1}, 3.0), complete(1, {"x": 0.2}, float("nan")),
              FrozenTrial(2, {"x": 0.3}, TrialState.FAILED), complete(3, {"x": 2.0}, 1.0),
              FrozenTrial(4, {"x": 0.4}, TrialState.PRUNED, 0.5), complete(5, {"x": 0.5}, -2.0)]
    assert completed_losses(trials, "minimize", space) == [({"x": 0.1}, 3.0), ({"x": 0.5}, -2.0)]
    assert completed_losses(trials, "maximize", space) == [({"x": 0.1}, -3.0), ({"x": 0.5}, 2.0)]
    assert len(completed_losses(trials, "minimize")) == 3  # no space: {"x": 2.0} is kept


def test_config_key_survives_json_and_separates_types():
    config = {"lr": 10**-2.5, "n": 3, "flag": True, "act": None, "name": "sgd"}
    assert config_key(json.loads(json.dumps(config))) == config_key(config)
    assert config_key({"n": 3}) == config_key({"n": 3.0})
    assert config_key({"f": True}) != config_key({"f": 1})
    assert config_key({"a": 1, "b": 2}) == config_key({"b": 2, "a": 1})


def test_constructors_store_arguments_and_repr():
    sampler = CoarseToFine(rounds=0, shrink=7)  # validated at first use, not here
    assert sampler.rounds == 0 and sampler.shrink == 7
    assert repr(Random(seed=3, qmc=True)) == "Random(seed=3, qmc=True)"
    assert repr(Grid()) == "Grid(points_per_axis=5, shuffle=False, seed=None)"


@pytest.mark.parametrize("sampler, match", [
    (Random(seed=-1), "seed must be None or an integer >= 0"),
    (Random(seed=1.5), "seed must be None or an integer >= 0"),
    (Random(qmc="yes"), "qmc must be True or False"),
    (Grid(shuffle=1), "shuffle must be True or False"),
    (Grid(shuffle=True, seed="a"), "seed must be None or an integer"),
    (CoarseToFine(rounds=0), r"rounds must be an integer in \[1, inf\]"),
    (CoarseToFine(rounds=2.0), "rounds must be an integer"),
    (CoarseToFine(per_round=0), "per_round must be an integer"),
    (CoarseToFine(top_k=0), "top_k must be an integer"),
    (CoarseToFine(shrink=0.0), r"shrink must be a number in \(0.0, 1.0\]"),
    (CoarseToFine(shrink=1.5), "shrink must be a number"),
    (CoarseToFine(qmc=None), "qmc must be True or False"),
])
def test_bad_arguments_fail_at_first_use(sampler, match):
    space = Space({"x": Float(0, 1)})
    with pytest.raises(ConfigError, match=match):
        sampler.suggest(space, [])


@pytest.mark.parametrize("sampler, state, match", [
    (Grid(), {"seed": -3}, "bad Grid state"),
    (Random(), {"rng": 3}, "bad sampler state"),
    (CoarseToFine(), {"rng": {"bit_generator": "MT19937"}, "sobol_seed": 1, "drawn": 0},
     "bad sampler state"),
])
def test_bad_state(sampler, state, match):
    with pytest.raises(ConfigError, match=match):
        sampler.load_state_dict(state)


# -- Grid ----------------------------------------------------------------------------------

def test_grid_walks_the_grid_then_runs_out():
    space = Space({"opt": Choice(["sgd", "adam"]), "lr": Float(1e-3, 1e-1, log=True)})
    grid = Grid(points_per_axis=3)
    trials: list[FrozenTrial] = []
    batches = []
    while batch := grid.suggest(space, trials, n=4):
        batches.append(len(batch))
        trials += [FrozenTrial(len(trials), c, TrialState.RUNNING) for c in batch]
    assert batches == [4, 2]
    assert config_keys([t.config for t in trials]) == config_keys(space.grid(3))
    assert grid.suggest(space, trials, 3) == []


def test_grid_skips_points_held_in_any_state_even_after_json():
    space = Space({"x": Float(0, 1), "n": Int(1, 2)})
    points = space.grid(3)
    stored = json.loads(json.dumps(points[:3]))  # as a database would give them back
    trials = [FrozenTrial(0, stored[0], TrialState.FAILED),
              FrozenTrial(1, stored[1], TrialState.PRUNED, 0.3),
              FrozenTrial(2, stored[2], TrialState.COMPLETE, 0.1),
              FrozenTrial(3, {"x": 0.123, "n": 1}, TrialState.COMPLETE, 0.1)]  # not a grid point
    assert Grid(points_per_axis=3).suggest(space, trials, 10) == points[3:]


def test_grid_shuffle_is_a_seeded_permutation():
    space = Space({"a": Int(0, 4), "b": Choice(["x", "y", "z"])})
    ordered = Grid(5).suggest(space, [], 15)
    shuffled = Grid(5, shuffle=True, seed=1).suggest(space, [], 15)
    assert sorted(config_keys(shuffled)) == sorted(config_keys(ordered))
    assert shuffled != ordered
    assert Grid(5, shuffle=True, seed=1).suggest(space, [], 15) == shuffled
    assert Grid(5, shuffle=True, seed=2).suggest(space, [], 15) != shuffled
    # seed=None: the drawn permutation is kept in the state, so a resume keeps the order
    first = Grid(5, shuffle=True)
    batch = first.suggest(space, [], 5)
    resumed = Grid(5, shuffle=True)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    trials = [FrozenTrial(i, c) for i, c in enumerate(batch)]
    assert resumed.suggest(space, trials, 5) == first.suggest(space, trials, 5)


def test_grid_points_per_axis_dict_and_errors():
    space = Space({"x": Float(0, 1), "n": Int(0, 10)})
    assert len(Grid({"x": 2, "n": 3}).suggest(space, [], 100)) == 6
    with pytest.raises(SpaceError, match="no entry for numeric parameter"):
        Grid({"x": 2}).suggest(space, [])
    with pytest.raises(SpaceError, match="points_per_axis must be an integer"):
        Grid(0).suggest(space, [])


def test_grid_follows_a_changed_space():
    grid = Grid(2)
    assert grid.suggest(Space({"x": Float(0, 1)}), [], 5) == [{"x": 0.0}, {"x": 1.0}]
    assert grid.suggest(Space({"y": Int(3, 4)}), [], 5) == [{"y": 3}, {"y": 4}]


# -- Random --------------------------------------------------------------------------------

def test_random_follows_the_prior():
    space = Space({"lr": Float(1e-4, 1e-1, log=True), "n": Int(1, 4)})
    configs = Random(seed=0).suggest(space, [], 2000)
    lr = np.array([c["lr"] for c in configs])
    assert abs(np.log10(np.median(lr)) + 2.5) < 0.06
    counts = np.bincount([c["n"] for c in configs])[1:]
    assert counts.min() > 400


def test_random_equals_space_sample_with_the_same_generator():
    space = Space({"lr": Float(1e-4, 1e-1, log=True), "opt": Choice(["a", "b"])})
    assert Random(seed=4).suggest(space, [], 5) == space.sample(np.random.default_rng(4), 5)


def test_sobol_sequence_continues_across_calls_and_resume():
    space = Space({"x": Float(0, 1), "y": Float(0, 1)})
    one_call = Random(seed=3, qmc=True).suggest(space, [], 8)
    sampler = Random(seed=3, qmc=True)
    first = sampler.suggest(space, [], 3)
    resumed = Random(qmc=True)
    resumed.load_state_dict(json.loads(json.dumps(sampler.state_dict())))
    rest = resumed.suggest(space, [], 5)
    assert first + rest == one_call
    # and it is the scrambled Sobol sequence itself, decoded by from_unit
    seed = Random(seed=3, qmc=True).state_dict()["sobol_seed"]
    expected = [space.from_unit(u) for u in sobol_points(2, seed, 0, 8)]
    assert one_call == expected


def test_sobol_covers_the_cube_more_evenly_than_random():
    space = Space({f"x{i}": Float(0, 1) for i in range(4)})

    def discrepancy(sampler):
        return qmc.discrepancy(space.to_unit_many(sampler.suggest(space, [], 64)))

    sobol = np.mean([discrepancy(Random(seed=s, qmc=True)) for s in range(3)])
    plain = np.mean([discrepancy(Random(seed=s)) for s in range(3)])
    assert sobol < 0.5 * plain


def test_random_avoids_taken_points_then_repeats_when_exhausted():
    space = small_discrete_space()  # 12 points
    taken = space.grid(4)[:9]
    trials = [FrozenTrial(i, c, TrialState.RUNNING) for i, c in enumerate(taken)]
    free = Random(seed=0).suggest(space, trials, 3)
    assert sorted(config_keys(free)) == sorted(config_keys(space.grid(4)[9:]))
    trials += [FrozenTrial(9 + i, c, TrialState.COMPLETE, 1.0) for i, c in enumerate(free)]
    again = Random(seed=0).suggest(space, trials, 2)  # nothing left: repeats, still valid
    assert len(again) == 2
    for config in again:
        space.validate(config)


# -- CoarseToFine: box math ----------------------------------------------------------------

def test_round_schedule():
    assert [round_of(i, 10, 3) for i in (0, 9, 10, 19, 20, 99)] == [0, 0, 1, 1, 2, 2]
    assert round_sizes(8, 5, 10, 3) == [(0, 2), (1, 3)]
    assert round_sizes(28, 4, 10, 3) == [(2, 4)]
    assert round_sizes(0, 0, 10, 3) == []


def test_shrink_box_pads_shifts_and_clips():
    points = np.array([[0.4, 0.1, np.nan], [0.6, 0.0, np.nan]])
    lo, hi = shrink_box(points, 0.25)
    np.testing.assert_allclose(lo, [0.275, 0.0, 0.0])
    # column 1 spans [-0.125, 0.225] and is shifted inside, keeping its width; column 2 has
    # no active point and keeps the whole axis
    np.testing.assert_allclose(hi, [0.725, 0.35, 1.0])
    lo, hi = shrink_box(np.array([[0.5], [0.5]]), 0.5)
    np.testing.assert_allclose([lo[0], hi[0]], [0.25, 0.75])
    lo, hi = shrink_box(np.array([[0.0], [1.0]]), 0.5)  # wider than the cube: all of it
    np.testing.assert_allclose([lo[0], hi[0]], [0.0, 1.0])
    lo, hi = shrink_box(np.array([[0.95]]), 0.2)
    np.testing.assert_allclose([lo[0], hi[0]], [0.8, 1.0])
    lo, hi = shrink_box(np.empty((0, 2)), 0.1)
    np.testing.assert_array_equal(np.stack([lo, hi]), [[0, 0], [1, 1]])


def test_choice_bins_and_into_box():
    assert choice_bins(np.array([0.1, 0.9, np.nan, 0.15]), 3).tolist() == [0, 2]
    assert choice_bins(np.array([np.nan]), 3).tolist() == [0, 1, 2]
    u = np.array([[0.0, 0.0], [0.5, 0.49], [1.0, 0.99]])
    x = into_box(u, np.array([0.2, 0.0]), np.array([0.4, 1.0]), {1: (3, np.array([0, 2]))})
    np.testing.assert_allclose(x[:, 0], [0.2, 0.3, 0.4])
    np.testing.assert_allclose(x[:, 1], [1 / 6, 1 / 6, 5 / 6])  # bin centres of options 0, 2


def test_search_box_on_a_conditional_space():
    space = Space({"opt": Choice(["sgd", "adam", "rmsprop"]),
                   "momentum": Float(0.0, 1.0, when={"opt": "sgd"}),
                   "lr": Float(1e-4, 1e-0, log=True)})
    top = [{"opt": "adam", "lr": 1e-3}, {"opt": "sgd", "momentum": 0.9, "lr": 1e-2}]
    lo, hi, choices = search_box(space, top, 0.25)
    assert choices == {0: (3, pytest.approx([0, 1]))}
    assert (lo[0], hi[0]) == (0.0, 1.0)
    np.testing.assert_allclose([lo[1], hi[1]], [0.75, 1.0])  # only the sgd trial has momentum
    np.testing.assert_allclose([lo[2], hi[2]], [0.25 - 0.125, 0.5 + 0.125])


# -- CoarseToFine: behaviour ---------------------------------------------------------------

def bowl(config: dict) -> float:
    return (config["x"] - 0.3) ** 2 + (config["y"] + 0.4) ** 2


BOWL = Space({"x": Float(-1.0, 1.0), "y": Float(-1.0, 1.0)})


def distance(config: dict) -> float:
    return math.hypot(config["x"] - 0.3, config["y"] + 0.4)


def test_coarse_to_fine_concentrates_on_the_optimum():
    trials = run_loop(CoarseToFine(rounds=4, per_round=10, seed=0), BOWL, steps=50, objective=bowl)
    by_round = [np.mean([distance(t.config) for t in trials[lo:lo + 10]]) for lo in (0, 10, 20, 30)]
    assert by_round[3] < 0.35 * by_round[0], by_round
    assert by_round[1] < by_round[0] and by_round[2] < by_round[1], by_round
    # the last round never ends: trials 40..49 stay in the finest box
    assert max(distance(t.config) for t in trials[40:]) < 0.4


def test_coarse_to_fine_beats_random_for_the_same_budget():
    def best(sampler):
        return min(t.value for t in run_loop(sampler, BOWL, steps=30, objective=bowl))

    c2f = [best(CoarseToFine(per_round=10, seed=s)) for s in range(10)]
    rnd = [best(Random(seed=s)) for s in range(10)]
    assert np.median(c2f) < 0.6 * np.median(rnd), (c2f, rnd)  # measured: 0.39x
    assert sum(a < b for a, b in zip(c2f, rnd)) >= 7  # measured: 8 of 10


def test_coarse_to_fine_maximize_finds_the_top():
    trials = run_loop(CoarseToFine(seed=1), BOWL, steps=30, objective=lambda c: -bowl(c),
                      direction="maximize")
    assert np.mean([distance(t.config) for t in trials[20:]]) < 0.5 * np.mean(
        [distance(t.config) for t in trials[:10]])


def test_coarse_to_fine_restricts_choices_to_the_top_trials():
    space = Space({"opt": Choice(["sgd", "adam", "rmsprop"]), "x": Float(0, 1)})
    history = [complete(i, {"opt": o, "x": x}, v) for i, (o, x, v) in enumerate(
        [("sgd", 0.1, 5.0), ("adam", 0.2, 0.1), ("rmsprop", 0.3, 0.2), ("sgd", 0.4, 9.0),
         ("adam", 0.5, 0.3), ("rmsprop", 0.6, 0.4)])]
    configs = CoarseToFine(per_round=6, top_k=2, seed=0).suggest(space, history, 20)
    assert {c["opt"] for c in configs} == {"adam", "rmsprop"}
    x = [c["x"] for c in configs]
    assert min(x) >= 0.0 and max(x) <= 0.6 + 1e-12  # [0.2 - 0.25, 0.3 + 0.25] shifted inside


def test_coarse_to_fine_without_results_samples_everywhere():
    running = [FrozenTrial(i, {"x": 0.0, "y": 0.0}) for i in range(25)]  # round 2, no results
    configs = CoarseToFine(seed=0).suggest(BOWL, running, 40)
    x = np.array([c["x"] for c in configs])
    assert x.min() < -0.7 and x.max() > 0.7


def test_coarse_to_fine_state_continues_the_sobol_stream():
    a = CoarseToFine(seed=2)
    trials = run_loop(a, BOWL, steps=12, objective=bowl)
    b = CoarseToFine(seed=2)
    b.load_state_dict(a.state_dict())
    assert a.state_dict()["drawn"] >= 12
    assert a.suggest(BOWL, trials, 3) == b.suggest(BOWL, trials, 3)
