"""Whether a warm-start source still earns its place in the model: ranking-weighted, as RGPE does.

Why: a warm-started ``Bayes`` pools an earlier study's trials with this run's (matched to one level,
``_two_task.match_to_sources``) for the whole run. Where the source is wrong, nothing takes it out:
a source whose own search failed (every trial at chance on bench/warm_start_real.py's dev digits,
seeds 4, 15 and 17) has no good region, yet the pooled model keeps sending the run to the noise it
ranked best, and matching moves the run's bad results there to the source's "good" level. And where
the source was right, the run levels off around the source's optimum once its own results know more.

RGPE (Feurer, Letham & Bakshy 2018, "Scalable meta-learning for Bayesian optimization using
ranking-weighted Gaussian process ensembles") weighs each source by how well it ranks the run's own
results: draw functions from the source GP's posterior at the run's points and count the pairs of the
run's results each draw orders wrongly; do the same for the run's own GP from its leave-one-out
predictions (each point predicted without itself, so the run cannot be credited for memorizing). A
source's weight is the chance that its ranking loss is the lower. Early on the run's own model ranks
no better than chance and an informative source wins; a source the run contradicts, or one that is
noise, loses as soon as the run's own results rank themselves better.

Here the weight is a probability of keeping the source for one suggestion (``Bayes`` draws it), so
over a run the pooled model is used about as often as RGPE's ensemble would weigh it; each source is
weighed against the run alone. ``Bayes`` weighs its sources from the run's ``VET_FROM``-th result on: a warm
run's first points cluster where the source is good, and there the source cannot rank them even when it is
right (a related source's mean ranked a run's first 7-20 points at chance while knowing where the bad
regions are), so weighing earlier dropped useful sources. Each GP sees its own study's losses, warped on their
own (as RGPE fits its base models): the source's GP then depends on the source alone, and ``Bayes`` fits it once a
run (``source_model``) and starts the run's own from its last fit (``own_model``).

Example:
    >>> import numpy as np
    >>> X = np.linspace(0.0, 1.0, 8)[:, None]
    >>> keep_probability(X[:3], X[:3, 0], X, X[:, 0], np.array([False]), np.random.default_rng(0))
    1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from knobs.search._gp import gp as gpm

__all__ = ["MIN_OWN", "VET_FROM", "N_SAMPLES", "keep_probability", "ranking_loss_draws", "source_model",
           "own_model", "win_chance", "ranking_losses"]

#: this run's results needed before a source is weighed (fewer: too few pairs to rank; it is kept).
MIN_OWN = 5
#: this run's results before ``Bayes`` first weighs its sources (``Bayes._vet_from``): the first 20 trials are where
#: a source is worth most, and where a warm run's points cluster in the source's good region, in which the source
#: cannot rank them and useful sources were dropped (weighed from the 5th result, the check set's digits source for
#: Fashion-MNIST lost 0.009 at 20 trials; from the 20th, every arm of both benchmarks ended level or ahead:
#: docs/benchmarks.md, "Sources weighed by how they rank the run").
VET_FROM = 20
#: posterior draws per model.
N_SAMPLES = 256


def keep_probability(X_own: np.ndarray, y_own: np.ndarray, X_source: np.ndarray, y_source: np.ndarray,
                     is_cat: np.ndarray, rng: np.random.Generator, prior: Any = gpm.Prior(),
                     n_samples: int = N_SAMPLES, source: gpm.GP | None = None, own: gpm.GP | None = None) -> float:
    """The chance that the source's GP ranks this run's results better than the run's own GP does (ties
    count half: where the run's results are all equal, neither can be told better, and the chance is 0.5).

    Args:
        X_own, y_own: this run's points (as the GP sees them) and losses (lower is better).
        X_source, y_source: the source's points and losses (any scale: only the source's GP sees them).
        is_cat: categorical axes. rng: draws the posterior samples. prior: the GP hyperparameter prior.
        source, own: the two GPs, fitted already (``ranking_loss_draws``); None: fitted here.
    """
    if len(y_own) < MIN_OWN:
        return 1.0
    return win_chance(*ranking_loss_draws(X_own, y_own, X_source, y_source, is_cat, rng, prior, n_samples,
                                          source=source, own=own))


def ranking_loss_draws(X_own: np.ndarray, y_own: np.ndarray, X_source: np.ndarray, y_source: np.ndarray,
                       is_cat: np.ndarray, rng: np.random.Generator, prior: Any = gpm.Prior(),
                       n_samples: int = N_SAMPLES, source: gpm.GP | None = None,
                       own: gpm.GP | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per posterior draw, the ranking loss on this run's results of the source's GP and of the run's own
    leave-one-out GP, (n_samples,) each (``keep_probability``'s arguments).

    ``source``, ``own``: the two GPs, fitted already (``source_model``, ``own_model``); None: fitted here. A source
    does not change during a run, so ``Bayes`` fits it once, and starts the run's own fit from the last one's."""
    source = source_model(X_source, y_source, is_cat, prior) if source is None else source
    own = own_model(X_own, y_own, is_cat, prior) if own is None else own
    source_loss = ranking_losses(_joint_samples(source, X_own, rng, n_samples), y_own)
    residual, sd = gpm.loo(own)
    loo_draws = (y_own - residual) + sd * rng.standard_normal((n_samples, len(y_own)))
    return source_loss, ranking_losses(loo_draws, y_own)


