"""Gaussian-process regression: fit hyperparameters by marginal likelihood, predict, condition.

Glossary of array shapes:
    n: training points, m: query points, d: input dimensions, p = d + 2 hyperparameters.
    X (n, d): training inputs in the unit cube; y (n,): standardized (warped) targets.
    Xq (m, d): query points.
    raw (p,): hyperparameters in log space, [log lengthscale_1..d, log signal_var, log noise_var], and with a
        linear term (``Prior.linear_loc`` set; p = d + 3) its log variance last.
    D (n, n, d): per-dimension squared distances of the training inputs (see kernel.sq_dists).
    mean, var (m,): posterior of the latent function (noise excluded).
    dmean, dvar (m, d): their gradients with respect to Xq.

Why log space and bounds: L-BFGS-B then works on an unconstrained-looking, well scaled problem,
and the noise bound (>= 1e-6 of the standardized variance) keeps the Cholesky factor healthy.
Why priors: with 10-30 points the maximum-likelihood lengthscales are often degenerate (all
data explained as noise, or a lengthscale collapsing to zero); weak priors keep the fit sane.

The optional linear term (HEBO's kernel is a Matérn plus a linear kernel) adds lin * (x - 0.5).(x' - 0.5) over the
numeric axes (a categorical axis has no order; an inactive numeric one sits at 0.5 and adds nothing): a Bayesian
linear trend, so far from every point the prediction follows the trend the data show instead of reverting to their
mean. Off by default (``Prior.linear_loc = None``): screened in bench/bayes_linear.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.linalg import lapack

from .kernel import kernel_matrix, matern52, matern52_with_dr2, sq_dists

__all__ = ["Prior", "GP", "default_raw", "raw_bounds", "neg_log_posterior", "fit", "condition",
           "posterior", "posterior_grad", "loo", "cross_cov", "centred"]

JITTER = 1e-9
MIN_NOISE = 1e-6
LINEAR_BOUNDS = (np.log(1e-4), np.log(1e3))


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
        linear_loc, linear_scale: normal prior on the log variance of the linear term; None: no linear term.
    """

    ls_loc: float = float(np.log(0.5))
    ls_scale: float = 1.0
    signal_scale: float = 1.0
    noise_shape: float = 1.1
    noise_rate: float = 30.0
    linear_loc: float | None = None
    linear_scale: float = 1.5

    @property
    def linear(self) -> bool:
        return self.linear_loc is not None

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
    # NOTE: rows holding believed latent values (kriging believer), fitted noise-free; None: none.
    exact: np.ndarray | None = None

    @property
    def inv_ls2(self) -> np.ndarray:
        return np.exp(-2.0 * self.raw[:self.X.shape[1]])

    @property
    def lengthscales(self) -> np.ndarray:
        return np.exp(self.raw[:self.X.shape[1]])

    @property
    def signal_var(self) -> float:
        return float(np.exp(self.raw[self.X.shape[1]]))

    @property
    def noise_var(self) -> float:
        return float(np.exp(self.raw[self.X.shape[1] + 1]))

    @property
    def linear_var(self) -> float:
        """The linear term's variance; 0 without one."""
        d = self.X.shape[1]
        return float(np.exp(self.raw[d + 2])) if len(self.raw) > d + 2 else 0.0


def centred(X: np.ndarray, is_cat: np.ndarray) -> np.ndarray:
    """The linear term's inputs: numeric coordinates minus the box's centre, categorical ones 0."""
    return np.where(is_cat, 0.0, X - 0.5)


