"""A claimed trial run in another process (a local worker, a Ray task), and its result back home.

Why the trial reports straight to the database: pruning needs every trial's intermediate values
at each ``trial.report``, and the study's SQL storage already is the shared, atomic place for
them; routing each report through the claiming process would add a round trip per epoch. Only
the outcome travels back — as plain data, the exception pickled when it can be — and the
claiming process tells the study, so a worker that dies cannot leave a half-told trial behind.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable

from knobs.errors import TrialError
from knobs.storage import Storage, jsonable
from knobs.study._executor import TrialResult, run_objective
from knobs.trial import Trial

__all__ = ["run_claimed", "result_of"]


def run_claimed(objective: Any, storage: Storage, study_id: int, number: int, config: dict[str, Any],
                attrs: dict[str, Any], pruner: Any, direction: str) -> dict[str, Any]:
    """Run trial ``number`` here: ``{"state": "complete", "value": v}`` | ``{"state": "pruned"}``
    | ``{"state": "failed", "attrs": {...}, "error": the pickled exception or None}``."""
    trial = Trial(number, config, on_report=_reporter(storage, study_id, pruner, direction),
                  on_attr=_attr_writer(storage, study_id))
    trial.attrs.update(attrs)  # e.g. retry_of, as the objective would see it in the claiming process
    result = run_objective(objective, trial)
    if result.state == "failed":
        return {"state": "failed", "attrs": result.attrs, "error": _picklable(result.error)}
    return {"state": result.state, "value": result.value}


def result_of(trial: Trial, outcome: dict[str, Any], where: str | None = None) -> TrialResult:
    """The ``TrialResult`` of ``run_claimed``'s outcome for the claimed ``trial``; a failure's
    error is rebuilt (a ``RuntimeError`` with its reason when it cannot be), with the remote
    traceback as a note naming ``where`` it was raised."""
    if outcome["state"] == "pruned":
        return TrialResult.pruned(trial)
    if outcome["state"] != "failed":
        return TrialResult.complete(trial, outcome["value"])
    attrs = outcome["attrs"]
    try:
        error = pickle.loads(outcome["error"]) if outcome.get("error") is not None else None
    except Exception:  # noqa: BLE001 — a class this process cannot rebuild
        error = None
    if not isinstance(error, BaseException):
        error = RuntimeError(f"{attrs.get('fail_reason', 'the trial failed')} (in {where or 'another process'})")
    if where is not None and hasattr(error, "add_note"):
        error.add_note(f"(raised in {where})\n{attrs.get('traceback', '')}")
    return TrialResult.failed(trial, error, attrs=attrs)


def _reporter(storage: Storage, study_id: int, pruner: Any, direction: str) -> Callable[[int, int, float], bool]:
    def on_report(number: int, step: int, value: float) -> bool:
        storage.report(study_id, number, step, value)
        if pruner is None:
            return False
        trials = storage.get_trials(study_id)
        current = next(t for t in trials if t.number == number)
        return bool(pruner.prune(current, trials, direction=direction))

    return on_report


def _attr_writer(storage: Storage, study_id: int) -> Callable[[int, str, Any], None]:
    def on_attr(number: int, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TrialError(f"trial {number}: attribute keys must be strings, got {key!r}")
        storage.set_trial_attr(study_id, number, key, jsonable(value, f"trial {number} attribute {key!r}"))

    return on_attr


def _picklable(error: BaseException | None) -> bytes | None:
    if error is None:
        return None
    try:
        blob = pickle.dumps(error)
        pickle.loads(blob)
        return blob
    except Exception:  # noqa: BLE001 — the claiming process then raises a RuntimeError with the text
        return None