def source_model(X_source: np.ndarray, y_source: np.ndarray, is_cat: np.ndarray, prior: Any = gpm.Prior()) -> gpm.GP:
    """The GP a source is judged by: fitted on the source's own points and losses alone, from the prior's centre."""
    return _fit_alone(X_source, y_source, is_cat, prior, None)


def own_model(X_own: np.ndarray, y_own: np.ndarray, is_cat: np.ndarray, prior: Any = gpm.Prior(),
              start: np.ndarray | None = None) -> gpm.GP:
    """The run's own GP, whose leave-one-out predictions the source is weighed against; fitted from ``start``
    (the last fit's hyperparameters) or the prior's centre."""
    return _fit_alone(X_own, y_own, is_cat, prior, start)


def _fit_alone(X: np.ndarray, y: np.ndarray, is_cat: np.ndarray, prior: Any, start: np.ndarray | None) -> gpm.GP:
    """One study's GP on its own points and losses, from ``start`` or the prior's centre."""
    return gpm.fit(X, y, is_cat, [gpm.default_raw(X.shape[1], prior) if start is None else start], prior)


def win_chance(source_loss: np.ndarray, own_loss: np.ndarray) -> float:
    """The chance that a draw of the source's ranking loss is below one of the run's (ties half)."""
    return float(np.mean(source_loss < own_loss) + 0.5 * np.mean(source_loss == own_loss))


def ranking_losses(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per draw (row of ``draws``), the share of pairs of distinct ``y`` values it orders the other way."""
    upper = np.triu(np.ones((len(y), len(y)), dtype=bool), k=1)
    truth = (y[:, None] < y[None, :])[upper]
    counted = (y[:, None] != y[None, :])[upper]
    said = (draws[:, :, None] < draws[:, None, :])[:, upper]
    return ((said != truth) & counted).sum(axis=1) / max(int(counted.sum()), 1)


def _joint_samples(model: gpm.GP, Xq: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws of the latent function at ``Xq`` from the GP's joint posterior, (n, len(Xq))."""
    Ks = gpm.cross_cov(model, Xq, model.X)
    Kqq = gpm.cross_cov(model, Xq, Xq)
    V = scipy.linalg.solve_triangular(model.L, Ks.T, lower=True, check_finite=False)
    return rng.multivariate_normal(Ks @ model.alpha, Kqq - V.T @ V, size=n, method="eigh")
