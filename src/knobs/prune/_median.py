"""``Median``: stop a trial whose best value so far is worse than the median of its peers.

The median stopping rule of Google Vizier (Golovin et al. 2017): cheap, assumption-free, and
robust because it compares like with like — values at the same step.
"""

from __future__ import annotations

import statistics
from typing import Sequence

from knobs.prune._base import Pruner, best_so_far, check_direction, check_int, is_worse, previous_step
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Median"]

_PEERS = (TrialState.COMPLETE, TrialState.PRUNED)


class Median(Pruner):
    """Prune when the trial's best-so-far value is worse than the median of other trials' values
    at the same step.

    Args:
        n_startup_trials: no pruning until this many trials have completed (peers need history).
        n_warmup_steps: no pruning before this step of each trial (early curves are noisy).
        interval_steps: judge at steps ``n_warmup_steps + k * interval_steps`` (the first report
            at or after each, so sparse reports are judged too).

    Example:
        >>> study = knobs.Study(space, pruner=knobs.prune.Median(n_startup_trials=5))  # doctest: +SKIP
    """

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 0, interval_steps: int = 1) -> None:
        self.n_startup_trials = n_startup_trials
        self.n_warmup_steps = n_warmup_steps
        self.interval_steps = interval_steps

    def validate(self) -> "Median":
        check_int("Median", "n_startup_trials", self.n_startup_trials, 0)
        check_int("Median", "n_warmup_steps", self.n_warmup_steps, 0)
        check_int("Median", "interval_steps", self.interval_steps, 1)
        return self

    def prune(self, trial: FrozenTrial, trials: Sequence[FrozenTrial], *, direction: str) -> bool:
        self.validate()
        check_direction(direction)
        step = trial.last_step
        if step is None or step < self.n_warmup_steps or not self._due(trial, step):
            return False
        others = [t for t in trials if t.number != trial.number]
        if sum(t.state is TrialState.COMPLETE for t in others) < self.n_startup_trials:
            return False
        peers = [t.intermediate[step] for t in others if t.state in _PEERS and step in t.intermediate]
        if not peers:
            return False
        return is_worse(best_so_far(trial.intermediate, step, direction), statistics.median(peers), direction)

    def _due(self, trial: FrozenTrial, step: int) -> bool:
        """True at the first report at or after the latest judging step."""
        judged = self.n_warmup_steps + (step - self.n_warmup_steps) // self.interval_steps * self.interval_steps
        return previous_step(trial.intermediate, step) < judged
