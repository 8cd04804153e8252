"""The binomial argument for ensembles, next to what real members measure.

If ``n`` classifiers each err with probability ``p < 1/2`` and err *independently*, the number
wrong is Binomial(n, p), and the majority is wrong far less often than any one member (21
members at p = 0.3: 2.6%). Real members trained on the same data make correlated errors, so
``diversity`` reports the measured side — pairwise disagreement, error correlation and the
error of the actual majority vote — beside the independent prediction: the gap between the two
is what correlation costs. ``binomial_table`` lays the two side by side for growing ensembles
(the first 1, 2, … members), which is the argument made concrete on one's own models.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any, Sequence, Union

import numpy as np
from scipy.stats import binom

from knobs.ensemble._combine import as_stack, check_labels, plurality
from knobs.errors import ConfigError, DataError

__all__ = ["majority_error", "diversity", "majority_vote_error", "binomial_table"]

ProbsOrLabels = Union[np.ndarray, Sequence[np.ndarray]]


def majority_error(n: int, p: float) -> float:
    """P(the majority of ``n`` independent classifiers, each wrong with probability ``p``, is wrong).

    A tie (``n`` even, exactly half wrong) counts half: it is broken by a fair coin.

    NOTE: this is the binary picture. With more than two classes the wrong members may split
    their votes among several wrong classes, so a plurality vote can be right even when most
    members are wrong; this value is then an upper-bound-style reference, not an exact law.

    Example:
        >>> round(majority_error(21, 0.3), 4)
        0.0264
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"majority_error n must be an integer >= 1 (the number of members), got {n!r}")
    if not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 <= float(p) <= 1.0:
        raise ConfigError(f"majority_error p must be a probability in [0, 1], got {p!r}")
    half = n // 2
    wrong = float(binom.sf(half, n, p))  # P(more than n // 2 wrong)
    if n % 2 == 0:
        wrong += 0.5 * float(binom.pmf(half, n, p))
    return wrong


def diversity(probs_or_labels: ProbsOrLabels, y: np.ndarray) -> dict[str, Any]:
    """Measured diversity of real members, next to the independent-errors prediction.

    Args:
        probs_or_labels: members' probabilities ``(n_members, n_samples, n_classes)`` (their
            arg-max is the member's prediction) or predicted labels ``(n_members, n_samples)``
            as integers.
        y: true classes ``(n_samples,)``.

    Returns:
        A JSON-able dict: ``pairwise_disagreement`` (mean over member pairs of the fraction of
        samples where the two predict different classes; 0 for one member), ``member_errors``
        (each member's error rate), ``mean_member_error``, ``error_correlation`` (mean over pairs
        of the correlation between their 0/1 error indicators; ``None`` when no pair has both
        members making some but not all errors), ``majority_vote_error`` (error of the plurality
        vote, a tie counting as the chance that a fair draw among the tied classes is wrong — the
        convention of ``majority_error``) and ``independent_majority_error``
        (``majority_error(n_members, mean_member_error)``).
    """
    labels, n_classes = _as_labels(probs_or_labels)
    if n_classes is None:  # labels: any class id is fine, the vote only compares them
        n_classes = max(int(labels.max()), int(np.max(y, initial=0))) + 1
    y = check_labels(y, labels.shape[1], n_classes, "y")
    errors = labels != y[None]
    member_errors = errors.mean(axis=1)
    pairs = list(combinations(range(len(labels)), 2))
    disagreement = float(np.mean([np.mean(labels[i] != labels[j]) for i, j in pairs])) if pairs else 0.0
    return {
        "n_members": int(len(labels)),
        "pairwise_disagreement": disagreement,
        "member_errors": [float(e) for e in member_errors],
        "mean_member_error": float(member_errors.mean()),
        "error_correlation": _error_correlation(errors, pairs),
        "majority_vote_error": majority_vote_error(labels, y),
        "independent_majority_error": majority_error(len(labels), float(member_errors.mean())),
    }


