"""Leave-one-out residuals of the GP in closed form (``gp.loo``), checked against refits."""

from __future__ import annotations

import numpy as np

from knobs.search._gp import gp as gpm
from knobs.search._gp import transforms


def _model(n: int = 20, seed: int = 0, exact_last: bool = False) -> gpm.GP:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    X[:, 2] = (rng.integers(0, 3, n) + 0.5) / 3
    is_cat = np.array([False, False, True])
    y = transforms.standardize(np.sin(5 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * (X[:, 2] > 0.5)
                               + 0.1 * rng.normal(size=n))
    raw = np.array([np.log(0.3), np.log(0.7), np.log(0.5), 0.2, np.log(0.02)])
    exact = np.arange(n) == n - 1 if exact_last else None
    return gpm._factor(X, y, is_cat, raw, exact)


def test_loo_matches_a_refit_without_each_point():
    for exact_last in (False, True):
        model = _model(exact_last=exact_last)
        residual, sd = gpm.loo(model)
        n = len(model.y)
        for i in range(n):
            keep = np.arange(n) != i
            exact = None if model.exact is None else model.exact[keep]
            other = gpm._factor(model.X[keep], model.y[keep], model.is_cat, model.raw, exact)
            mean, var = gpm.posterior(other, model.X[i:i + 1])
            noise = 0.0 if model.exact is not None and model.exact[i] else model.noise_var
            np.testing.assert_allclose(residual[i], model.y[i] - mean[0], rtol=1e-6, atol=1e-8)
            np.testing.assert_allclose(sd[i] ** 2, var[0] + noise + gpm.JITTER, rtol=1e-6, atol=1e-8)
