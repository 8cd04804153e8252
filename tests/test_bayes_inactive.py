"""Bayes(inactive="arc"): a conditional parameter, where inactive, is its own state for the GP.

Why it exists (docs/benchmarks.md, "Bayes on the text family: why it trailed"): with the inactive
value parked at the centre of the axis, the ends of a conditional range are the points farthest
from every trial that lacks the parameter, so the GP is most unsure there and EI kept proposing
them (SST-2's elastic net at l1_ratio 0 or 1, trial after trial).
"""

from __future__ import annotations

import numpy as np
import pytest

from knobs.errors import ConfigError
from knobs.search._bayes import Bayes, _Coding
from knobs.search._gp import gp as gpm
from knobs.search._gp import kernel
from knobs.space import Choice, Float, Space
from knobs.trial import FrozenTrial, TrialState

# penalty: 3 options; l1_ratio active only for "elasticnet"; alpha always.
SPACE = Space({"penalty": Choice(["l2", "l1", "elasticnet"]),
               "l1_ratio": Float(0.0, 1.0, when={"penalty": "elasticnet"}),
               "alpha": Float(1e-6, 1e-1, log=True)})


def _points(n: int, seed: int) -> np.ndarray:
    """n canonical points of SPACE, a third of them with l1_ratio inactive... or active."""
    rng = np.random.default_rng(seed)
    return SPACE.to_unit_many(SPACE.sample(rng, n))


def test_an_inactive_value_is_equally_far_from_every_active_one_and_zero_from_another_inactive():
    a = np.array([np.nan, 0.0, 0.5, 1.0])
    D = kernel.arc_sq_dist(a, a)
    np.testing.assert_allclose(D[0, 1:], kernel.ARC_RADIUS**2)  # the same for 0, 0.5 and 1
    assert D[0, 0] == 0.0 and np.all(np.diag(D) == 0.0)
    assert D[1, 3] == pytest.approx(2 * 0.25 * (1 - np.cos(2.0)))  # the chord across the range
    C = kernel.arc_sq_dist(np.array([np.nan, 0.25]), np.array([np.nan, 0.25, 0.75]), categorical=True)
    np.testing.assert_array_equal(C, [[0, 1, 1], [1, 0, 1]])


def test_the_kernel_stays_positive_definite_and_the_fast_distances_agree():
    coding = _Coding(SPACE, arc=True)
    X = coding.for_gp(_points(60, 0))
    assert np.isnan(X[:, 1]).any() and not np.isnan(X[:, [0, 2]]).any()
    # a long lengthscale on the parent: a rule "one inactive = no distance" would be indefinite here
    inv_ls2 = np.array([0.05, 400.0, 1.0])
    K = kernel.kernel_matrix(X, X, coding.is_cat, inv_ls2, 1.0, coding.gp_cond)
    assert np.linalg.eigvalsh(K).min() > -1e-10
    r2 = kernel.scaled_sq_dists(X, X[:9], coding.is_cat, inv_ls2, coding.gp_cond)
    D = kernel.sq_dists(X, X[:9], coding.is_cat, coding.gp_cond)
    np.testing.assert_allclose(r2, D @ inv_ls2, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(D[:, :, 1], kernel.arc_sq_dist(X[:, 1], X[:9, 1]), atol=1e-12)


def test_a_conditional_choice_is_hamming_with_inactive_as_one_more_option():
    space = Space({"model": Choice(["knn", "svc"]), "weights": Choice(["u", "d"], when={"model": "knn"})})
    coding = _Coding(space, arc=True)
    U = coding.for_gp(space.to_unit_many([{"model": "svc"}, {"model": "svc"},
                                          {"model": "knn", "weights": "u"}, {"model": "knn", "weights": "d"}]))
    D = kernel.sq_dists(U, U, coding.is_cat, coding.gp_cond)[:, :, 1]
    np.testing.assert_array_equal(D, [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 0]])
    r2 = kernel.scaled_sq_dists(U, U, coding.is_cat, np.array([2.0, 3.0]), coding.gp_cond)
    np.testing.assert_allclose(r2, kernel.sq_dists(U, U, coding.is_cat, coding.gp_cond) @ [2.0, 3.0])


