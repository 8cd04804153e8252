"""``EnsembleReport``: single best vs average vs vote vs greedy vs fitted weights vs stacking, on validation.

Why two scores per combiner: choosing (the best member, greedy weights, a meta-learner) on the
validation rows and scoring on the same rows flatters whatever was chosen. Each combiner is
therefore scored twice: in-sample (``log_loss``, ``accuracy``: fitted and scored on all rows,
the numbers the pipeline's decisions use) and out-of-fold (``cv_log_loss``, ``cv_accuracy``:
every row predicted by a combiner fitted on the other folds, the same folds for all). The gap
between the two is the optimism of the choice; ``best`` is picked on the out-of-fold score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from knobs.ensemble._binomial import binomial_table, diversity
from knobs.ensemble._combine import Probs, as_stack, average, check_labels, vote
from knobs.ensemble._greedy import greedy_selection, score
from knobs.ensemble._stacking import Stacking, folds
from knobs.ensemble._weights import fit_weights
from knobs.errors import ConfigError

__all__ = ["EnsembleReport"]

# A combiner: fit on (probs, y) of some rows, return a function from probs to probabilities.
Fit = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


@dataclass(frozen=True)
class EnsembleReport:
    """Validation scores of every way to combine the members, and their diversity (JSON-able).

    Attributes:
        names: one name per member.
        members: ``{"name", "log_loss", "accuracy"}`` per member.
        single_best, average, greedy, weighted, stacking: ``{"log_loss", "accuracy", "cv_log_loss",
            "cv_accuracy"}`` (``cv_*`` are ``None`` when a class has fewer than 2 rows); plus
            ``"member"`` for ``single_best`` and ``"weights"`` for ``greedy`` and ``weighted``
            (free simplex weights, ``fit_weights``). ``stacking`` is ``None`` when it cannot be
            cross-validated.
        vote: ``{"accuracy", "cv_accuracy"}`` (a vote gives labels, so no log loss).
        diversity: ``knobs.ensemble.diversity`` of the members.
        binomial: ``knobs.ensemble.binomial_table`` of the members in the given order.
        cv: the folds used (``cv`` lowered to the rarest class's row count), or ``None``.
        best: the combiner with the lowest ``cv_log_loss`` (in-sample log loss without folds).
    """

    names: list[str]
    members: list[dict[str, Any]]
    single_best: dict[str, Any]
    average: dict[str, Any]
    vote: dict[str, Any]
    greedy: dict[str, Any]
    weighted: dict[str, Any]
    stacking: dict[str, Any] | None
    diversity: dict[str, Any]
    binomial: list[dict[str, Any]]
    cv: int | None
    best: str

    @classmethod
    def from_predictions(cls, val_probs: Probs, y_val: np.ndarray, names: Sequence[str] | None = None, *,
                         size: int = 25, cv: int = 5, seed: int | None = 0, C: float = 1.0) -> "EnsembleReport":
        """Score every combiner on members' validation probabilities.

        Args:
            val_probs: members' validation probabilities, ``(n_members, n_samples, n_classes)``.
            y_val: true validation classes.
            names: member names (default ``member-0``, ``member-1``…).
            size: greedy selection steps; cv: folds (lowered when a class is rarer); seed: fold
                shuffling and greedy tie-breaks; C: the stacking meta-learner's ``C``.
        """
        stack = as_stack(val_probs, "val_probs")
        y = check_labels(y_val, stack.shape[1], stack.shape[2], "y_val")
        names = _names(names, len(stack))
        n_folds = _effective_cv(cv, y)
        splits = list(folds(y, n_folds, seed).split(np.zeros(len(y)), y)) if n_folds else None
        fits: dict[str, Fit] = {
            "single_best": _fit_single_best,
            "average": lambda P, t: (lambda Q: average(Q)),
            "greedy": lambda P, t: _fit_greedy(P, t, size, seed),
            "weighted": lambda P, t: _fit_weighted(P, t),
        }
        scored = {name: _scores(fit, stack, y, splits) for name, fit in fits.items()}
        best_member = int(np.argmin([score(p, y, "log_loss") for p in stack]))
        scored["single_best"]["member"] = names[best_member]
        scored["greedy"]["weights"] = greedy_selection(stack, y, size=size, seed=seed).weights.tolist()
        scored["weighted"]["weights"] = fit_weights(stack, y).tolist()
        stacking = _stacking_scores(stack, y, n_folds, seed, C)
        report = cls(names=names, members=_member_scores(stack, y, names), single_best=scored["single_best"],
                     average=scored["average"], vote=_vote_scores(stack, y, splits), greedy=scored["greedy"],
                     weighted=scored["weighted"], stacking=stacking, diversity=diversity(stack, y),
                     binomial=binomial_table(stack, y), cv=n_folds, best="")
        return _with_best(report)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _names(names: Sequence[str] | None, n_members: int) -> list[str]:
    if names is None:
        return [f"member-{i}" for i in range(n_members)]
    names = [str(n) for n in names]
    if len(names) != n_members:
        raise ConfigError(f"names has {len(names)} entries; expected one per member ({n_members})")
    return names


def _effective_cv(cv: int, y: np.ndarray) -> int | None:
    """``cv`` lowered to the rarest present class's row count; ``None`` below 2 folds."""
    if not isinstance(cv, (int, np.integer)) or isinstance(cv, bool) or cv < 2:
        raise ConfigError(f"cv must be an integer >= 2, got {cv!r}")
    n_folds = min(int(cv), int(np.unique(y, return_counts=True)[1].min()))
    return n_folds if n_folds >= 2 else None


def _fit_single_best(P: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    best = int(np.argmin([score(p, y, "log_loss") for p in P]))
    return lambda Q: Q[best]


def _fit_greedy(P: np.ndarray, y: np.ndarray, size: int, seed: int | None) -> Callable[[np.ndarray], np.ndarray]:
    weights = greedy_selection(P, y, size=size, seed=seed).weights
    return lambda Q: average(Q, weights)


def _fit_weighted(P: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    weights = fit_weights(P, y)
    return lambda Q: average(Q, weights)


def _scores(fit: Fit, stack: np.ndarray, y: np.ndarray, splits: list | None) -> dict[str, Any]:
    """In-sample and out-of-fold log loss and accuracy of one combiner."""
    inside = fit(stack, y)(stack)
    result: dict[str, Any] = {"log_loss": score(inside, y, "log_loss"), "accuracy": score(inside, y, "accuracy"),
                              "cv_log_loss": None, "cv_accuracy": None}
    if splits is not None:
        oof = np.zeros(stack.shape[1:])
        for train, test in splits:
            oof[test] = fit(stack[:, train], y[train])(stack[:, test])
        result.update(cv_log_loss=score(oof, y, "log_loss"), cv_accuracy=score(oof, y, "accuracy"))
    return result


def _vote_scores(stack: np.ndarray, y: np.ndarray, splits: list | None) -> dict[str, Any]:
    """A plain vote fits nothing, so its out-of-fold accuracy equals the in-sample one."""
    accuracy = float(np.mean(vote(stack) == y))
    return {"accuracy": accuracy, "cv_accuracy": accuracy if splits is not None else None}


def _stacking_scores(stack: np.ndarray, y: np.ndarray, n_folds: int | None, seed: int | None, C: float) -> dict | None:
    if n_folds is None:
        return None
    st = Stacking(C=C, cv=n_folds, seed=seed).fit(stack, y)
    inside = st.predict_proba(stack)
    return {"log_loss": score(inside, y, "log_loss"), "accuracy": score(inside, y, "accuracy"),
            "cv_log_loss": st.cv_log_loss_, "cv_accuracy": st.cv_accuracy_}


def _member_scores(stack: np.ndarray, y: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "log_loss": score(p, y, "log_loss"), "accuracy": score(p, y, "accuracy")}
            for n, p in zip(names, stack)]


def _with_best(report: EnsembleReport) -> EnsembleReport:
    """Name the combiner with the lowest out-of-fold (else in-sample) log loss."""
    key = "cv_log_loss" if report.cv is not None else "log_loss"
    candidates = {"single_best": report.single_best, "average": report.average, "greedy": report.greedy,
                  "weighted": report.weighted, "stacking": report.stacking}
    losses = {name: part[key] for name, part in candidates.items() if part is not None}
    return EnsembleReport(**{**report.__dict__, "best": min(losses, key=losses.get)})
