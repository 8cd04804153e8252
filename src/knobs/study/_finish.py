"""Telling a batch of ``TrialResult``s: one storage write, the NaN and pruned rules, dead trials kept.

Why apart from ``Study``: every executor ends its trials here (through ``study.finish_many``), so
the paths a trial can end by — a value, a NaN, a non-number, pruned with its last report, a
failure with or without an exception, an abandoned worker, a trial another worker closed first —
are decided in one place and can be read in one screen.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

from knobs.errors import TrialError
from knobs.study._executor import COMPLETE, FAILED, PRUNED, TrialResult
from knobs.study._tell import as_value, outcome
from knobs.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from knobs.study._study import Study

__all__ = ["tell_results"]

_log = logging.getLogger("knobs.study")

Row = tuple[int, TrialState, "float | None", dict[str, Any]]


def tell_results(study: "Study", results: Sequence[TrialResult]) -> tuple[list[FrozenTrial], list[TrialResult]]:
    """Record ``results`` (one write for the batch); returns the finished records and the results
    as recorded (a value that is not a number becomes a failure carrying its ``TrialError``)."""
    results = [_checked_value(result) for result in results]
    if not results:
        return [], results
    rows = _rows(study, results)
    frozen = _write(study, rows)
    for result, trial in zip(results, frozen):
        study._release(result.trial.number)
        if result.is_abandoned:
            _log.warning("trial %d: %s; its config will be retried once", trial.number, result.attrs["fail_reason"])
        elif result.state == COMPLETE and trial.state is TrialState.FAILED:
            _log.warning("trial %d failed: %s", trial.number, trial.attrs.get("fail_reason"))
    return frozen, results


def _checked_value(result: TrialResult) -> TrialResult:
    if result.state not in (COMPLETE, PRUNED, FAILED):
        raise TrialError(f"trial {result.trial.number}: a TrialResult's state must be 'complete', 'pruned' or "
                         f"'failed', got {result.state!r}")
    if result.state == COMPLETE or (result.state == PRUNED and result.value is not None):
        try:
            as_value(result.value, result.trial.number)
        except TrialError as error:
            return TrialResult.failed(result.trial, error)
    return result


def _rows(study: "Study", results: list[TrialResult]) -> list[Row]:
    """(number, state, value, attrs) per result; a pruned trial without a value keeps its last report."""
    last: dict[int, float | None] = {}
    if any(r.state == PRUNED and r.value is None for r in results):
        for trial in study._storage.get_trials(study._id):  # one read for the whole batch
            last[trial.number] = None if trial.last_step is None else trial.intermediate[trial.last_step]
    rows = []
    for result in results:
        number = result.trial.number
        if result.state == FAILED:
            rows.append((number, TrialState.FAILED, None, dict(result.attrs)))
        else:
            state = None if result.state == COMPLETE else PRUNED
            rows.append((number, *outcome(number, result.value, state, last.get(number))))
    return rows


def _write(study: "Study", rows: list[Row]) -> list[FrozenTrial]:
    """One write; if a trial was closed meanwhile (found stale by another worker) nothing was
    written, and each is told alone, one already closed keeping its stored record."""
    storage, sid = study._storage, study._id
    try:
        if len(rows) == 1:
            return [storage.finish_trial(sid, *rows[0])]
        return storage.finish_trials(sid, rows)
    except TrialError:
        if len(rows) == 1:
            return [_stored(study, rows[0][0])]
    told = []
    for row in rows:
        try:
            told.append(storage.finish_trial(sid, *row))
        except TrialError:
            told.append(_stored(study, row[0]))
    return told


def _stored(study: "Study", number: int) -> FrozenTrial:
    frozen = study._storage.get_trial(study._id, number)
    _log.warning("trial %d could not be told (it is %s already); keeping the stored record", number,
                 frozen.state.value)
    return frozen
