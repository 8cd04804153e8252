"""Gaussian-process regression: fit hyperparameters by marginal likelihood, predict, condition.

Glossary of array shapes:
    n: training points, m: query points, d: input dimensions, p = d + 2 hyperparameters.
    X (n, d): training inputs in the unit cube; y (n,): standardized (warped) targets.
    Xq (m, d): query points.
    raw (p,): hyperparameters in log space, [log lengthscale_1..d, log signal_var, log noise_var,
        log a_1..w, log b_1..w] where w axes are warped (p = d + 2 without input warping).
    warped (d,): True where an axis passes through a fitted Kumaraswamy CDF before the kernel.
    D (n, n, d): per-dimension squared distances of the training inputs (see kernel.sq_dists).
    mean, var (m,): posterior of the latent function (noise excluded).
    dmean, dvar (m, d): their gradients with respect to Xq.

Why log space and bounds: L-BFGS-B then works on an unconstrained-looking, well scaled problem,
and the noise bound (>= 1e-6 of the standardized variance) keeps the Cholesky factor healthy.
Why priors: with 10-30 points the maximum-likelihood lengthscales are often degenerate (all
data explained as noise, or a lengthscale collapsing to zero); weak priors keep the fit sane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize

from .kernel import matern52, matern52_dr2, sq_dists
from .transforms import kumaraswamy

__all__ = ["Prior", "GP", "default_raw", "raw_bounds", "neg_log_posterior",
           "neg_log_posterior_warped", "warp_inputs", "fit", "condition", "posterior",
           "posterior_grad"]

JITTER = 1e-9
MIN_NOISE = 1e-6


@dataclass(frozen=True)
class Prior:
    """Weak priors on the hyperparameters, all stated on the log-space coordinates.

    Args:
        ls_loc: mean of log lengthscale: half the unit range, whatever the dimension.
            NOTE: tuning responses vary on that scale (a learning-rate valley is a fraction of
            its log axis wide). The dimension-scaled centre log(0.5 * sqrt(d)) of Hvarfner et
            al. 2024 suits many-dimensional problems but smoothed over Hartmann-6's narrow
            minimum at budget 30 in bench/search.py (normalized score 0.68 vs 0.89 with this).
        ls_scale: standard deviation of log lengthscale.
        signal_scale: standard deviation of log signal variance around 0 (targets are
            standardized, so the signal variance is about 1).
        noise_shape, noise_rate: Gamma(shape, rate) on the noise variance; mean shape/rate
            (about 0.04 of the standardized variance): tuning objectives are mostly smooth.
        warp_scale: standard deviation of log a and log b of an input warp around 0 (identity).
    """

    ls_loc: float = float(np.log(0.5))
    ls_scale: float = 1.0
    signal_scale: float = 1.0
    noise_shape: float = 1.1
    noise_rate: float = 30.0
    warp_scale: float = 0.75

    def loc(self, d: int) -> float:
        return self.ls_loc


@dataclass(frozen=True)
class GP:
    """A fitted GP: data, hyperparameters and the cached Cholesky solve."""

    X: np.ndarray
    y: np.ndarray
    is_cat: np.ndarray
    raw: np.ndarray
    L: np.ndarray
    alpha: np.ndarray
    warped: np.ndarray | None = None
    Xw: np.ndarray | None = None  # X after the input warp (X itself without one)

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def inv_ls2(self) -> np.ndarray:
        return np.exp(-2.0 * self.raw[:self.d])

    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.raw[:self.d])

    @property
    def signal_var(self) -> float:
        return float(np.exp(self.raw[self.d]))

    @property
    def noise_var(self) -> float:
        return float(np.exp(self.raw[self.d + 1]))

    @property
    def train_inputs(self) -> np.ndarray:
        return self.X if self.Xw is None else self.Xw

    def inputs(self, U: np.ndarray) -> np.ndarray:
        """Query points as the kernel sees them (warped where the fit warps)."""
        return warp_inputs(U, self.warped, self.raw)


def _warp_params(raw: np.ndarray, d: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.exp(raw[d + 2:d + 2 + w]), np.exp(raw[d + 2 + w:d + 2 + 2 * w])


def warp_inputs(U: np.ndarray, warped: np.ndarray | None, raw: np.ndarray) -> np.ndarray:
    """U with its warped columns through their Kumaraswamy CDFs (U itself when none are)."""
    if warped is None or not warped.any():
        return U
    a, b = _warp_params(raw, U.shape[1], int(warped.sum()))
    out = U.copy()
    out[:, warped] = kumaraswamy(U[:, warped], a, b)
    return out


def default_raw(d: int, prior: Prior = Prior(), n_warped: int = 0) -> np.ndarray:
    """The prior's centre: the first start of every fit (warps at the identity)."""
    return np.concatenate([np.full(d, prior.loc(d)), [0.0, np.log(prior.noise_shape / prior.noise_rate)],
                           np.zeros(2 * n_warped)])


