"""The body of one Ray task: run the objective on one claimed trial, reporting to the database.

Why tasks talk to the database for reports: pruning needs every trial's intermediate values at
each ``trial.report``, and the study's SQL storage already is the shared, atomic place for them;
routing each report through the driver would add a round trip per epoch. The final value goes
back to the driver, which tells the study — so only the driver asks and tells.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable

from knobs.errors import TrialError
from knobs.storage import SQLStorage, jsonable
from knobs.trial import Pruned, Trial

__all__ = ["run_remote_trial"]

_STORAGES: dict[str, SQLStorage] = {}


def run_remote_trial(objective: Any, url: str, study_id: int, number: int, config: dict[str, Any],
                     attrs: dict[str, Any], pruner: Any, direction: str) -> dict[str, Any]:
    """``{"state": "complete", "value": v}`` | ``{"state": "pruned"}`` |
    ``{"state": "failed", "attrs": {...}, "error": pickled exception or None}``."""
    from knobs.study._optimize import failure_attrs

    storage = _storage(url)
    trial = Trial(number, config, on_report=_reporter(storage, study_id, pruner, direction),
                  on_attr=_attr_writer(storage, study_id))
    trial.attrs.update(attrs)  # e.g. retry_of, as the objective would see it in a local worker
    try:
        value = objective(trial.config, trial)
    except Pruned:
        return {"state": "pruned"}
    except BaseException as error:  # noqa: BLE001 — the driver decides what propagates
        return {"state": "failed", "attrs": failure_attrs(error), "error": _picklable(error)}
    return {"state": "complete", "value": value}


def _storage(url: str) -> SQLStorage:
    """One storage (connection pool) per Ray worker process and URL."""
    if url not in _STORAGES:
        _STORAGES[url] = SQLStorage(url, create=False)
    return _STORAGES[url]


def _reporter(storage: SQLStorage, study_id: int, pruner: Any, direction: str) -> Callable[[int, int, float], bool]:
    def on_report(number: int, step: int, value: float) -> bool:
        storage.report(study_id, number, step, value)
        if pruner is None:
            return False
        trials = storage.get_trials(study_id)
        current = next(t for t in trials if t.number == number)
        return bool(pruner.prune(current, trials, direction=direction))

    return on_report


def _attr_writer(storage: SQLStorage, study_id: int) -> Callable[[int, str, Any], None]:
    def on_attr(number: int, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TrialError(f"trial {number}: attribute keys must be strings, got {key!r}")
        storage.set_trial_attr(study_id, number, key, jsonable(value, f"trial {number} attribute {key!r}"))

    return on_attr


def _picklable(error: BaseException) -> bytes | None:
    try:
        blob = pickle.dumps(error)
        pickle.loads(blob)
        return blob
    except Exception:  # noqa: BLE001 — the driver then raises a RuntimeError with the text
        return None
