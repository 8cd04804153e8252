"""A screened lever, not in knobs: HEBO's acquisition ensemble MACE (Cowen-Rivers et al. 2022) in place of log-EI.

Why: issue 17 names "an acquisition portfolio (GP-Hedge / MACE)"; GP-Hedge was measured and left out
(docs/benchmarks.md, "Bayes levers"), MACE not. MACE treats log-EI, log-PI and a UCB with a schedule on kappa as three
objectives and draws the suggestion from their Pareto front, so it proposes wherever one acquisition's optimum is not
beaten on all three — a hedge among exploit (PI), balance (EI) and explore (UCB) without GP-Hedge's learned weights.
HEBO optimizes the three jointly with NSGA-II; here each is maximized with Bayes's own acquisition search (Sobol pool,
steps around the best points, polishes) and the front is taken over the union of each search's 64 best candidates.
Sequential HEBO draws one point of the front at random; so does this. kappa is HEBO's:
sqrt(0.5 * 2 log(t^(d/2 + 2) pi^2 / (3 * 0.1))) at t points in d dimensions. Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \\
        --budgets 20 40 80 --optimizers mace=bayes_mace:mace --timing-reps 0 --jobs 2
"""
from __future__ import annotations

import math

import numpy as np

from knobs.search import Bayes
from knobs.search import _bayes
from knobs.search._gp import acquisition as acq
from knobs.search._gp import gp as gpm
from knobs.search._gp import optimize
from knobs.search._random import sobol_points

PER_ACQUISITION = 64


def hebo_kappa(t: int, d: int, upsilon: float = 0.5, delta: float = 0.1) -> float:
    """HEBO's UCB weight at ``t`` observations in ``d`` dimensions (grows like sqrt(log t))."""
    return math.sqrt(upsilon * 2.0 * math.log(max(t, 1) ** (d / 2.0 + 2.0) * math.pi ** 2 / (3.0 * delta)))


def pareto_front(objectives: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``objectives`` (n, k; larger is better on every column) no other row dominates.

    >>> pareto_front(np.array([[1.0, 1.0], [0.0, 2.0], [0.5, 0.5]])).tolist()
    [0, 1]
    """
    ge = (objectives[:, None, :] >= objectives[None, :, :]).all(axis=2)
    gt = (objectives[:, None, :] > objectives[None, :, :]).any(axis=2)
    dominated = (ge & gt).any(axis=0)
    return np.flatnonzero(~dominated)


class Mace(Bayes):
    """Bayes whose suggestion is a random point of the log-EI / log-PI / UCB Pareto front."""

    def _pick(self, model, coding, incumbents, best, space, taken, rng):
        d = model.X.shape[1]
        kappa = hebo_kappa(len(model.X), d)
        sobol = sobol_points(d, int(rng.integers(2**63)), 0, self.n_candidates)
        pool = np.vstack([sobol, _bayes._perturb(incumbents, coding, rng)])
        scale = np.minimum(model.lengthscales, 1.0)
        heads = []
        for name, param in (("ei", self.xi), ("pi", self.xi), ("ucb", kappa)):
            score, score_grad = _bayes._scorers(model, name, param, best)
            found, _ = optimize.maximize(score, score_grad, coding.canonical, pool, coding.levels, scale,
                                         n_local=self.n_local)
            heads.append(found[:PER_ACQUISITION])
        U = np.unique(np.vstack(heads), axis=0)
        mean, var = gpm.posterior(model, U)
        std = np.sqrt(var)
        scores = np.column_stack([acq.log_ei(mean, std, best, self.xi)[0], acq.log_pi(mean, std, best, self.xi)[0],
                                  acq.ucb(mean, std, best, kappa)[0]])
        front = pareto_front(scores)
        rest = np.setdiff1d(np.arange(len(U)), front)
        order = np.concatenate([rng.permutation(front), rest[np.argsort(-scores[rest, 0])]])
        return self._first_untaken(model, coding, U[order], space, taken, rng)


def mace(seed=None) -> Bayes:
    """The MACE arm."""
    return Mace(seed=seed)


class MaceConditional(Mace):
    """MACE in a space with conditional parameters, the default's log-EI in any other.

    Why: on the dev set MACE led on the families whose spaces have conditions (tables, the conditional toy, text) and
    cost the others (docs/benchmarks.md, "HEBO's acquisition ensemble, MACE"); decided there, confirmed on the check
    set."""

    def _pick(self, model, coding, incumbents, best, space, taken, rng):
        if any(space[name].when for name in space):
            return super()._pick(model, coding, incumbents, best, space, taken, rng)
        return Bayes._pick(self, model, coding, incumbents, best, space, taken, rng)


def mace_cond(seed=None) -> Bayes:
    """The MACE arm in conditional spaces only."""
    return MaceConditional(seed=seed)
