"""Callbacks after finished trials, and ``once_per_batch`` for those that read the study only.

Why a marker: ``study.optimize`` calls its callbacks after each finished trial, and many read the
whole study (keep the top-k checkpoints, publish the best one, stop at a budget, show the best
value). When trials are told in batches — a population of P, or the trials worker processes
finished since the driver last looked — such a callback would read the study P times for the same
answer, which at P = 256 costs more than training the population. A callback wrapped in
``once_per_batch`` runs once per batch instead, after every per-trial callback of the batch, with
the batch's last trial; told one by one, every trial is its own batch, so nothing changes there.

Example:
    >>> study.optimize(objective, n_trials=256, executor=PopulationExecutor(128),
    ...                callbacks=[log_trial, once_per_batch(lambda s, t: keep_top(rundir, s, 5))])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from knobs.trial import FrozenTrial

if TYPE_CHECKING:
    from knobs.study._study import Study

__all__ = ["once_per_batch", "call_back"]


class once_per_batch:  # noqa: N801 — used like a function (a decorator)
    """Mark ``callback(study, trial)`` as reading the study, not the trial: run once per batch."""

    def __init__(self, callback: Callable[["Study", FrozenTrial], Any]) -> None:
        self.callback = callback

    def __call__(self, study: "Study", trial: FrozenTrial) -> Any:
        return self.callback(study, trial)

    def __repr__(self) -> str:
        return f"once_per_batch({self.callback!r})"


def call_back(study: "Study", callbacks: Sequence[Callable[["Study", FrozenTrial], Any]],
              finished: Sequence[FrozenTrial]) -> None:
    """Each per-trial callback for each trial of ``finished`` (in order), then each
    ``once_per_batch`` callback once with the last trial; nothing for an empty batch."""
    if not finished:
        return
    per_trial = [c for c in callbacks if not isinstance(c, once_per_batch)]
    for trial in finished:
        for callback in per_trial:
            callback(study, trial)
    for callback in callbacks:
        if isinstance(callback, once_per_batch):
            callback(study, finished[-1])
