"""The GP math in knobs.search._gp, checked against references (scipy, scikit-learn, Monte Carlo)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from knobs.search._gp import acquisition as acq
from knobs.search._gp import gp as gpm
from knobs.search._gp import kernel, optimize, transforms


def _data(n: int = 25, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    X[:, 2] = (rng.integers(0, 3, n) + 0.5) / 3  # a categorical axis: bin centres of 3 options
    is_cat = np.array([False, False, True])
    y = np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.5 * (X[:, 2] > 0.5)
    return X, transforms.standardize(y), is_cat


# -- kernel -------------------------------------------------------------------------------

def test_kernel_is_positive_definite_and_unit_at_zero():
    X, _, is_cat = _data()
    K = kernel.kernel_matrix(X, X, is_cat, np.array([4.0, 1.0, 2.0]), 1.7)
    np.testing.assert_allclose(K, K.T)
    np.testing.assert_allclose(np.diag(K), 1.7)
    assert np.linalg.eigvalsh(K).min() > 0
    assert kernel.matern52(np.zeros(1))[0] == 1.0


def test_matern_derivative_matches_finite_differences():
    r2 = np.linspace(0.0, 9.0, 50)
    eps = 1e-7
    fd = (kernel.matern52(r2 + eps) - kernel.matern52(r2)) / eps
    np.testing.assert_allclose(kernel.matern52_dr2(r2), fd, atol=1e-6)


def test_hamming_distance_on_categorical_axes():
    A = np.array([[0.1, 1 / 6], [0.1, 5 / 6]])
    D = kernel.sq_dists(A, A, np.array([False, True]))
    assert D[0, 1, 1] == 1.0 and D[0, 0, 1] == 0.0 and D[0, 1, 0] == 0.0


def test_scaled_distances_are_the_per_axis_sum_and_zero_between_equal_points():
    rng = np.random.default_rng(3)
    A, B = rng.random((40, 5)), rng.random((7, 5))
    A[:, 3], B[:, 3] = (rng.integers(0, 4, 40) + 0.5) / 4, (rng.integers(0, 4, 7) + 0.5) / 4
    A[:7] = B  # equal points, whatever rounding the matrix product does
    is_cat, inv_ls2 = np.array([False, False, False, True, False]), np.exp(rng.normal(size=5) * 3)
    r2 = kernel.scaled_sq_dists(A, B, is_cat, inv_ls2)
    np.testing.assert_allclose(r2, kernel.sq_dists(A, B, is_cat) @ inv_ls2, rtol=1e-9, atol=1e-9)
    assert np.all(r2 >= 0.0) and np.all(np.diag(r2[:7]) < 1e-9)


# -- marginal likelihood and its gradient ------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_marginal_likelihood_gradient_matches_check_grad(seed):
    X, y, is_cat = _data(seed=seed)
    D = kernel.sq_dists(X, X, is_cat)
    raw = np.random.default_rng(seed).normal(scale=0.7, size=5)
    prior = gpm.Prior()
    f = lambda r: gpm.neg_log_posterior(r, D, y, prior)[0]  # noqa: E731
    g = lambda r: gpm.neg_log_posterior(r, D, y, prior)[1]  # noqa: E731
    err = scipy.optimize.check_grad(f, g, raw)
    assert err < 1e-4 * max(1.0, np.linalg.norm(g(raw)))


def test_log_marginal_likelihood_matches_multivariate_normal():
    X, y, is_cat = _data()
    raw = np.array([-1.0, 0.2, 0.5, 0.3, np.log(0.01)])
    inv_ls2 = np.exp(-2 * raw[:3])
    K = kernel.kernel_matrix(X, X, is_cat, inv_ls2, np.exp(raw[3]))
    K += (np.exp(raw[4]) + gpm.JITTER) * np.eye(len(y))
    reference = scipy.stats.multivariate_normal(np.zeros(len(y)), K).logpdf(y)
    value, _ = gpm.neg_log_posterior(raw, kernel.sq_dists(X, X, is_cat), y, gpm.Prior())
    log_prior, _ = gpm._log_prior(raw, 3, gpm.Prior())
    assert -value == pytest.approx(reference + log_prior, rel=1e-9)


# -- posterior ----------------------------------------------------------------------------

def test_posterior_matches_scikit_learn_with_equal_hyperparameters():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern

    rng = np.random.default_rng(3)
    X, Xq = rng.random((20, 2)), rng.random((7, 2))
    y = transforms.standardize(np.cos(4 * X[:, 0]) * X[:, 1])
    raw = np.array([np.log(0.3), np.log(0.7), np.log(1.3), np.log(1e-4)])
    model = gpm.condition(gpm.GP(X[:0], y[:0], np.zeros(2, bool), raw, None, None), X, y)
    ref = GaussianProcessRegressor(ConstantKernel(1.3, "fixed") * Matern([0.3, 0.7], "fixed", nu=2.5),
                                   alpha=1e-4 + gpm.JITTER, optimizer=None).fit(X, y)
    mean_ref, std_ref = ref.predict(Xq, return_std=True)
    mean, var = gpm.posterior(model, Xq)
    np.testing.assert_allclose(mean, mean_ref, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(var), std_ref, atol=1e-6)


def test_posterior_mean_interpolates_noiseless_data():
    rng = np.random.default_rng(4)
    X = rng.random((15, 2))
    y = transforms.standardize(np.sin(3 * X[:, 0]) + X[:, 1])
    model = gpm.fit(X, y, np.zeros(2, bool), [gpm.default_raw(2)])
    mean, var = gpm.posterior(model, X)
    assert model.noise_var < 1e-3
    np.testing.assert_allclose(mean, y, atol=2e-2)
    assert var.max() < 1e-2
    _, var_far = gpm.posterior(model, np.array([[1e3, 1e3]]))
    assert var_far[0] == pytest.approx(model.signal_var, rel=1e-6)


def test_posterior_gradient_matches_finite_differences():
    X, y, is_cat = _data()
    model = gpm.fit(X, y, is_cat, [gpm.default_raw(3)])
    Xq = np.random.default_rng(5).random((6, 3))
    Xq[:, 2] = X[:6, 2]
    _, _, dmean, dvar = _check_posterior_grad(model, Xq, numeric=2)
    assert np.all(dmean[:, 2] == 0) and np.all(dvar[:, 2] == 0)


def _check_posterior_grad(model, Xq, numeric):
    """posterior_grad's mean and variance equal posterior's, its gradients finite differences on the first
    ``numeric`` axes; returns what posterior_grad gave."""
    mean, var, dmean, dvar = gpm.posterior_grad(model, Xq)
    mean0, var0 = gpm.posterior(model, Xq)
    np.testing.assert_allclose(mean, mean0, atol=1e-12)
    np.testing.assert_allclose(var, var0, atol=1e-12)
    eps = 1e-6
    for j in range(numeric):
        step = Xq.copy()
        step[:, j] += eps
        m1, v1 = gpm.posterior(model, step)
        np.testing.assert_allclose((m1 - mean) / eps, dmean[:, j], atol=1e-4)
        np.testing.assert_allclose((v1 - var) / eps, dvar[:, j], atol=1e-4)
    return mean, var, dmean, dvar


# -- the optional linear term (HEBO's Matérn + linear kernel) ----------------------------

LINEAR = gpm.Prior(linear_loc=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_term_likelihood_and_gradients_match_references(seed):
    X, y, is_cat = _data(seed=seed)
    C = gpm.centred(X, is_cat)
    assert np.all(C[:, 2] == 0) and np.allclose(C[:, :2], X[:, :2] - 0.5)  # a categorical axis has no trend
    raw = np.append(np.random.default_rng(seed).normal(scale=0.7, size=5), np.log(0.8))
    D = kernel.sq_dists(X, X, is_cat)
    f = lambda r: gpm.neg_log_posterior(r, D, y, LINEAR, C @ C.T)[0]  # noqa: E731
    g = lambda r: gpm.neg_log_posterior(r, D, y, LINEAR, C @ C.T)[1]  # noqa: E731
    assert scipy.optimize.check_grad(f, g, raw) < 1e-4 * max(1.0, np.linalg.norm(g(raw)))
    K = kernel.kernel_matrix(X, X, is_cat, np.exp(-2 * raw[:3]), np.exp(raw[3])) + 0.8 * C @ C.T
    K += (np.exp(raw[4]) + gpm.JITTER) * np.eye(len(y))
    reference = scipy.stats.multivariate_normal(np.zeros(len(y)), K).logpdf(y)
    assert -f(raw) == pytest.approx(reference + gpm._log_prior(raw, 3, LINEAR)[0], rel=1e-9)
    assert len(gpm.default_raw(3, LINEAR)) == 6 and len(gpm.default_raw(3)) == 5


def test_linear_term_posterior_matches_scikit_learn_and_its_gradient_finite_differences():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, DotProduct, Matern

    rng = np.random.default_rng(8)
    X, Xq = rng.random((20, 2)), rng.random((7, 2))
    y = transforms.standardize(3 * X[:, 0] + np.cos(4 * X[:, 1]))
    raw = np.array([np.log(0.3), np.log(0.7), np.log(1.3), np.log(1e-4), np.log(2.5)])
    model = gpm.condition(gpm.GP(X[:0], y[:0], np.zeros(2, bool), raw, None, None), X, y)
    assert model.linear_var == pytest.approx(2.5) and gpm.GP(X, y, np.zeros(2, bool), raw[:4], None, None).linear_var == 0
    kern = (ConstantKernel(1.3, "fixed") * Matern([0.3, 0.7], "fixed", nu=2.5)
            + ConstantKernel(2.5, "fixed") * DotProduct(0.0, "fixed"))
    ref = GaussianProcessRegressor(kern, alpha=1e-4 + gpm.JITTER, optimizer=None).fit(X - 0.5, y)
    mean_ref, std_ref = ref.predict(Xq - 0.5, return_std=True)
    mean, var = gpm.posterior(model, Xq)
    np.testing.assert_allclose(mean, mean_ref, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(var), std_ref, atol=1e-6)
    _check_posterior_grad(model, Xq, numeric=2)


def test_linear_term_is_sure_of_a_trend_at_the_corners_where_the_plain_gp_is_not():
    rng = np.random.default_rng(9)
    X = 0.3 + 0.4 * rng.random((20, 2))  # points in the middle of the box only
    y = transforms.standardize(4 * X[:, 0] + 0.5 * np.sin(25 * X[:, 1]))  # a trend, and a wiggle on the other axis
    corners = np.array([[1.0, 0.5], [0.0, 0.5]])
    plain = gpm.fit(X, y, np.zeros(2, bool), [gpm.default_raw(2)])
    trend = gpm.fit(X, y, np.zeros(2, bool), [gpm.default_raw(2, LINEAR)], LINEAR)
    (mean_p, var_p), (mean_t, var_t) = gpm.posterior(plain, corners), gpm.posterior(trend, corners)
    assert trend.linear_var > 1.0
    assert mean_t[0] > y.max() + 1.0 and mean_t[1] < y.min() - 1.0  # the trend carried to both ends
    assert np.all(var_t < 0.1 * var_p)  # the plain GP keeps a third of the signal's variance there: EI's corners


def test_fit_recovers_relevant_and_irrelevant_axes():
    rng = np.random.default_rng(6)
    X = rng.random((40, 2))
    y = transforms.standardize(np.sin(6 * X[:, 0]))  # the second axis does nothing
    model = gpm.fit(X, y, np.zeros(2, bool), [gpm.default_raw(2)])
    assert model.lengthscales[1] > 3 * model.lengthscales[0]


def test_condition_shrinks_variance_at_the_new_point():
    X, y, is_cat = _data()
    model = gpm.fit(X, y, is_cat, [gpm.default_raw(3)])
    u = np.array([[0.99, 0.01, 5 / 6]])
    mean, var = gpm.posterior(model, u)
    believed = gpm.condition(model, u, mean)
    mean2, var2 = gpm.posterior(believed, u)
    assert mean2[0] == pytest.approx(mean[0], abs=1e-6)
    assert var2[0] < 0.1 * var[0] + 2 * model.noise_var


def test_exact_condition_pins_the_posterior_where_noisy_condition_leaves_the_noise():
    X, y, is_cat = _data()
    raw = np.array([np.log(0.4), np.log(0.4), np.log(0.5), 0.0, np.log(0.05)])  # noise 0.05
    model = gpm.condition(gpm.GP(X[:0], y[:0], is_cat, raw, None, None), X, y)
    u = np.array([[0.99, 0.01, 5 / 6], [0.2, 0.7, 1 / 6]])
    mean, _ = gpm.posterior(model, u)
    noisy = gpm.condition(model, u[:1], mean[:1])
    exact = gpm.condition(model, u[:1], mean[:1], exact=True)
    assert gpm.posterior(noisy, u[:1])[1][0] > 0.01
    assert gpm.posterior(exact, u[:1])[1][0] < 1e-6
    # a later noisy observation leaves the earlier believed point pinned, and twice the same
    # believed point still factors
    both = gpm.condition(gpm.condition(exact, u[1:], mean[1:]), u[:1], mean[:1], exact=True)
    m2, v2 = gpm.posterior(both, u)
    np.testing.assert_allclose(m2, mean, atol=1e-6)
    assert v2[0] < 1e-6 and v2[1] > 0.01


# -- acquisitions -------------------------------------------------------------------------

def test_ei_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(7)
    mean, std, best, xi = np.array([0.3, -0.2, 1.0]), np.array([0.5, 0.1, 2.0]), 0.1, 0.01
    f = rng.normal(mean, std, size=(400_000, 3))
    mc = np.maximum(best - xi - f, 0.0).mean(axis=0)
    closed, _, _ = acq.ei(mean, std, best, xi)
    np.testing.assert_allclose(closed, mc, rtol=1e-2)


def test_log_ei_matches_log_of_ei_and_stays_finite_in_the_far_tail():
    mean, std = np.linspace(-2, 3, 40), np.full(40, 0.7)
    log_value, _, _ = acq.log_ei(mean, std, 0.0, 0.01)
    z = (0.0 - 0.01 - mean) / std
    ei_ref = std * (scipy.stats.norm.pdf(z) + z * scipy.stats.norm.cdf(z))
    np.testing.assert_allclose(log_value, np.log(ei_ref), rtol=1e-9)
    # z = -60: EI underflows to 0 in float64, log-EI follows log(phi(z) / z^2).
    far = acq.log_h(np.array([-60.0, -1e7]))
    asymptote = scipy.stats.norm.logpdf([-60.0, -1e7]) - 2 * np.log([60.0, 1e7])
    np.testing.assert_allclose(far, asymptote, rtol=1e-3)
    assert np.all(np.isfinite(far))


@pytest.mark.parametrize("name", sorted(acq.ACQUISITIONS))
def test_acquisition_gradients_match_finite_differences(name):
    mean, std = np.array([-0.5, 0.0, 0.7, 3.0]), np.array([0.2, 1.0, 0.5, 0.3])
    value, dmean, dstd = acq.ACQUISITIONS[name](mean, std, 0.1, 0.05)
    eps = 1e-7
    v1 = acq.ACQUISITIONS[name](mean + eps, std, 0.1, 0.05)[0]
    v2 = acq.ACQUISITIONS[name](mean, std + eps, 0.1, 0.05)[0]
    np.testing.assert_allclose((v1 - value) / eps, dmean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose((v2 - value) / eps, dstd, rtol=1e-4, atol=1e-5)


def test_pi_and_ucb_closed_forms():
    mean, std = np.array([0.0, 1.0]), np.array([1.0, 0.5])
    log_pi, _, _ = acq.log_pi(mean, std, 0.5, 0.0)
    np.testing.assert_allclose(np.exp(log_pi), scipy.stats.norm.cdf((0.5 - mean) / std))
    ucb, _, _ = acq.ucb(mean, std, 0.0, 2.0)
    np.testing.assert_allclose(ucb, -(mean - 2.0 * std))


# -- transforms ---------------------------------------------------------------------------

def test_power_warp_compresses_a_diverged_run_and_keeps_the_order():
    y = np.array([0.31, 0.30, 0.35, 0.42, 0.29, 0.33, 1e4])
    z = transforms.power_warp(y)
    assert np.all(np.argsort(z) == np.argsort(y))
    assert z.mean() == pytest.approx(0.0, abs=1e-9) and z.std() == pytest.approx(1.0)
    plain = transforms.standardize(y)
    spread = lambda v: np.ptp(v[:-1]) / np.ptp(v)  # noqa: E731 - room left for the good runs
    assert spread(z) > 10 * spread(plain)


def test_power_warp_never_squeezes_the_good_tail():
    y = np.array([-3.0, -2.9, -0.1, -0.05, 0.0, 0.01, -0.02])  # a heavy good (low) tail
    np.testing.assert_allclose(transforms.power_warp(y), transforms.standardize(y))


@pytest.mark.parametrize("seed", range(4))
def test_yeojohnson_lambda_is_scipys_maximum_likelihood_lambda(seed):
    rng = np.random.default_rng(seed)
    for y in (rng.gamma(2.0, size=60), rng.normal(size=12), np.r_[rng.normal(size=20), 1e4],
              rng.lognormal(0.0, 2.0, size=40)):
        z = transforms.standardize(y)
        assert transforms._yeojohnson_lambda(z) == pytest.approx(scipy.stats.yeojohnson_normmax(z), abs=1e-6)


def test_rank_warp_and_constant_inputs():
    z = transforms.rank_warp(np.array([5.0, 1.0, 1e9, 3.0]))
    assert list(np.argsort(z)) == [1, 3, 0, 2]
    assert not transforms.power_warp(np.full(5, 2.0)).any()


def test_snap_and_conditions():
    levels = [None, np.array([1 / 6, 0.5, 5 / 6])]
    U = transforms.snap(np.array([[1.2, 0.4], [0.3, 0.99]]), levels)
    np.testing.assert_allclose(U, [[1.0, 0.5], [0.3, 5 / 6]])
    # dim 0 is active only when dim 1 sits on its first level
    U2, active = transforms.apply_conditions(U, [[(1, np.array([5 / 6]))], []])
    np.testing.assert_allclose(U2[:, 0], [0.5, 0.3])
    assert active.tolist() == [[False, True], [True, True]]


# -- acquisition maximization --------------------------------------------------------------

def test_maximize_finds_the_optimum_of_a_mixed_function():
    levels = [None, np.array([0.25, 0.75])]

    def score(U):
        return -(U[:, 0] - 0.37) ** 2 - (U[:, 1] - 0.75) ** 2

    def score_grad(U):
        grad = np.stack([-2 * (U[:, 0] - 0.37), np.zeros(len(U))], axis=1)
        return score(U), grad

    def canonical(U):
        U = transforms.snap(U, levels)
        return U, np.tile([True, False], (len(U), 1))

    pool = np.random.default_rng(8).random((64, 2))
    best, values = optimize.maximize(score, score_grad, canonical, pool, levels,
                                     np.ones(2), n_local=4)
    assert best[0, 0] == pytest.approx(0.37, abs=1e-4) and best[0, 1] == 0.75
    assert np.all(np.diff(values) <= 0)
    assert len(np.unique(best, axis=0)) == len(best)


def test_discrete_sweep_scores_all_starts_of_an_axis_in_one_call_and_moves_each_alone():
    levels = [np.linspace(0.05, 0.95, 10), np.array([0.25, 0.75]), None]
    targets = np.array([[0.35, 0.75], [0.85, 0.25], [0.05, 0.75]])  # one optimum per start's x2
    calls = []

    def score(U):
        calls.append(len(U))
        k = np.clip(np.round(U[:, 2] * 2).astype(int), 0, 2)  # which target: by the free axis
        return -np.sum((U[:, :2] - targets[k]) ** 2, axis=1)

    def canonical(U):
        return transforms.snap(U, levels), np.ones(U.shape, dtype=bool)

    U, _ = canonical(np.array([[0.5, 0.25, 0.0], [0.5, 0.75, 0.5], [0.5, 0.25, 1.0]]))
    best, values = optimize.discrete_sweep(score, canonical, U.copy(), levels)
    np.testing.assert_allclose(best[:, :2], targets)
    np.testing.assert_allclose(values, 0.0, atol=1e-12)
    assert len(calls) == 1 + 2  # the starts, then one call per discrete axis


def test_unique_rows_keeps_each_points_best_score_and_treats_signed_zeros_as_one():
    U = np.array([[0.0, 0.5], [-0.0, 0.5], [0.25, 0.5], [0.0, 0.5 + 1e-14]])
    rows, vals = optimize._unique_rows(U, np.array([1.0, 3.0, 2.0, 0.5]))
    np.testing.assert_array_equal(vals, [3.0, 2.0])  # best first; -0.0, 0.0 and a 1e-14 nudge are one point
    assert rows.shape == (2, 2) and rows[1, 0] == 0.25
