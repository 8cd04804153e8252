"""Fantasies for pending points: an acquisition that knows running trials may still improve.

Glossary of array shapes:
    n: observations, r: pending points (running trials and the batch picked so far), m: queries,
    d: input dimensions, S: fantasy samples.
    R (r, d): pending points in the unit cube. Z (r, S): fixed standard-normal base samples.
    F (S, r): sampled latent values at R, one joint draw per column of Z.
    best (S,): the incumbent under each fantasy, min(observed best, min F[s]).

Why: the kriging believer (pretend R returned the GP's mean) spreads a batch out but ignores that
a pending trial may come back BETTER than the incumbent, in which case a point next to it is worth
little. Averaging EI over joint posterior draws at R (each draw conditions the GP and may lower the
incumbent) is the sequential-greedy form of q-EI (Ginsbourger et al. 2010; Wilson et al. 2018,
Optuna's qLogEI draws the same joint samples). Every fantasy shares R's inputs and the
hyperparameters, so one Cholesky factor serves all S of them: the fantasized GP is the kriging
believer's with an (n + r, S) ``alpha`` instead of (n,), and the variance is the believer's.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from scipy.special import logsumexp

from . import gp as gpm
from .kernel import kernel_matrix

__all__ = ["Fantasies", "fantasize", "scorers"]

JITTER = 1e-9


class Fantasies:
    """A GP conditioned on S joint draws at the pending points, and each draw's incumbent."""

    def __init__(self, model: gpm.GP, best: np.ndarray) -> None:
        self.model, self.best = model, best


def fantasize(gp: gpm.GP, R: np.ndarray, Z: np.ndarray, best: float) -> Fantasies:
    """Draw the latent function at R jointly (F = mean + chol(cov) Z) and condition on each draw."""
    mean, _ = gpm.posterior(gp, R)
    K_RR = kernel_matrix(R, R, gp.is_cat, gp.inv_ls2, gp.signal_var)
    V = scipy.linalg.solve_triangular(
        gp.L, kernel_matrix(gp.X, R, gp.is_cat, gp.inv_ls2, gp.signal_var), lower=True,
        check_finite=False)
    cov = K_RR - V.T @ V
    cov[np.diag_indices(len(R))] += JITTER * gp.signal_var + 1e-12
    w, Q = np.linalg.eigh(0.5 * (cov + cov.T))  # eigh: robust when pending points nearly repeat
    F = (mean[:, None] + (Q * np.sqrt(np.maximum(w, 0.0))) @ Z).T  # (S, r)
    X = np.vstack([gp.X, R])
    Y = np.concatenate([np.broadcast_to(gp.y[:, None], (len(gp.y), len(F))), F.T])  # (n + r, S)
    base = gpm.condition(gp, R, mean)  # the believer: same factor for every fantasy
    alpha = scipy.linalg.cho_solve((base.L, True), Y, check_finite=False)
    model = gpm.GP(X=X, y=base.y, is_cat=gp.is_cat, raw=gp.raw, L=base.L, alpha=alpha)
    return Fantasies(model, np.minimum(best, F.min(axis=1)))


def scorers(f: Fantasies, log_acquisition, param: float):
    """log of the fantasy-averaged acquisition, and with its gradient (for log-EI / log-PI)."""
    S = len(f.best)

    def score(U: np.ndarray) -> np.ndarray:
        mean, var = gpm.posterior(f.model, U)  # (m, S), (m,)
        values, _, _ = log_acquisition(mean, np.sqrt(var)[:, None], f.best[None, :], param)
        return logsumexp(values, axis=1) - np.log(S)

    def score_grad(U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, var, dmean, dvar = gpm.posterior_grad(f.model, U)  # dmean (m, S, d)
        std = np.sqrt(var)
        values, d_mean, d_std = log_acquisition(mean, std[:, None], f.best[None, :], param)
        total = logsumexp(values, axis=1)
        w = np.exp(values - total[:, None])  # each fantasy's share of the average
        grad = (np.einsum("ms,msj->mj", w * d_mean, dmean)
                + (np.sum(w * d_std, axis=1) / (2.0 * std))[:, None] * dvar)
        return total - np.log(S), grad

    return score, score_grad