def binomial_table(probs_or_labels: ProbsOrLabels, y: np.ndarray,
                   sizes: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The binomial prediction next to the measurement, for the first ``n`` members, ``n`` in ``sizes``.

    Each row takes the first ``n`` members in the order given (pass them best first, e.g. trials
    ranked on validation) and reports what they measure — their errors, how often two of them
    disagree, how correlated their mistakes are, the error of their actual plurality vote — next
    to ``majority_error(n, p)``, what ``n`` *independent* members with their mean error ``p``
    would give. Independent errors make the vote error fall fast with ``n``; the gap between the
    two columns is what correlated mistakes cost.

    Args:
        probs_or_labels: members' probabilities ``(n_members, n_samples, n_classes)`` or integer
            labels ``(n_members, n_samples)``, best first.
        y: true classes ``(n_samples,)``.
        sizes: ensemble sizes to tabulate, each in ``[1, n_members]``; default all of them.

    Returns:
        One JSON-able dict per size: ``n``, ``member_errors``, ``mean_member_error``,
        ``pairwise_disagreement``, ``error_correlation``, ``majority_vote_error`` (measured),
        ``independent_majority_error`` (binomial).

    Example:
        >>> rows = binomial_table(test_probs, y_test, sizes=[1, 3, 5])  # doctest: +SKIP
        >>> [(r["n"], r["majority_vote_error"], r["independent_majority_error"]) for r in rows]  # doctest: +SKIP
    """
    labels, n_classes = _as_labels(probs_or_labels)
    n_classes = n_classes or max(int(labels.max()), int(np.max(y, initial=0))) + 1
    y = check_labels(y, labels.shape[1], n_classes, "y")
    sizes = _check_sizes(sizes, len(labels))
    keys = ("member_errors", "mean_member_error", "pairwise_disagreement", "error_correlation",
            "majority_vote_error", "independent_majority_error")
    rows = []
    for n in sizes:
        measured = diversity(labels[:n], y)
        rows.append({"n": n, **{k: measured[k] for k in keys}})
    return rows


def _check_sizes(sizes: Sequence[int] | None, n_members: int) -> list[int]:
    if sizes is None:
        return list(range(1, n_members + 1))
    sizes = list(sizes)
    bad = [s for s in sizes if not isinstance(s, (int, np.integer)) or isinstance(s, bool) or not 1 <= s <= n_members]
    if not sizes or bad:
        raise ConfigError(f"binomial_table sizes must be integers in [1, {n_members}] (the number of members), "
                          f"got {sizes!r}")
    return [int(s) for s in sizes]


def majority_vote_error(labels: np.ndarray, y: np.ndarray) -> float:
    """Error of the plurality vote of ``(n_members, n_samples)`` labels; a k-way tie that includes
    the true class is wrong with probability ``1 - 1/k``."""
    counts = plurality(labels, int(max(labels.max(), y.max())) + 1)
    top = counts == counts.max(axis=1, keepdims=True)
    n_tied = top.sum(axis=1)
    right = np.where(top[np.arange(len(y)), y], 1.0 / n_tied, 0.0)
    return float(1.0 - right.mean())


def _as_labels(probs_or_labels: ProbsOrLabels) -> tuple[np.ndarray, int | None]:
    """Members' predicted labels ``(n_members, n_samples)``, and the class count when probabilities
    fix it (``None`` for labels, where any non-negative class is allowed)."""
    members = list(probs_or_labels)
    if not members:
        raise DataError("probs_or_labels is empty: diversity needs at least one member")
    if np.ndim(members[0]) == 2:
        stack = as_stack(members, "probs_or_labels")
        return stack.argmax(axis=2), stack.shape[2]
    arrays = [np.asarray(m) for m in members]
    for i, a in enumerate(arrays):
        if a.ndim != 1 or a.shape != arrays[0].shape or not np.issubdtype(a.dtype, np.integer) or (a < 0).any():
            raise DataError(f"probs_or_labels[{i}] has shape {a.shape} and dtype {a.dtype}; expected probabilities "
                            f"(n_samples, n_classes) or non-negative integer labels (n_samples,) like member 0 "
                            f"{arrays[0].shape}")
    return np.stack(arrays).astype(np.int64), None


def _error_correlation(errors: np.ndarray, pairs: list[tuple[int, int]]) -> float | None:
    """Mean Pearson correlation of members' 0/1 error indicators over pairs where it is defined."""
    varied = errors.std(axis=1) > 0
    values = [float(np.corrcoef(errors[i], errors[j])[0, 1]) for i, j in pairs if varied[i] and varied[j]]
    return float(np.mean(values)) if values else None
