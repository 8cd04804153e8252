"""Members: anything that maps inputs to class probabilities, combined through one format.

The combiners in ``knobs.ensemble`` take probabilities, not models. A member is any object with
``predict_proba(X) -> (n_samples, n_classes)`` whose rows are probabilities over *all* classes in
label order: ``TorchMember`` (a network, a snapshot, an averaged-weights model) and
``SklearnMember`` (a scikit-learn classifier) both produce that, so a random forest and a
snapshot of a network average, vote and stack the same way.

Example:
    >>> members = [TorchMember(net), SklearnMember(LogisticRegression()).fit(X_train, y_train)]  # doctest: +SKIP
    >>> val_probs = member_probs(members, X_val)  # (2, n_val, n_classes)  # doctest: +SKIP
    >>> weights = greedy_selection(val_probs, y_val).weights  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from knobs.ensemble._combine import as_stack
from knobs.errors import ConfigError, DataError

__all__ = ["Member", "member_probs", "member_names"]


@runtime_checkable
class Member(Protocol):
    """The member contract: class probabilities for every class, in label order."""

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n_samples, n_classes)`` rows that sum to 1."""


def member_probs(members: Sequence[Any], X: Any) -> np.ndarray:
    """Every member's probabilities on ``X``, stacked and validated: ``(n_members, n_samples, n_classes)``.

    Raises:
        ConfigError: a member has no ``predict_proba`` (wrap networks in ``TorchMember``).
        DataError: naming the member whose output has another shape than the first's, or is not
            a probability table (NaN, negative, rows not summing to 1).
    """
    members = list(members)
    if not members:
        raise DataError("members is empty: an ensemble needs at least one member")
    outputs = []
    for i, member in enumerate(members):
        if not callable(getattr(member, "predict_proba", None)):
            raise ConfigError(f"members[{i}] ({type(member).__name__}) has no predict_proba(X); wrap a torch model "
                              "in knobs.ensemble.TorchMember and a scikit-learn classifier in SklearnMember")
        outputs.append(np.asarray(member.predict_proba(X), dtype=float))
    return as_stack(outputs, "members")


def member_names(members: Sequence[Any]) -> list[str]:
    """Each member's ``name`` attribute, else its class name; repeated names get ``-2``, ``-3``… suffixes."""
    names: list[str] = []
    for member in members:
        base = name = str(getattr(member, "name", None) or type(member).__name__)
        k = 1
        while name in names:
            k += 1
            name = f"{base}-{k}"
        names.append(name)
    return names