def test_posterior_gradient_on_an_arc_axis_matches_finite_differences():
    coding = _Coding(SPACE, arc=True)
    U = _points(30, 1)
    y = np.sin(4 * U[:, 2]) + np.where(coding.for_gp(U)[:, 1] > 0.5, 1.0, 0.0)
    model = gpm.fit(coding.for_gp(U), (y - y.mean()) / y.std(), coding.is_cat,
                    [gpm.default_raw(3)], is_cond=coding.gp_cond)
    Q = np.column_stack([np.full(5, 5 / 6), np.linspace(0.05, 0.95, 5), np.linspace(0.1, 0.9, 5)])
    mean, var, dmean, dvar = gpm.posterior_grad(model, coding.for_gp(Q))
    eps = 1e-6
    for j in (1, 2):
        step = Q.copy()
        step[:, j] += eps
        m1, v1 = gpm.posterior(model, coding.for_gp(step))
        np.testing.assert_allclose((m1 - mean) / eps, dmean[:, j], atol=1e-4)
        np.testing.assert_allclose((v1 - var) / eps, dvar[:, j], atol=1e-4)
    inactive = coding.for_gp(np.column_stack([np.full(3, 1 / 6), np.full(3, 0.5), Q[:3, 2]]))
    assert all(np.all(np.isfinite(part)) for part in gpm.posterior_grad(model, inactive))


@pytest.mark.parametrize("inactive, ends_apart", [("centre", True), ("arc", False)])
def test_after_trials_that_lack_the_parameter_its_ends_are_no_less_known_than_its_middle(inactive, ends_apart):
    """Only l2 / l1 trials so far: how unsure is the GP about elastic net at l1_ratio 0, 0.5, 1?"""
    coding = _Coding(SPACE, arc=inactive == "arc")
    rng = np.random.default_rng(2)
    U = SPACE.to_unit_many([{"penalty": p, "alpha": float(a)}
                            for p, a in zip(["l2", "l1"] * 6, 10 ** rng.uniform(-6, -1, 12))])
    y = rng.normal(size=12)
    raw = np.log([0.5, 0.3, 0.3, 1.0, 1e-4])
    model = gpm._factor(coding.for_gp(U), y, coding.is_cat, raw, coding.gp_cond)
    Q = np.array([[5 / 6, r, 0.5] for r in (0.0, 0.5, 1.0)])
    _, var = gpm.posterior(model, coding.for_gp(Q))
    assert (var[0] - var[1] > 1e-3) == ends_apart and (var[2] - var[1] > 1e-3) == ends_apart
    if not ends_apart:
        np.testing.assert_allclose(var, var[1], rtol=1e-12)


def test_arc_sampler_searches_the_conditional_parameter_and_gives_valid_configs():
    sampler, trials = Bayes(seed=0, inactive="arc"), []
    for i in range(16):
        config = sampler.suggest(SPACE, trials)[0]
        SPACE.validate(config)
        value = np.log10(config["alpha"]) ** 2 + (abs(config["l1_ratio"] - 0.3)
                                                 if "l1_ratio" in config else 1.0)
        trials.append(FrozenTrial(i, config, TrialState.COMPLETE, float(value)))
    gp_phase = [t.config for t in trials[sampler._n_initial(len(SPACE)):]]
    assert any("l1_ratio" in c for c in gp_phase)
    assert min(t.value for t in trials[6:]) < min(t.value for t in trials[:4])


def test_without_conditions_or_by_default_the_gp_sees_the_unit_cube_unchanged():
    U = _points(8, 3)
    assert _Coding(SPACE).for_gp(U) is U and _Coding(SPACE).gp_cond is None
    plain = Space({"x": Float(0.0, 1.0), "c": Choice(["a", "b"])})
    assert _Coding(plain, arc=True).gp_cond is None


def test_an_unknown_inactive_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="inactive"):
        Bayes(inactive="zero").suggest(SPACE, [])
