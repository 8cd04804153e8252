"""Bayes's lever that picks the GP's lengthscale prior by how well each prior PREDICTED the results."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats

from knobs.search import Bayes
from knobs.search._blas import blas_threads
from knobs.search._gp import gp as gpm
from knobs.search._gp import transforms
from knobs.search._gp.kernel import kernel_matrix
from knobs.search._gp.prequential import one_step_log_liks
from knobs.search._prior_choice import LONG, PriorChoice
from knobs.space import Float, Space
from knobs.trial import FrozenTrial, TrialState


def _draw(lengthscale: float, d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random points in the unit cube and a draw of a GP with this lengthscale there."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    K = kernel_matrix(X, X, np.zeros(d, bool), np.full(d, lengthscale**-2.0), 1.0) + 1e-6 * np.eye(n)
    return X, np.linalg.cholesky(K) @ rng.normal(size=n)


def _raw(lengthscale: float, d: int) -> np.ndarray:
    return np.concatenate([np.full(d, math.log(lengthscale)), [0.0, math.log(1e-4)]])


def test_one_step_terms_are_the_conditionals_and_sum_to_the_marginal_likelihood():
    X, y = _draw(0.4, 2, 12, seed=0)
    raw = _raw(0.3, 2)
    terms = one_step_log_liks(X, y, np.zeros(2, bool), raw)
    K = kernel_matrix(X, X, np.zeros(2, bool), np.exp(-2 * raw[:2]), 1.0) + (1e-4 + gpm.JITTER) * np.eye(12)
    assert terms.sum() == pytest.approx(scipy.stats.multivariate_normal(np.zeros(12), K).logpdf(y), abs=1e-8)
    j = 7  # p(y_j | y_<j): the Gaussian conditional, written out
    w = np.linalg.solve(K[:j, :j], K[:j, j])
    mean, var = w @ y[:j], K[j, j] - w @ K[:j, j]
    assert terms[j] == pytest.approx(scipy.stats.norm(mean, math.sqrt(var)).logpdf(y[j]), abs=1e-8)


def test_a_result_is_scored_with_the_fit_made_before_it_came_in():
    """Each prior's second fit is the other's first: scored on the fits made after the 7th
    result came in, the wrong prior would win; on the fits made before it, the right one does."""
    X, y = _draw(0.15, 2, 7, seed=1)
    right, wrong = _raw(0.15, 2), _raw(3.0, 2)
    rounds = {6: (right, wrong), 7: (wrong, right)}
    choice = PriorChoice((gpm.Prior(), LONG), window=5)
    for n in (6, 7):
        picked = choice.fit(X[:n], y[:n], np.zeros(2, bool),
                            lambda i, prior, warm: SimpleNamespace(raw=rounds[n][i]))
    expected = one_step_log_liks(X, y, np.zeros(2, bool), right)[6]
    assert choice.scores[0] == pytest.approx(expected)
    assert choice.scores[0] > choice.scores[1] and picked.raw is rounds[7][0]
    assert choice.fitted_on == [6, 7]


def _choose(X: np.ndarray, y: np.ndarray, margin: float = 0.0) -> tuple[list[float], int]:
    """Fit under both priors as the points come in (from the 6th on); the last scores and which
    prior's GP was chosen."""
    d, is_cat = X.shape[1], np.zeros(X.shape[1], bool)
    choice = PriorChoice((gpm.Prior(), LONG), window=5, margin=margin)
    with blas_threads(1):  # as Bayes fits: small systems, and many threads crawl on a busy machine
        for m in range(6, len(X) + 1):
            z = transforms.standardize(y[:m])
            fits: list[gpm.GP] = []
            picked = choice.fit(X[:m], z, is_cat, lambda i, prior, warm: fits.append(gpm.fit(
                X[:m], z, is_cat, [gpm.default_raw(d, prior)] + ([warm] if warm is not None else []), prior))
                or fits[-1])
    return choice.scores, next(i for i, fit in enumerate(fits) if fit is picked)


def test_smooth_data_pick_the_long_prior_and_rough_data_the_default():
    """Draws of a GP with lengthscale 2.5 in 5-D: the long prior (centred on 1, sd 0.5) predicts
    them better; lengthscale 0.1 in 1-D: the default (centred on 0.5, sd 1) does."""
    smooth = [_choose(*_draw(2.5, 5, 14, seed)) for seed in range(3)]
    rough = [_choose(*_draw(0.1, 1, 14, seed)) for seed in range(3)]
    assert [picked for _, picked in smooth] == [1, 1, 1]
    assert [picked for _, picked in rough] == [0, 0, 0]


def test_the_margin_keeps_the_default_unless_the_long_prior_predicted_clearly_better():
    (default, long), picked = _choose(*_draw(2.5, 5, 14, seed=0), margin=1e6)
    assert long > default and picked == 0


def test_bayes_with_the_lever_draws_the_defaults_suggestions_while_it_keeps_the_default():
    space = Space({"x": Float(-2.0, 2.0), "y": Float(-2.0, 2.0)})

    def run(sampler: Bayes) -> list[dict]:
        trials: list[FrozenTrial] = []
        for i in range(14):
            config = sampler.suggest(space, trials)[0]
            trials.append(FrozenTrial(i, config, TrialState.COMPLETE, (config["x"] - 0.3) ** 2 + abs(config["y"])))
        return [t.config for t in trials]

    lever = Bayes(seed=3)
    lever._prior_window, lever._prior_margin = 5, math.inf
    assert run(lever) == run(Bayes(seed=3))
    assert lever._choice.fitted_on[-1] == 13 and lever._choice.scores[1] != 0.0
