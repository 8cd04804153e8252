"""Prune decisions for many reports at once, equal to deciding them one report at a time.

Why: a population reports P members after each epoch. One by one, each report is a storage
write followed by a read of the whole study for the pruner; at P = 256 those 2P round trips cost
more than the epoch itself. Instead the study is read once, the reports are applied to that
snapshot in order, and the pruner judges report i on the snapshot holding reports 0..i — exactly
what it would have read after the i-th write — so the decisions are the same (pruners such as
ASHA rank running trials too, so the order matters). The reports are then written in one
transaction.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from knobs.trial import FrozenTrial

__all__ = ["prune_in_order"]


def prune_in_order(pruner: Any, trials: Sequence[FrozenTrial], reports: Sequence[tuple[int, int, float]], *,
                   direction: str) -> list[bool]:
    """One decision per ``(number, step, value)`` of ``reports``, judged in order.

    Args:
        pruner: has ``prune(trial, trials, *, direction) -> bool``.
        trials: the study as stored before the reports (every trial, by number).
        reports: the values to judge, in the order they count as reported.
    """
    view = list(trials)
    position = {t.number: i for i, t in enumerate(view)}
    decisions = []
    for number, step, value in reports:
        i = position[number]
        view[i] = current = replace(view[i], intermediate={**view[i].intermediate, step: value})
        # NOTE: a fresh list per call: a pruner may keep what it is given; the records are frozen.
        decisions.append(bool(pruner.prune(current, list(view), direction=direction)))
    return decisions
