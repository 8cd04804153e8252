"""``Hyperband``: several ASHA brackets, each with its own early-stopping rate (Li et al. 2018).

Why brackets: ASHA alone bets that early values predict final ones; a bracket with a higher
early-stopping rate judges trials only after more steps, hedging against slow starters. Each trial
is placed in one bracket by a hash of its number — the same in every worker — weighted by the
number of trials each bracket would run in synchronous Hyperband, and is compared only with
trials of its own bracket.
"""

from __future__ import annotations

import math
import zlib
from typing import Sequence

from knobs.errors import ConfigError
from knobs.prune._asha import ASHA
from knobs.prune._base import Pruner, check_int
from knobs.trial import FrozenTrial

__all__ = ["Hyperband", "bracket_budgets", "bracket_of"]


class Hyperband(Pruner):
    """Hyperband over ASHA brackets ``s = 0 .. n_brackets - 1``.

    Args:
        min_resource: steps before the most aggressive bracket's first judgement.
        max_resource: the full budget of a trial (e.g. its epochs).
        reduction_factor: η of every bracket.

    With (1, 81, 3) there are 5 brackets with first rungs at steps 1, 3, 9, 27 and 81.
    """

    def __init__(self, min_resource: int = 1, max_resource: int = 81, reduction_factor: int = 3) -> None:
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.reduction_factor = reduction_factor

    def validate(self) -> "Hyperband":
        check_int("Hyperband", "min_resource", self.min_resource, 1)
        check_int("Hyperband", "max_resource", self.max_resource, 1)
        check_int("Hyperband", "reduction_factor", self.reduction_factor, 2)
        if self.max_resource < self.min_resource:
            raise ConfigError(f"Hyperband(max_resource={self.max_resource}) must be >= "
                              f"min_resource={self.min_resource}")
        return self

    def brackets(self) -> list[ASHA]:
        """One ASHA per bracket, bracket ``s`` with ``min_early_stopping_rate = s``."""
        self.validate()
        n = len(bracket_budgets(self.min_resource, self.max_resource, self.reduction_factor))
        return [ASHA(self.min_resource, self.reduction_factor, self.max_resource, s) for s in range(n)]

    def prune(self, trial: FrozenTrial, trials: Sequence[FrozenTrial], *, direction: str) -> bool:
        self.validate()
        budgets = bracket_budgets(self.min_resource, self.max_resource, self.reduction_factor)
        mine = bracket_of(trial.number, budgets)
        peers = [t for t in trials if bracket_of(t.number, budgets) == mine]
        return self.brackets()[mine].prune(trial, peers, direction=direction)


def bracket_budgets(min_resource: int, max_resource: int, reduction_factor: int) -> list[int]:
    """Trials per bracket in synchronous Hyperband: ``ceil(n * η**k / (k + 1))``, k = n-1-s."""
    n = 0
    while min_resource * reduction_factor ** n <= max_resource:
        n += 1
    return [math.ceil(n * reduction_factor ** (n - 1 - s) / (n - s)) for s in range(n)]


def bracket_of(number: int, budgets: list[int]) -> int:
    """The bracket of trial ``number``: a stable hash (crc32, not Python's salted ``hash``)."""
    slot = zlib.crc32(f"knobs-trial-{number}".encode()) % sum(budgets)
    for bracket, budget in enumerate(budgets):
        if slot < budget:
            return bracket
        slot -= budget
    raise AssertionError("unreachable: slot < sum(budgets)")
