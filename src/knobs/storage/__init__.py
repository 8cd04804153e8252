"""Durable study records as JSON rows: in memory, or SQLite/PostgreSQL through SQLAlchemy.

Example:
    >>> from knobs.storage import get_storage, list_studies
    >>> storage = get_storage("sqlite:///study.db")       # created if missing  # doctest: +SKIP
    >>> list_studies("sqlite:///study.db")                # doctest: +SKIP
    [{'name': 'search', 'direction': 'minimize', 'n_trials': 20, 'n_complete': 17, ...}]
"""

from __future__ import annotations

from typing import Any

from knobs.errors import KnobsError
from knobs.storage._base import NumberTaken, RunningTrial, Storage, StudyRecord, jsonable, summarize
from knobs.storage._memory import InMemoryStorage

__all__ = ["Storage", "StudyRecord", "RunningTrial", "NumberTaken", "InMemoryStorage", "SQLStorage",
           "get_storage", "list_studies", "summarize", "jsonable", "mask_password"]


#: Loaded on first touch: they need SQLAlchemy (about 0.4 s to import), which a study kept in
#: memory (and ``import knobs``) should not pay.
_LAZY = {"SQLStorage": "knobs.storage._sql", "mask_password": "knobs.storage._url"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'knobs.storage' has no attribute {name!r}")


def get_storage(storage: str | Storage | None, *, create: bool = True) -> Storage:
    """The storage a study lives in.

    Args:
        storage: None (a fresh ``InMemoryStorage``), a ``Storage`` (used as is) or a database URL
            such as ``"sqlite:///runs/x/study.db"``.
        create: create a missing SQLite file and the tables (False: they must already exist,
            as when inspecting or loading a study).

    Raises:
        KnobsError: a malformed URL, a missing driver, or (``create=False``) a missing file.
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if isinstance(storage, str):
        from knobs.storage._sql import SQLStorage

        return SQLStorage(storage, create=create)
    raise KnobsError(f"storage must be None, a database URL or a knobs.storage.Storage; got {type(storage).__name__}")


def list_studies(url: str | Storage) -> list[dict[str, Any]]:
    """One dict per study in ``url``: name, direction, n_trials, n_complete, n_pruned, n_failed,
    n_running, best_value (None without a complete trial) and created_at (seconds since the epoch).

    Raises:
        KnobsError: the URL is malformed or its database/file does not exist.
    """
    storage = get_storage(url, create=False)
    try:
        return storage.list_studies()
    finally:
        if storage is not url:
            storage.close()
