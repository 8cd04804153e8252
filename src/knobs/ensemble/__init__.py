"""Ensembles: combine the predictions of several members (trials, snapshots, sklearn models).

No torch here: members are represented by their class probabilities — NumPy arrays
``(n_members, n_samples, n_classes)`` or a list of ``(n_samples, n_classes)`` — so a torch
model, an averaged-weights model and a scikit-learn classifier combine the same way.

Example:
    >>> from knobs.ensemble import average, greedy_selection
    >>> sel = greedy_selection(val_probs, y_val, size=25)  # doctest: +SKIP
    >>> test = average(test_probs, sel.weights)  # doctest: +SKIP
"""

from knobs.ensemble._binomial import diversity, majority_error
from knobs.ensemble._combine import average, vote
from knobs.ensemble._greedy import Selection, greedy_selection
from knobs.ensemble._report import EnsembleReport
from knobs.ensemble._stacking import Stacking

__all__ = ["EnsembleReport", "Selection", "Stacking", "average", "diversity", "greedy_selection",
           "majority_error", "vote"]
