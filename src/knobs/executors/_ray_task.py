"""The body of one Ray task: run the objective on one claimed trial, reporting to the database.

The task is ``knobs.study._remote.run_claimed`` with one storage (connection pool) kept per Ray
worker process and URL; the outcome goes back to the driver, which tells the study — so only the
driver claims and finishes.
"""

from __future__ import annotations

from typing import Any

from knobs.storage import SQLStorage
from knobs.study._remote import run_claimed

__all__ = ["run_remote_trial"]

_STORAGES: dict[str, SQLStorage] = {}


def run_remote_trial(objective: Any, url: str, study_id: int, number: int, config: dict[str, Any],
                     attrs: dict[str, Any], pruner: Any, direction: str) -> dict[str, Any]:
    """``run_claimed`` on the study's storage at ``url``."""
    return run_claimed(objective, _storage(url), study_id, number, config, attrs, pruner, direction)


def _storage(url: str) -> SQLStorage:
    """One storage (connection pool) per Ray worker process and URL."""
    if url not in _STORAGES:
        _STORAGES[url] = SQLStorage(url, create=False)
    return _STORAGES[url]
