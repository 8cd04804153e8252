"""Output warping (standardize, power transform, rank) and input snapping to evaluable points.

Glossary of array shapes:
    n: observations, m: points, d: input dimensions.
    y (n,): raw objective values to minimize (finite). z (n,): warped targets, mean 0, std 1.
    U (m, d): points in the unit cube.
    levels: one entry per dimension: None for a continuous axis, else a sorted (k,) array of the
        unit coordinates the axis can really take (bin centres of a Choice or an Int).
    conditions: one entry per dimension, parents before children: a list of (parent dimension,
        (a,) unit coordinates of the parent values that activate it); [] when always active.
    inactive: the coordinate an inactive parameter gets: 0.5 (the space's encoding), or one
        per dimension (``Bayes`` gives an inactive choice a code no option has).
    active (m, d): whether each coordinate is active.

Why warp outputs: validation losses are skewed; one diverged run (loss 1e4 among losses near
0.3) makes a standardized GP treat every other point as equal. HEBO (winner of the NeurIPS 2020
black-box challenge) power-transforms the outputs; Optuna's GPSampler does not.
Why snap inputs: the GP must see the values actually evaluated, so an integer or categorical
coordinate is moved to its bin centre before the acquisition scores it.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
import scipy.stats

__all__ = ["standardize", "power_warp", "rank_warp", "WARPS", "snap", "apply_conditions"]


def standardize(y: np.ndarray) -> np.ndarray:
    """(y - mean) / std; a constant vector maps to zeros."""
    std = y.std()
    return np.zeros_like(y) if std <= 1e-12 * max(1.0, abs(y.mean())) else (y - y.mean()) / std


def power_warp(y: np.ndarray, floor: float = -np.inf) -> np.ndarray:
    """Standardize, Yeo-Johnson with lambda = min(maximum-likelihood lambda, 1), standardize.

    ``floor``: a lower bound on lambda (none by default); a screened lever, bench/bayes_warp_floor.py.

    NOTE: Yeo-Johnson (not Box-Cox) because standardized values are negative too; the first
    standardization keeps lambda's search well scaled whatever the units of y. lambda is capped
    at 1 (identity): a transform that is concave on the bad side compresses diverged runs, but
    lambda > 1 would compress the *good* tail once the search has piled points near a local
    minimum, hiding better basins from the GP (seen on Branin).
    """
    z = standardize(y)
    if len(z) < 3 or not z.any():
        return z
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lam = min(max(_yeojohnson_lambda(z), floor), 1.0)
        warped = scipy.stats.yeojohnson(z, lmbda=lam)
    return standardize(warped) if np.all(np.isfinite(warped)) else z


def _yeojohnson_llf(lam: float, z: np.ndarray, log1p_abs: np.ndarray, pos: np.ndarray) -> float:
    """Yeo-Johnson log-likelihood of lambda (Yeo & Johnson 2000), -inf where it overflows."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        up = log1p_abs[pos] if lam == 0.0 else np.expm1(lam * log1p_abs[pos]) / lam
        down = -log1p_abs[~pos] if lam == 2.0 else -np.expm1((2.0 - lam) * log1p_abs[~pos]) / (2.0 - lam)
        var = np.concatenate([up, down]).var()
        value = -0.5 * len(z) * np.log(var) + (lam - 1.0) * np.sum(np.sign(z) * log1p_abs)
    return float(value) if np.isfinite(value) else -np.inf


def _yeojohnson_lambda(z: np.ndarray) -> float:
    """Maximum-likelihood Yeo-Johnson lambda, as ``scipy.stats.yeojohnson_normmax`` finds it.

    NOTE: the same bounded Brent search over the same bracket (lambdas whose transform of data up
    to 20x the largest |z| stays within half the float exponent range); scipy's version spends
    ~90% of its time in the per-call overhead of its ``yeojohnson_llf`` wrapper, which was ~8% of a
    7-D suggestion at 100 trials. The lambdas agree to the search tolerance.
    """
    log1p_abs, pos = np.log1p(np.abs(z)), z >= 0
    info = np.finfo(float)
    scale = np.log1p(20.0 * np.max(np.abs(z)))
    lo = (np.log(info.tiny) - np.log(info.eps)) / 2 / scale
    hi = (np.log(info.max) + np.log(info.eps)) / 2 / scale
    if not pos.any():
        lo, hi = 2.0 - hi, 2.0 - lo
    elif not pos.all():
        lo, hi = max(2.0 - hi, lo), min(2.0 - lo, hi)
    return float(scipy.optimize.fminbound(lambda lam: -_yeojohnson_llf(lam, z, log1p_abs, pos),
                                          lo, hi, xtol=1.48e-8))


def rank_warp(y: np.ndarray) -> np.ndarray:
    """Gaussian copula: normal quantiles of the ranks (ties share their mean rank)."""
    ranks = scipy.stats.rankdata(y)
    return standardize(scipy.stats.norm.ppf((ranks - 0.5) / len(y)))


WARPS = {"power": power_warp, "rank": rank_warp, "standardize": standardize}


def snap(U: np.ndarray, levels: list[np.ndarray | None]) -> np.ndarray:
    """Move each discrete coordinate to its nearest level; continuous ones are only clipped."""
    out = np.clip(U, 0.0, 1.0)
    for j, lv in enumerate(levels):
        if lv is None:
            continue
        idx = np.clip(np.searchsorted(lv, out[:, j]), 1, len(lv) - 1) if len(lv) > 1 else None
        if idx is None:
            out[:, j] = lv[0]
            continue
        left, right = lv[idx - 1], lv[idx]
        out[:, j] = np.where(out[:, j] - left <= right - out[:, j], left, right)
    return out


def apply_conditions(U: np.ndarray, conditions: list[list[tuple[int, np.ndarray]]],
                     inactive: float | np.ndarray = 0.5):
    """Set inactive coordinates to ``inactive`` (a constant, or one per dimension; the space
    encodes them at 0.5); return (U, active).

    NOTE: an inactive parameter is a constant for the GP, so it adds no distance between points
    that both lack it; the kernel learns the rest from the active coordinates. Parents must
    already be snapped, since activation compares their exact level coordinates.
    """
    active = np.ones(U.shape, dtype=bool)
    for j, conds in enumerate(conditions):
        for parent, allowed in conds:
            active[:, j] &= active[:, parent] & np.isin(U[:, parent], allowed)
    return np.where(active, U, inactive), active
