"""Ensembles: combine the predictions of several members (trials, snapshots, sklearn models).

No torch here: members are represented by their class probabilities, so a torch model, an
averaged-weights model and a scikit-learn classifier combine the same way.
"""

from knobs.ensemble._combine import average, vote
from knobs.ensemble._greedy import Selection, greedy_selection

__all__ = ["Selection", "average", "greedy_selection", "vote"]