def raw_bounds(d: int, n_warped: int = 0) -> list[tuple[float, float]]:
    """Box for L-BFGS-B: lengthscales 1e-2..1e2, signal 1e-2..1e2, noise 1e-6..1, warp a and b
    in e^-2..e^2 (from a steep rise at one end to a steep rise at the other)."""
    ls = (np.log(1e-2), np.log(1e2))
    return ([ls] * d + [(np.log(1e-2), np.log(1e2)), (np.log(MIN_NOISE), 0.0)]
            + [(-2.0, 2.0)] * (2 * n_warped))


def _log_prior(raw: np.ndarray, d: int, prior: Prior) -> tuple[float, np.ndarray]:
    lp, grad = _log_prior_kernel(raw[:d + 2], d, prior)
    warp = raw[d + 2:]
    return (lp - 0.5 * float(np.sum(warp**2)) / prior.warp_scale**2,
            np.concatenate([grad, -warp / prior.warp_scale**2]))


def _log_prior_kernel(raw: np.ndarray, d: int, prior: Prior) -> tuple[float, np.ndarray]:
    ls, log_s2, log_n2 = raw[:d], raw[d], raw[d + 1]
    mu = prior.loc(d)
    n2 = np.exp(log_n2)
    value = (
        -0.5 * np.sum((ls - mu) ** 2) / prior.ls_scale**2
        - 0.5 * log_s2**2 / prior.signal_scale**2
        # NOTE: Gamma density on v = exp(log_n2) times the Jacobian dv/dlog_n2 = v.
        + prior.noise_shape * log_n2 - prior.noise_rate * n2
    )
    grad = np.concatenate([
        -(ls - mu) / prior.ls_scale**2,
        [-log_s2 / prior.signal_scale**2, prior.noise_shape - prior.noise_rate * n2],
    ])
    return float(value), grad


def _lml(raw: np.ndarray, D: np.ndarray, y: np.ndarray):
    """Log marginal likelihood, its gradient on the kernel's raw[:d + 2], and dLML/dr2 (n, n).

    NOTE: with W = alpha alpha^T - K^-1, d LML / d theta = 1/2 sum(W * dK/dtheta); for a log
    lengthscale dK/dlog l_i = s2 * matern52_dr2(r2) * (-2 D_i / l_i^2).
    """
    n, _, d = D.shape
    inv_ls2 = np.exp(-2.0 * raw[:d])
    s2, n2 = np.exp(raw[d]), np.exp(raw[d + 1])
    r2 = D @ inv_ls2
    M = matern52(r2)
    K = s2 * M
    K[np.diag_indices(n)] += n2 + JITTER
    try:
        cf = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    alpha = scipy.linalg.cho_solve(cf, y, check_finite=False)
    K_inv = scipy.linalg.cho_solve(cf, np.eye(n), check_finite=False)
    lml = -0.5 * y @ alpha - np.log(np.diag(cf[0])).sum() - 0.5 * n * np.log(2 * np.pi)
    W = np.outer(alpha, alpha) - K_inv
    G = W * (s2 * matern52_dr2(r2))
    grad_ls = -inv_ls2 * (G.reshape(-1) @ D.reshape(n * n, d))
    grad = np.concatenate([grad_ls, [0.5 * np.sum(W * K) - 0.5 * np.trace(W) * (n2 + JITTER),
                                     0.5 * np.trace(W) * n2]])
    return lml, grad, 0.5 * G


def neg_log_posterior(
    raw: np.ndarray, D: np.ndarray, y: np.ndarray, prior: Prior
) -> tuple[float, np.ndarray]:
    """-(log marginal likelihood + log prior) and its analytic gradient with respect to raw."""
    d = D.shape[2]
    terms = _lml(raw, D, y)
    if terms is None:
        return 1e25, np.zeros_like(raw)
    lml, grad, _ = terms
    lp, lp_grad = _log_prior(raw, d, prior)
    return -(lml + lp), -(grad + lp_grad)


def neg_log_posterior_warped(
    raw: np.ndarray, X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, warped: np.ndarray,
    prior: Prior,
) -> tuple[float, np.ndarray]:
    """As ``neg_log_posterior`` with the warped axes' Kumaraswamy a, b fitted too.

    NOTE: r2_ik = sum_j (x_ij - x_kj)^2 / l_j^2 on warped coordinates x and G = dLML/dr2 taken
    entrywise (symmetric); x_ij enters r2_ik and r2_ki, so dLML/dx_ij = 4 / l_j^2 *
    sum_k G_ik (x_ij - x_kj), then chained through dx/da and dx/db.
    """
    d, w = X.shape[1], int(warped.sum())
    a, b = _warp_params(raw, d, w)
    Xw = X.copy()
    Xw[:, warped], _, da, db = kumaraswamy(X[:, warped], a, b, grads=True)
    terms = _lml(raw, sq_dists(Xw, Xw, is_cat), y)
    if terms is None:
        return 1e25, np.zeros_like(raw)
    lml, grad, G = terms
    xw = Xw[:, warped]
    dx = 4.0 * np.exp(-2.0 * raw[:d][warped]) * (G.sum(axis=1)[:, None] * xw - G @ xw)
    grad_warp = np.concatenate([(dx * da).sum(axis=0) * a, (dx * db).sum(axis=0) * b])
    lp, lp_grad = _log_prior(raw, d, prior)
    return -(lml + lp), -(np.concatenate([grad, grad_warp]) + lp_grad)


