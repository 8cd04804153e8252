"""Ensembles: members from trials, snapshots, averaged weights and scikit-learn; ways to combine them.

The combiners are pure NumPy: members are represented by their class probabilities — arrays
``(n_members, n_samples, n_classes)`` or a list of ``(n_samples, n_classes)`` — so a torch model,
an averaged-weights model and a scikit-learn classifier combine the same way. ``member_probs``
turns members (anything with ``predict_proba``: ``TorchMember``, ``SklearnMember``) into that
array.

Where members come from:

- trials of a study: ``TorchMember(model)`` for each of the top trials' models;
- one run: ``CycleSnapshots`` (snapshot ensembles, with ``snapshot_schedule``) and
  ``EpochSnapshots`` (checkpoints at chosen epochs), both Trainer callbacks;
- weight averaging: ``SWA`` (SWA, Polyak or EMA averaging, batch norm recomputed);
- scikit-learn: ``SklearnMember(LogisticRegression())`` etc., trained on the same split.

How to combine: ``average`` (optionally weighted; ``average_labels`` for multi-label probabilities), ``vote``, ``fit_weights`` (free weights on
the simplex, minimum validation log loss), ``greedy_selection`` (Caruana), ``Stacking``;
``EnsembleReport`` scores them all out-of-fold. ``majority_error``, ``diversity`` and
``binomial_table`` set the binomial argument beside what the members measure.

The torch-based names (``TorchMember``, ``Snapshot``, ``SnapshotKeeper``, ``CycleSnapshots``,
``EpochSnapshots``, ``snapshot_schedule``, ``SWA``) load on first use, so ``import
knobs.ensemble`` stays torch-free for combining stored predictions.

Example:
    >>> from knobs.ensemble import average, greedy_selection
    >>> sel = greedy_selection(val_probs, y_val, size=25)  # doctest: +SKIP
    >>> test = average(test_probs, sel.weights)  # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

from knobs.ensemble._binomial import binomial_table, diversity, majority_error
from knobs.ensemble._combine import average, average_labels, vote
from knobs.ensemble._greedy import Selection, greedy_selection
from knobs.ensemble._members import Member, member_names, member_probs
from knobs.ensemble._report import EnsembleReport
from knobs.ensemble._sklearn_member import SklearnMember
from knobs.ensemble._stacking import Stacking
from knobs.ensemble._weights import fit_weights

# NOTE: name -> module for the torch-based members, imported by __getattr__ on first access.
_TORCH_NAMES = {
    "CycleSnapshots": "knobs.ensemble._cycles",
    "EpochSnapshots": "knobs.ensemble._epochs",
    "SWA": "knobs.ensemble._swa",
    "Snapshot": "knobs.ensemble._snapshot",
    "SnapshotKeeper": "knobs.ensemble._snapshot",
    "TorchMember": "knobs.ensemble._torch_member",
    "snapshot_schedule": "knobs.ensemble._cycles",
}

__all__ = ["EnsembleReport", "Member", "Selection", "SklearnMember", "Stacking", "average", "average_labels",
           "binomial_table",
           "diversity", "fit_weights", "greedy_selection", "majority_error", "member_names", "member_probs",
           "vote", *_TORCH_NAMES]


def __getattr__(name: str) -> Any:
    if name not in _TORCH_NAMES:
        raise AttributeError(f"module 'knobs.ensemble' has no attribute {name!r}")
    return getattr(import_module(_TORCH_NAMES[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_NAMES))
