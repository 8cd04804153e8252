"""The screened-lever factories of bench/ (docs/benchmarks.md, "A larger acquisition search, and a floor under the
warp's lambda", "A pessimistic prior mean", "HEBO's acquisition ensemble"): each arm is the default Bayes but for the one thing it names, so a table compares what it says."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import bayes_acq_budget  # noqa: E402
import bayes_bound_gate  # noqa: E402
import bayes_flat_fill  # noqa: E402
import bayes_interleave  # noqa: E402
import bayes_linear  # noqa: E402
import bayes_mace  # noqa: E402
import bayes_prior_mean  # noqa: E402
import bayes_warp_floor  # noqa: E402
from knobs.search import Bayes, Random  # noqa: E402
from knobs.search._gp import transforms  # noqa: E402
from knobs.space import Choice, Float, Int, Space  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402


SMALL = Space({"x": Float(0.0, 1.0), "n": Int(1, 9)})


def small_run():
    """Eight finished trials on a float and an integer axis: enough for the GP to take over."""
    return [FrozenTrial(i, c, TrialState.COMPLETE, (c["x"] - 0.3) ** 2 + 0.01 * c["n"])
            for i, c in enumerate(SMALL.sample(np.random.default_rng(0), 8))]


def test_the_acquisition_budget_arms_change_only_their_budget():
    default = Bayes(seed=3)
    for factory, cand, local in ((bayes_acq_budget.cand8k, 8192, default.n_local),
                                 (bayes_acq_budget.local30, default.n_candidates, 30),
                                 (bayes_acq_budget.wide, 8192, 30)):
        arm = factory(seed=3)
        assert (arm.n_candidates, arm.n_local, arm.warp, arm.xi, arm.seed) == (cand, local, "power", default.xi, 3)
    SMALL.validate(bayes_acq_budget.cand8k(seed=0).suggest(SMALL, small_run())[0])  # raises on a config outside it


def test_the_warp_floor_keeps_lambdas_above_it_and_clips_those_below():
    floored = transforms.WARPS["power_floor_m1"]
    mild = np.random.default_rng(0).gamma(4.0, size=30)  # a mild skew: the likelihood's lambda is above -1
    assert transforms._yeojohnson_lambda(transforms.standardize(mild)) > -1.0
    np.testing.assert_array_equal(floored(mild), transforms.power_warp(mild))
    diverged = np.r_[np.linspace(0.19, 0.23, 30), 2.4, 2.5, 2.45]  # good losses close together, a diverged tail
    z = transforms.standardize(diverged)
    assert transforms._yeojohnson_lambda(z) < -1.0
    expected = transforms.standardize(scipy.stats.yeojohnson(z, lmbda=-1.0))
    np.testing.assert_allclose(floored(diverged), expected)
    assert list(np.argsort(floored(diverged), kind="stable")) == list(np.argsort(diverged, kind="stable"))
    assert bayes_warp_floor.floor_m1(seed=1).warp == "power_floor_m1"
    assert bayes_warp_floor.floor0(seed=1).warp == "power_floor0"
    assert not floored(np.full(4, 2.0)).any()


def test_the_pessimistic_prior_mean_shifts_the_warped_losses_so_their_upper_quartile_is_zero():
    y = np.random.default_rng(1).gamma(2.0, size=40)
    shifted = transforms.WARPS["power_q75"](y)
    assert abs(np.quantile(shifted, 0.75)) < 1e-12
    np.testing.assert_allclose(shifted - transforms.power_warp(y), shifted[0] - transforms.power_warp(y)[0])
    assert abs(np.quantile(transforms.WARPS["power_q60"](y), 0.60)) < 1e-12
    assert bayes_prior_mean.q60(seed=2).warp == "power_q60"
    arm = bayes_prior_mean.q75(seed=2)
    assert arm.warp == "power_q75"
    suggestion = arm.suggest(SMALL, small_run())[0]
    SMALL.validate(suggestion)
    assert suggestion != Bayes(seed=2).suggest(SMALL, small_run())[0]  # the shift is a different prior, not a no-op


def test_the_late_pessimistic_prior_mean_is_the_default_warp_before_its_40th_result_and_the_shifted_one_after():
    late = transforms.WARPS["power_q75_late"]
    y = np.random.default_rng(3).gamma(2.0, size=60)
    np.testing.assert_array_equal(late(y[:39]), transforms.power_warp(y[:39]))
    np.testing.assert_array_equal(late(y[:40]), transforms.WARPS["power_q75"](y[:40]))
    assert bayes_prior_mean.q75_late(seed=0).warp == "power_q75_late"


def test_std_late_is_the_power_warp_before_the_40th_result_and_standardized_from_it():
    warp = transforms.WARPS["power_then_std40"]
    y = np.random.default_rng(4).gamma(2.0, size=60)
    np.testing.assert_array_equal(warp(y[:39]), transforms.power_warp(y[:39]))
    np.testing.assert_array_equal(warp(y[:40]), transforms.standardize(y[:40]))
    assert bayes_warp_floor.std_late(seed=0).warp == "power_then_std40"


def test_the_linear_arm_fits_a_linear_term_and_only_that_differs():
    arm = bayes_linear.linear(seed=2)
    assert arm._prior.linear and not Bayes._prior.linear  # on the instance, not the class
    suggestion = arm.suggest(SMALL, small_run())[0]
    SMALL.validate(suggestion)
    assert len(arm._raw) == len(SMALL) + 3 and np.exp(arm._raw[-1]) > 0  # its fit holds the linear variance
    assert suggestion != Bayes(seed=2).suggest(SMALL, small_run())[0]


def test_the_bound_gate_is_pessimistic_only_while_the_best_configuration_is_inside_the_box():
    assert bayes_bound_gate.on_bound(SMALL, {"x": 0.5, "n": 9}) and bayes_bound_gate.on_bound(SMALL, {"x": 0.995, "n": 5})
    assert not bayes_bound_gate.on_bound(SMALL, {"x": 0.5, "n": 5})
    edge = small_run()  # its best, x = 0.04 with n = 1, sits on n's lower bound
    assert bayes_bound_gate.on_bound(SMALL, min(edge, key=lambda t: t.value).config)
    gated = bayes_bound_gate.gated(seed=2)
    assert gated.suggest(SMALL, edge)[0] == Bayes(seed=2).suggest(SMALL, edge)[0]  # the default's, bit for bit
    assert gated.warp == "power"
    inside = [FrozenTrial(t.number, {"x": 0.3, "n": 4}, t.state, 0.0) if t.value == min(u.value for u in edge) else t
              for t in edge]  # now the best lies inside the box
    suggestion = gated.suggest(SMALL, inside)[0]
    SMALL.validate(suggestion)
    assert gated.warp == "power_q75" and suggestion != Bayes(seed=2).suggest(SMALL, inside)[0]


def test_the_flat_fill_arms_set_only_the_fill():
    assert bayes_flat_fill.flat_fill(seed=1)._flat_fill == bayes_flat_fill.TOL == Bayes._flat_fill
    assert bayes_flat_fill.no_fill(seed=1)._flat_fill is None and Bayes(seed=1)._flat_fill == 0.05


def test_the_pareto_front_keeps_exactly_the_rows_nothing_beats_on_every_column():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(60, 3))
    front = set(bayes_mace.pareto_front(scores).tolist())
    for i in range(60):
        beaten = any((scores[j] >= scores[i]).all() and (scores[j] > scores[i]).any() for j in range(60))
        assert (i in front) == (not beaten)
    assert bayes_mace.pareto_front(np.ones((4, 3))).tolist() == [0, 1, 2, 3]  # ties dominate nothing


def test_hebo_kappa_grows_with_the_trials_and_the_dimension():
    assert bayes_mace.hebo_kappa(40, 7) > bayes_mace.hebo_kappa(10, 7) > bayes_mace.hebo_kappa(10, 2) > 0


def test_the_mace_arm_draws_from_a_three_acquisition_front_inside_the_space_and_repeats_with_its_seed():
    trials = small_run()
    seen = []
    real = bayes_mace.pareto_front

    def spy(scores):
        seen.append(scores.shape[1])
        return real(scores)

    bayes_mace.pareto_front = spy
    try:
        configs = bayes_mace.mace(seed=4).suggest(SMALL, trials, n=2)
    finally:
        bayes_mace.pareto_front = real
    assert seen == [3, 3] and len(configs) == 2
    assert all(0.0 <= c["x"] <= 1.0 and 1 <= c["n"] <= 9 for c in configs)
    assert bayes_mace.mace(seed=4).suggest(SMALL, trials, n=2) == configs


def test_mace_in_conditional_spaces_only_is_the_default_elsewhere():
    trials = small_run()
    assert bayes_mace.mace_cond(seed=5).suggest(SMALL, trials, n=2) == Bayes(seed=5).suggest(SMALL, trials, n=2)
    conditional = Space({"kind": Choice(["a", "b"]), "x": Float(0.0, 1.0, when={"kind": "a"}), "n": Int(1, 9)})
    rows = [FrozenTrial(i, c, TrialState.COMPLETE, c.get("x", 0.5) + 0.01 * c["n"])
            for i, c in enumerate(conditional.sample(np.random.default_rng(1), 8))]
    seen = []
    real = bayes_mace.pareto_front
    bayes_mace.pareto_front = lambda scores: seen.append(scores.shape) or real(scores)
    try:
        config = bayes_mace.mace_cond(seed=5).suggest(conditional, rows)[0]
    finally:
        bayes_mace.pareto_front = real
    assert len(seen) == 1 and seen[0][1] == 3
    conditional.validate(config)


def test_the_interleaved_arm_is_bayes_but_on_every_kth_turn_past_the_design_where_it_is_random():
    trials = small_run()  # 8 results: past the design of a 2-D space (4 points)
    arm = bayes_interleave.every5(seed=3)
    turns = [n for n in range(20) if arm.is_random_turn(SMALL, n)]
    assert turns == [4, 9, 14, 19]
    assert arm.suggest(SMALL, trials[:8]) == Bayes(seed=3).suggest(SMALL, trials[:8])
    seven = trials[:7]  # a Bayes turn too
    assert bayes_interleave.every5(seed=3).suggest(SMALL, seven) == Bayes(seed=3).suggest(SMALL, seven)
    nine = trials + [FrozenTrial(8, {"x": 0.5, "n": 2}, TrialState.COMPLETE, 0.05)]
    assert bayes_interleave.every5(seed=3).suggest(SMALL, nine) == Random(seed=3 + 10_000).suggest(SMALL, nine)
    assert bayes_interleave.every10(seed=3).is_random_turn(SMALL, 9)