def _factor(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, raw: np.ndarray,
            warped: np.ndarray | None = None) -> GP:
    d = X.shape[1]
    Xw = warp_inputs(X, warped, raw)
    inv_ls2 = np.exp(-2.0 * raw[:d])
    K = np.exp(raw[d]) * matern52(sq_dists(Xw, Xw, is_cat) @ inv_ls2)
    K[np.diag_indices(len(X))] += np.exp(raw[d + 1]) + JITTER
    L = scipy.linalg.cholesky(K, lower=True, check_finite=False)
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    return GP(X=X, y=y, is_cat=is_cat, raw=raw, L=L, alpha=alpha, warped=warped,
              Xw=None if Xw is X else Xw)


def fit(
    X: np.ndarray,
    y: np.ndarray,
    is_cat: np.ndarray,
    starts: list[np.ndarray],
    prior: Prior = Prior(),
    maxiter: int = 200,
    warped: np.ndarray | None = None,
) -> GP:
    """Maximize the log posterior of the hyperparameters from each start; keep the best.

    Args:
        starts: raw hyperparameter vectors (p,) to start L-BFGS-B from; the caller passes the
            previous fit (warm start) and the prior's centre, so a refit costs a few iterations.
            A start of the kernel's length d + 2 gets identity warps appended.
        warped: (d,) axes to warp (never categorical ones), or None for no input warping.
    """
    d = X.shape[1]
    if warped is not None and not warped.any():
        warped = None
    w = 0 if warped is None else int(warped.sum())
    if warped is None:
        objective, args = neg_log_posterior, (sq_dists(X, X, is_cat), y, prior)
    else:
        objective, args = neg_log_posterior_warped, (X, y, is_cat, warped, prior)
    bounds = raw_bounds(d, w)
    lo, hi = np.array(bounds).T
    best_raw, best_val = None, np.inf
    for start in starts:
        start = np.concatenate([start[:d + 2], np.zeros(2 * w)]) if len(start) != len(lo) else start
        res = scipy.optimize.minimize(
            objective, np.clip(start, lo, hi), args=args, jac=True,
            method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter},
        )
        if np.isfinite(res.fun) and res.fun < best_val:
            best_raw, best_val = res.x, res.fun
    if best_raw is None:
        best_raw = default_raw(d, prior, w)
    return _factor(X, y, is_cat, best_raw, warped)


def condition(gp: GP, X_new: np.ndarray, y_new: np.ndarray) -> GP:
    """The same GP with extra observations and unchanged hyperparameters (kriging believer)."""
    X = np.vstack([gp.X, X_new])
    return _factor(X, np.concatenate([gp.y, y_new]), gp.is_cat, gp.raw, gp.warped)


def posterior(gp: GP, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of the latent function at Xq: (m,), (m,)."""
    Ks = gp.signal_var * matern52(sq_dists(gp.inputs(Xq), gp.train_inputs, gp.is_cat) @ gp.inv_ls2)
    V = scipy.linalg.solve_triangular(gp.L, Ks.T, lower=True, check_finite=False)
    var = gp.signal_var - np.einsum("nm,nm->m", V, V)
    return Ks @ gp.alpha, np.maximum(var, 1e-12)


def posterior_grad(
    gp: GP, Xq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and their gradients with respect to Xq (zero on categorical dims)."""
    diff = gp.inputs(Xq)[:, None, :] - gp.train_inputs[None, :, :]
    D = np.where(gp.is_cat, (diff != 0.0).astype(float), diff * diff)
    r2 = D @ gp.inv_ls2
    Ks = gp.signal_var * matern52(r2)
    # dKs/dXq: (m, n, d); categorical dims have no gradient.
    dKs = (2.0 * gp.signal_var * matern52_dr2(r2))[:, :, None] * diff * np.where(gp.is_cat, 0.0, gp.inv_ls2)
    B = scipy.linalg.cho_solve((gp.L, True), Ks.T, check_finite=False).T
    mean = Ks @ gp.alpha
    var = gp.signal_var - np.einsum("mn,mn->m", Ks, B)
    dmean = np.einsum("mnj,n->mj", dKs, gp.alpha)
    dvar = -2.0 * np.einsum("mnj,mn->mj", dKs, B)
    if gp.warped is not None:
        # NOTE: chain rule through the warp: d/du = d/dx * dx/du on the warped axes.
        a, b = _warp_params(gp.raw, gp.d, int(gp.warped.sum()))
        _, dU, _, _ = kumaraswamy(Xq[:, gp.warped], a, b, grads=True)
        dmean[:, gp.warped] *= dU
        dvar[:, gp.warped] *= dU
    return mean, np.maximum(var, 1e-12), dmean, dvar
