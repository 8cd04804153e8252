"""Acquisition functions for minimization, with gradients with respect to mean and std.

Glossary of array shapes:
    m: query points. mean, std (m,): posterior of the (standardized) objective.
    best: the best (lowest) standardized target seen so far, a scalar.
    Every function returns (value, dvalue_dmean, dvalue_dstd), each (m,); larger value = better
    point, so the optimizer always maximizes.

Why log-EI: EI underflows to exactly 0 far from the incumbent (z < -38 in float64), leaving the
optimizer a flat landscape with zero gradient. log EI stays finite and informative there
(Ament et al. 2023, "Unexpected Improvements to Expected Improvement"). EI and log-EI have the
same maximizer, so "ei" is optimized through log-EI.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

__all__ = ["log_h", "log_ei", "ei", "log_pi", "ucb", "ACQUISITIONS"]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_SQRT_HALF_PI = np.sqrt(0.5 * np.pi)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0, accurate on both sides of -log 2 (Mächler 2012)."""
    return np.where(x > -np.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)), the log of EI's standardized improvement, for any real z.

    NOTE: for z < -1 the sum cancels catastrophically; rewrite phi + z Phi with the scaled
    complementary error function: h(z) = phi(z) (1 - |z| erfcx(|z|/sqrt2) sqrt(pi/2)).
    """
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    big = z > -1.0
    zb = z[big]
    out[big] = np.log(np.exp(-0.5 * zb * zb - _LOG_SQRT_2PI) + zb * ndtr(zb))
    zs = z[~big]
    log_phi = -0.5 * zs * zs - _LOG_SQRT_2PI
    # NOTE: beyond |z| ~ 1e8 erfcx*|z| rounds to exactly 1; use the asymptote log(phi/z^2) there.
    with np.errstate(divide="ignore"):
        tail = _log1mexp(np.log(erfcx(-zs / np.sqrt(2.0)) * -zs * _SQRT_HALF_PI))
    out[~big] = np.where(zs < -1e6, log_phi - 2.0 * np.log(-zs), log_phi + tail)
    return out


def _z(mean: np.ndarray, std: np.ndarray, best: float, xi: float) -> np.ndarray:
    return (best - xi - mean) / std


def log_ei(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.01):
    """log E[max(best - xi - f, 0)] and its gradients; d log h / dz = Phi(z) / h(z)."""
    z = _z(mean, std, best, xi)
    lh = log_h(z)
    ratio = np.exp(log_ndtr(z) - lh)
    value = lh + np.log(std)
    return value, -ratio / std, (1.0 - z * ratio) / std


def ei(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.01):
    """Expected improvement in closed form: std * (phi(z) + z Phi(z))."""
    value, dmean, dstd = log_ei(mean, std, best, xi)
    e = np.exp(value)
    return e, e * dmean, e * dstd


def log_pi(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.01):
    """log P(f < best - xi); d log Phi(z) / dz = phi(z) / Phi(z)."""
    z = _z(mean, std, best, xi)
    value = log_ndtr(z)
    ratio = np.exp(-0.5 * z * z - _LOG_SQRT_2PI - value)
    return value, -ratio / std, -z * ratio / std


def ucb(mean: np.ndarray, std: np.ndarray, best: float = 0.0, kappa: float = 2.0):
    """Upper confidence bound on the improvement: -(mean - kappa * std); best is unused."""
    return -mean + kappa * std, -np.ones_like(mean), np.full_like(std, kappa)


# NOTE: "ei" maps to log_ei: the same maximizer, without underflow.
ACQUISITIONS = {"ei": log_ei, "pi": log_pi, "ucb": ucb}
