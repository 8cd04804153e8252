"""Extrapolate one learning curve to a later step, with uncertainty: the math of ``knobs.prune.Curve``.

Model (after Domhan et al., "Speeding up Automatic Hyperparameter Optimization of Deep Neural
Networks by Extrapolation of Learning Curves", IJCAI 2015): the curve, oriented so lower is better,
is ``z(x) = c + a * g(x)`` for one of many basis shapes ``g`` — power law ``x**-θ``, exponential
``exp(-θ x)``, log-power / MMF ``1 / (1 + (x/s)**δ)`` and Janoschek / Weibull ``exp(-(x/s)**δ)`` —
each family's nonlinear parameters on a fixed grid. Why a grid and not ``scipy.optimize``: given
``g`` the two linear parameters have a closed form (variable projection), so every family and grid
point is fitted at once by a few vectorised sums — about 0.1 ms per curve instead of several ms of
iterative least squares per family, with no starting points and no local minima.

Uncertainty, Bayesian on each basis: flat priors on ``(c, a)`` and ``1/σ`` on the noise give a
Student-t predictive at the target step (``n - 2`` degrees of freedom, scale ``s² (1 + h)`` with
``h`` the leverage of the target: large when it lies far beyond the observed steps). The bases are
mixed by their profile likelihood ``RSS**(-n/2)``, each family weighted equally whatever the size
of its grid. A noise floor keeps a perfectly flat curve (a diverged network at chance level) from
claiming zero variance.

Glossary of shapes: n observed points, K bases (all families' grid points together).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Forecast", "forecast", "probability_below"]

_POW = np.geomspace(0.03, 3.0, 16)           # θ of x**-θ
_EXP = np.geomspace(0.01, 3.0, 16)           # θ of exp(-θ x / x_target), per unit of the target
_SCALE = np.geomspace(0.02, 2.0, 10)         # s of the two-parameter shapes, per unit of the target
_SHAPE = np.geomspace(0.3, 4.0, 8)           # δ of the two-parameter shapes


@dataclass(frozen=True)
class Forecast:
    """The predictive distribution of the curve at the target step: a mixture of Student-t's.

    Attributes:
        weights: (K,) mixture weights, summing to 1.
        means: (K,) predicted value at the target, per basis.
        scales: (K,) Student-t scale at the target, per basis.
        dof: degrees of freedom (n - 2), the same for every basis.
    """

    weights: np.ndarray
    means: np.ndarray
    scales: np.ndarray
    dof: int

    @property
    def mean(self) -> float:
        return float(self.weights @ self.means)


@lru_cache(maxsize=64)
def _bases(steps: tuple[float, ...], target: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(K, n) basis values at the observed steps, (K,) at the target, (K,) family weight per basis.

    Steps are rescaled to ``u = x / target`` so the grids mean the same for a 10-epoch and a
    500-epoch budget; each basis is normalised so ``g(first step) - g(target) = 1`` (``a`` is then
    the whole drop from the first step to the target, comparable across shapes).
    """
    u = np.asarray(steps + (target,), dtype=float) / target
    rows = [u[None, :] ** -_POW[:, None], np.exp(-_EXP[:, None] * u[None, :])]
    s, d = np.meshgrid(_SCALE, _SHAPE, indexing="ij")
    s, d = s.ravel()[:, None], d.ravel()[:, None]
    rows.append(1.0 / (1.0 + (u[None, :] / s) ** d))
    rows.append(np.exp(-(u[None, :] / s) ** d))
    family = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in rows])
    g = np.concatenate(rows)
    span = g[:, :1] - g[:, -1:]
    keep = np.abs(span[:, 0]) > 1e-9  # a basis flat over the whole range says nothing a constant doesn't
    g = (g[keep] - g[keep, -1:]) / span[keep]
    return g[:, :-1], g[:, -1], family[keep]


def forecast(steps: np.ndarray, values: np.ndarray, target: float, noise_floor: float) -> Forecast:
    """Fit every basis to ``(steps, values)`` (lower is better) and predict the value at ``target``.

    Args:
        steps: (n,) increasing positive steps, n >= 3.
        values: (n,) finite values.
        target: the step to predict (beyond the last observed step).
        noise_floor: the smallest noise standard deviation believed, in the values' units.
    """
    n = len(steps)
    g, g_target, family = _bases(tuple(float(s) for s in steps), float(target))
    z = np.asarray(values, dtype=float)
    gm = g.mean(axis=1)
    gc = g - gm[:, None]
    sxx = np.einsum("kn,kn->k", gc, gc)
    zc = z - z.mean()
    sxz = gc @ zc
    ok = sxx > 1e-12
    a = np.where(ok, sxz / np.where(ok, sxx, 1.0), 0.0)
    c = z.mean() - a * gm
    rss = np.maximum(zc @ zc - a * sxz, 0.0)
    s2 = np.maximum(rss / (n - 2), noise_floor ** 2)
    leverage = 1.0 / n + np.where(ok, (g_target - gm) ** 2 / np.where(ok, sxx, 1.0), 0.0)
    means = c + a * g_target
    scales = np.sqrt(s2 * (1.0 + leverage))
    # NOTE: profile likelihood with the floored variance, in logs, shifted before exp for stability.
    loglik = -0.5 * n * np.log(np.maximum(rss, n * noise_floor ** 2) / n)
    logw = loglik + np.log(family)
    w = np.exp(logw - logw.max())
    return Forecast(w / w.sum(), means, scales, n - 2)


def probability_below(f: Forecast, threshold: float | np.ndarray) -> np.ndarray:
    """P(value at the target < ``threshold``) under the forecast's mixture; one per threshold."""
    from scipy.special import stdtr  # lazily: `import knobs` stays free of scipy.special

    t = np.asarray(threshold, dtype=float)
    return stdtr(f.dof, (t[..., None] - f.means) / f.scales) @ f.weights
