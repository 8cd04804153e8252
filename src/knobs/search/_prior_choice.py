"""A GP hyperparameter prior chosen during the run by how well it predicted the results (a Bayes lever).

Why two priors: Bayes's default lengthscale prior (log-normal centred on half the unit range, sd 1)
finds Hartmann-6's narrow minimum; a long one (centred on the whole range, sd 0.5) sees Levy's bowl
under its ripples. Neither serves both, and the marginal likelihood, which could tell them apart per
problem, picked the wrong one on both (docs/benchmarks.md, "Bayes levers, second round").

How: every suggestion fits the GP under each prior, each warm-started from its own previous fit, and
remembers the hyperparameters with the number of points they were fitted on. A point that came in
later is scored under each prior by its one-step-ahead predictive log density, with the
hyperparameters fitted BEFORE it came in, conditioned on every point before it in the history's
order (``_gp.prequential``). The acquisition uses the prior whose GP predicted the last ``window``
scored points best; until a point has been scored, the first prior (the default). All priors score
the same points, so the sums compare.

Scoring ``"current"`` (measured against ``"before"``) uses each prior's fit on all points instead:
no memory needed, but the hyperparameters have seen the points they are scored on.

Example:
    >>> import numpy as np
    >>> from knobs.search._gp import gp as gpm
    >>> choice = PriorChoice((gpm.Prior(), LONG), window=5)
    >>> X = np.linspace(0, 1, 8)[:, None]; z = np.sin(9 * X[:, 0])
    >>> fit = lambda i, prior, warm: gpm.fit(X, z, np.array([False]), [gpm.default_raw(1, prior)], prior)
    >>> choice.fit(X, z, np.array([False]), fit).raw.shape, choice.scores
    ((3,), [0.0, 0.0])
"""

from __future__ import annotations

import bisect
from typing import Callable

import numpy as np

from knobs.search._gp import gp as gpm
from knobs.search._gp.prequential import one_step_log_liks

__all__ = ["LONG", "PriorChoice"]

#: the prior that finds Levy-4's bowl (docs/benchmarks.md, first round of Bayes levers).
LONG = gpm.Prior(ls_loc=0.0, ls_scale=0.5)

FitUnder = Callable[[int, gpm.Prior, "np.ndarray | None"], gpm.GP]


class PriorChoice:
    """The fits under each prior, their history, and the choice between them.

    Args:
        priors: the candidates; the first one is used until a result has been scored.
        window: how many of the latest scored results decide.
        scoring: ``"before"`` (hyperparameters fitted before the result came in) or ``"current"``.
        margin: nats by which another prior must out-predict the first one to be used: prior odds
            of e**margin for the first prior (the default, which predicts better early on every
            problem measured).
    """

    def __init__(self, priors: tuple[gpm.Prior, ...], window: int, scoring: str = "before",
                 margin: float = 0.0) -> None:
        self.priors = priors
        self.window = window
        self.scoring = scoring
        self.margin = margin
        self._forget()

    def _forget(self) -> None:
        self.fitted_on: list[int] = []  # points each round of fits saw, ascending
        self.raws: list[list[np.ndarray]] = [[] for _ in self.priors]  # per prior, per round
        self.scores: list[float] = [0.0] * len(self.priors)

    def fit(self, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray, fit_under: FitUnder) -> gpm.GP:
        """Fit under every prior (``fit_under(index, prior, warm_raw)``); the best predictor's GP."""
        if self.fitted_on and (len(X) < self.fitted_on[-1] or len(self.raws[0][-1]) != X.shape[1] + 2):
            self._forget()  # another study or space: its fits say nothing about this one
        models = [fit_under(i, prior, raws[-1] if raws else None)
                  for i, (prior, raws) in enumerate(zip(self.priors, self.raws))]
        if self.scoring == "current":
            self.scores = [float(one_step_log_liks(X, z, is_cat, m.raw)[-self.window:].sum())
                           for m in models]
        else:
            self.scores = [self._score_before(i, X, z, is_cat) for i in range(len(self.priors))]
        if not self.fitted_on or len(X) > self.fitted_on[-1]:
            self.fitted_on.append(len(X))
            for raws, model in zip(self.raws, models):
                raws.append(model.raw)
            # the rounds no later score can need: the next fit scores points >= len(X) - window
            drop = max(bisect.bisect_right(self.fitted_on, len(X) - self.window) - 1, 0)
            del self.fitted_on[:drop]
            for raws in self.raws:
                del raws[:drop]
        odds = [score - (self.margin if i else 0.0) for i, score in enumerate(self.scores)]
        return models[int(np.argmax(odds))]  # ties (nothing scored yet): the first prior

    def _score_before(self, i: int, X: np.ndarray, z: np.ndarray, is_cat: np.ndarray) -> float:
        """Sum of log p(z_j | z_<j) over the latest ``window`` points j that came in after a fit,
        each under prior i's latest fit made before it (on at most j points)."""
        if not self.fitted_on:
            return 0.0
        scored = range(max(self.fitted_on[0], len(X) - self.window), len(X))
        total = 0.0
        by_round: dict[int, list[int]] = {}
        for j in scored:
            by_round.setdefault(bisect.bisect_right(self.fitted_on, j) - 1, []).append(j)
        for r, points in by_round.items():
            end = points[-1] + 1
            total += float(one_step_log_liks(X[:end], z[:end], is_cat, self.raws[i][r])[points].sum())
        return total