def cross_cov(gp: GP, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """k(A, B) under the fitted hyperparameters, without the noise term: (m, n)."""
    K = kernel_matrix(A, B, gp.is_cat, gp.inv_ls2, gp.signal_var)
    if gp.linear_var:
        K += gp.linear_var * (centred(A, gp.is_cat) @ centred(B, gp.is_cat).T)
    return K


def default_raw(d: int, prior: Prior = Prior()) -> np.ndarray:
    """The prior's centre: the first start of every fit."""
    linear = [prior.linear_loc] if prior.linear else []
    return np.concatenate([np.full(d, prior.loc(d)), [0.0, np.log(prior.noise_shape / prior.noise_rate)], linear])


def raw_bounds(d: int) -> list[tuple[float, float]]:
    """Box for L-BFGS-B: lengthscales 1e-2..1e2, signal 1e-2..1e2, noise 1e-6..1."""
    ls = (np.log(1e-2), np.log(1e2))
    return [ls] * d + [(np.log(1e-2), np.log(1e2)), (np.log(MIN_NOISE), 0.0)]


def _log_prior(raw: np.ndarray, d: int, prior: Prior) -> tuple[float, np.ndarray]:
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
    if prior.linear:
        gap = raw[d + 2] - prior.linear_loc
        value -= 0.5 * gap**2 / prior.linear_scale**2
        grad = np.append(grad, -gap / prior.linear_scale**2)
    return float(value), grad


def neg_log_posterior(
    raw: np.ndarray, D: np.ndarray, y: np.ndarray, prior: Prior, G: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """-(log marginal likelihood + log prior) and its analytic gradient with respect to raw.

    NOTE: with W = alpha alpha^T - K^-1, d LML / d theta = 1/2 sum(W * dK/dtheta); for a log
    lengthscale dK/dlog l_i = s2 * matern52_dr2(r2) * (-2 D_i / l_i^2).

    Args:
        G: the Gram matrix of the ``centred`` training inputs (n, n), needed only with the prior's linear term
            (``fit`` makes it once, not every step).
    """
    n, _, d = D.shape
    inv_ls2 = np.exp(-2.0 * raw[:d])
    s2, n2 = np.exp(raw[d]), np.exp(raw[d + 1])
    D_flat = D.reshape(n * n, d)
    M, dM = matern52_with_dr2((D_flat @ inv_ls2).reshape(n, n))
    K = s2 * M
    linear = np.exp(raw[d + 2]) * G if prior.linear else None
    if linear is not None:
        K += linear
    K[np.diag_indices(n)] += n2 + JITTER
    # NOTE: LAPACK directly (potrf, potrs, potri: the inverse from the factor at half a solve's
    # cost) skips scipy's per-call checks; a fit makes 30-70 of these calls per suggestion.
    L, info = lapack.dpotrf(K, lower=1, clean=1)
    if info != 0:
        return 1e25, np.zeros_like(raw)
    alpha, _ = lapack.dpotrs(L, y, lower=1)
    K_inv, _ = lapack.dpotri(L, lower=1)  # the lower triangle; the upper stays as clean=1 left it: 0
    K_inv += K_inv.T
    K_inv[np.diag_indices(n)] *= 0.5
    lml = -0.5 * y @ alpha - np.log(np.diag(L)).sum() - 0.5 * n * np.log(2 * np.pi)
    W = np.outer(alpha, alpha) - K_inv
    trace_W = np.trace(W)
    grad_ls = -inv_ls2 * ((W * (s2 * dM)).reshape(-1) @ D_flat)
    grad = np.concatenate([grad_ls, [0.5 * np.vdot(W, K) - 0.5 * trace_W * (n2 + JITTER),
                                     0.5 * trace_W * n2]])
    if linear is not None:
        grad_linear = 0.5 * np.vdot(W, linear)
        grad[d] -= grad_linear
        grad = np.append(grad, grad_linear)
    lp, lp_grad = _log_prior(raw, d, prior)
    return -(lml + lp), -(grad + lp_grad)


def _factor(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, raw: np.ndarray,
            exact: np.ndarray | None = None) -> GP:
    d = X.shape[1]
    inv_ls2 = np.exp(-2.0 * raw[:d])
    K = np.exp(raw[d]) * matern52(sq_dists(X, X, is_cat) @ inv_ls2)
    if len(raw) > d + 2:
        C = centred(X, is_cat)
        K += np.exp(raw[d + 2]) * (C @ C.T)
    noise = np.exp(raw[d + 1]) if exact is None else np.where(exact, 0.0, np.exp(raw[d + 1]))
    K[np.diag_indices(len(X))] += noise + JITTER
    L = scipy.linalg.cholesky(K, lower=True, check_finite=False)
    alpha = scipy.linalg.cho_solve((L, True), y, check_finite=False)
    return GP(X=X, y=y, is_cat=is_cat, raw=raw, L=L, alpha=alpha, exact=exact)


def fit(
    X: np.ndarray,
    y: np.ndarray,
    is_cat: np.ndarray,
    starts: list[np.ndarray],
    prior: Prior = Prior(),
    maxiter: int = 200,
) -> GP:
    """Maximize the log posterior of the hyperparameters from each start; keep the best.

    Args:
        starts: raw hyperparameter vectors (p,) to start L-BFGS-B from; the caller passes the
            previous fit (warm start) and the prior's centre, so a refit costs a few iterations.
    """
    D = sq_dists(X, X, is_cat)
    bounds = raw_bounds(X.shape[1]) + ([LINEAR_BOUNDS] if prior.linear else [])
    lo, hi = np.array(bounds).T
    best_raw, best_val = None, np.inf
    C = centred(X, is_cat) if prior.linear else None
    G = C @ C.T if C is not None else None
    for start in starts:
        res = scipy.optimize.minimize(
            neg_log_posterior, np.clip(start, lo, hi), args=(D, y, prior, G), jac=True,
            method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter},
        )
        if np.isfinite(res.fun) and res.fun < best_val:
            best_raw, best_val = res.x, res.fun
    if best_raw is None:
        best_raw = default_raw(X.shape[1], prior)
    return _factor(X, y, is_cat, best_raw)


def condition(gp: GP, X_new: np.ndarray, y_new: np.ndarray, exact: bool = False) -> GP:
    """The same GP with extra observations and unchanged hyperparameters (kriging believer).

    Args:
        exact: y_new are values of the latent function (no observation noise), as a believed
            result is; they then pin the posterior at X_new, as a fantasy pins it in q-EI.
    """
    X = np.vstack([gp.X, X_new])
    if exact or gp.exact is not None:
        old = np.zeros(len(gp.X), bool) if gp.exact is None else gp.exact
        mask = np.concatenate([old, np.full(len(X_new), exact)])
    else:
        mask = None
    return _factor(X, np.concatenate([gp.y, y_new]), gp.is_cat, gp.raw, mask)


def posterior(gp: GP, Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and variance of the latent function at Xq: (m,), (m,)."""
    Ks = cross_cov(gp, Xq, gp.X)
    V = scipy.linalg.solve_triangular(gp.L, Ks.T, lower=True, check_finite=False)
    var = _prior_var(gp, Xq) - np.einsum("nm,nm->m", V, V)
    return Ks @ gp.alpha, np.maximum(var, 1e-12)


def posterior_grad(
    gp: GP, Xq: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and their gradients with respect to Xq (zero on categorical dims)."""
    diff = Xq[:, None, :] - gp.X[None, :, :]
    D = np.where(gp.is_cat, (diff != 0.0).astype(float), diff * diff)
    r2 = D @ gp.inv_ls2
    M, dM = matern52_with_dr2(r2)
    Ks = gp.signal_var * M
    # dKs/dXq: (m, n, d); categorical dims have no gradient.
    dKs = (2.0 * gp.signal_var * dM)[:, :, None] * diff * np.where(gp.is_cat, 0.0, gp.inv_ls2)
    lin = gp.linear_var
    if lin:
        Cq, C = centred(Xq, gp.is_cat), centred(gp.X, gp.is_cat)
        Ks = Ks + lin * (Cq @ C.T)
        dKs = dKs + lin * C[None, :, :]  # d/dxq_j of lin * sum_j cq_j c_j; C is 0 on categorical axes
    B = scipy.linalg.cho_solve((gp.L, True), Ks.T, check_finite=False).T
    mean = Ks @ gp.alpha
    var = _prior_var(gp, Xq) - np.einsum("mn,mn->m", Ks, B)
    dmean = np.einsum("mnj,n->mj", dKs, gp.alpha)
    dvar = -2.0 * np.einsum("mnj,mn->mj", dKs, B)
    if lin:
        dvar += 2.0 * lin * Cq
    return mean, np.maximum(var, 1e-12), dmean, dvar


def _prior_var(gp: GP, Xq: np.ndarray) -> np.ndarray | float:
    """k(x, x) at each query point: the signal variance, plus the linear term's lin * |x - 0.5|^2."""
    if not gp.linear_var:
        return gp.signal_var
    Cq = centred(Xq, gp.is_cat)
    return gp.signal_var + gp.linear_var * np.einsum("ij,ij->i", Cq, Cq)


def loo(gp: GP) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out residuals and predictive standard deviations of the observations, (n,), (n,).

    Each point predicted by the GP fitted to the others, with the same hyperparameters:
    y_i - mean_-i = [K^-1 y]_i / [K^-1]_ii, and the predictive variance (noise included) is
    1 / [K^-1]_ii (Rasmussen & Williams 2006, eq. 5.12), so all n cost one inverse from the factor
    instead of n refits. ``residual / sd`` is the standardized miss: about N(0, 1) where the GP is
    calibrated, large where it is confident and wrong (a jagged objective it took for structure).
    """
    K_inv, _ = lapack.dpotri(gp.L, lower=1)  # lower triangle holds the inverse; its diagonal is all we need
    diag = np.diag(K_inv).copy()
    return gp.alpha / diag, 1.0 / np.sqrt(diag)
