"""Each member's history, early stopping and fate, and the result it hands back.

Why the Trainer's rules, reused: a member's record, its ``improved`` test (``min_delta``, NaN never
improves), its patience count and its best epoch are decided exactly as ``EarlyStopping`` and
``History`` decide them for a one-by-one fit, so a population member and a ``Trainer`` run agree
on when to stop and which weights to keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knobs.population._members import Member
from knobs.train import Diverged, History
from knobs.train._early_stopping import improved
from knobs.train._history import best_epoch

__all__ = ["MemberLog", "MemberResult", "divergence"]


@dataclass
class MemberResult:
    """What training one member produced.

    Attributes:
        index: the member's position in ``member_params``.
        params: its parameters (``model_params`` with its own laid over them).
        history: per-epoch records as ``Trainer.fit`` writes them (``seconds`` is the wall time
            of the population's epoch, shared by the members that ran it), ``best_epoch``,
            ``stopped_early``, ``monitor``.
        best_value: the monitored metric at ``best_epoch`` (None if no epoch finished).
        state_dict: CPU tensors that load into ``build_model(family, **params)``: the best
            epoch's weights under early stopping (as the Trainer restores them), else the last;
            None for a diverged member.
        diverged: the training loss became NaN/inf; ``message`` is the Trainer's ``Diverged`` text.
        pruned: an ``on_epoch`` callback raised ``knobs.Pruned``; the member stopped there.
    """

    index: int
    params: dict[str, Any]
    history: History
    best_value: float | None
    state_dict: dict[str, Any] | None
    diverged: bool = False
    pruned: bool = False
    message: str | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.history.records


@dataclass
class MemberLog:
    """A running member's records and early-stopping state (``patience`` None: no early stopping)."""

    member: Member
    monitor: str
    mode: str
    patience: int | None
    min_delta: float
    records: list[dict[str, Any]] = field(default_factory=list)
    best_value: float | None = None
    best_epoch: int | None = None
    wait: int = 0
    stopped: bool = False
    pruned: bool = False
    diverged: str | None = None

    @property
    def done(self) -> bool:
        return self.stopped or self.pruned or self.diverged is not None

    def add(self, record: dict[str, Any]) -> bool:
        """Append an epoch; True when it improved on the best (its weights must be kept)."""
        self.records.append(record)
        if self.patience is None:
            return False
        if improved(record[self.monitor], self.best_value, self.min_delta, self.mode):
            self.best_value, self.best_epoch, self.wait = float(record[self.monitor]), record["epoch"], 0
            return True
        self.wait += 1
        self.stopped = self.wait >= max(self.patience, 1)
        return False

    def history(self, epochs: int) -> History:
        """The Trainer's ``History`` for what ran."""
        chosen = self.best_epoch if self.patience is not None and self.best_epoch is not None else \
            best_epoch(self.records, self.monitor, self.mode)
        return History(records=self.records, best_epoch=chosen, stopped_early=len(self.records) < epochs,
                       monitor=self.monitor)

    @property
    def restores_best(self) -> bool:
        """Whether the kept weights are the best epoch's (early stopping found one)."""
        return self.patience is not None and self.best_epoch is not None

    def result(self, epochs: int, state: dict[str, Any] | None) -> MemberResult:
        history = self.history(epochs)
        best = history.best
        value = None if best is None or best.get(self.monitor) is None else float(best[self.monitor])
        return MemberResult(index=self.member.index, params=self.member.params, history=history,
                            best_value=None if self.diverged else value,
                            state_dict=None if self.diverged else state,
                            diverged=self.diverged is not None, pruned=self.pruned, message=self.diverged)


def divergence(losses: np.ndarray, lrs: np.ndarray, *, epoch: int, first_step: int) -> str | None:
    """The Trainer's ``Diverged`` message for one member's epoch, or None if every loss is finite.

    Args:
        losses: the member's per-step training losses this epoch.
        lrs: the LR of each of those steps.
        epoch: the epoch (1-based); first_step: the global number of its first step (1-based).
    """
    bad = np.flatnonzero(~np.isfinite(losses))
    if len(bad) == 0:
        return None
    k = int(bad[0])
    return str(Diverged(epoch=epoch, step=first_step + k, lr=float(lrs[k]), loss=float(losses[k])))
