"""Retry a write transaction when the database says it is busy.

Why: SQLite's busy timeout covers a writer waiting for another writer, but not a transaction
whose snapshot went stale before it could write (SQLITE_BUSY_SNAPSHOT: "database is locked"
at once), and PostgreSQL can abort a transaction on a deadlock or serialization conflict. Each
of these is safe to run again from the start, so we do, with jittered exponential backoff.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

import sqlalchemy as sa

__all__ = ["retry", "is_transient", "is_duplicate", "is_schema_race"]

T = TypeVar("T")

_TRANSIENT = ("database is locked", "database table is locked", "busy", "deadlock",
              "could not serialize")


def is_transient(error: BaseException) -> bool:
    """True for lock/serialization errors that a retry can cure."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    text = str(getattr(error, "orig", error)).lower()
    return any(marker in text for marker in _TRANSIENT)


def is_duplicate(error: BaseException) -> bool:
    """True for a unique-constraint violation (two workers took the same number at once)."""
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, sa.exc.IntegrityError) and ("unique" in text or "duplicate" in text)


def is_schema_race(error: BaseException) -> bool:
    """True when another process created the same table or version row a moment earlier."""
    return is_duplicate(error) or (isinstance(error, sa.exc.DBAPIError) and "already exists" in str(error).lower())


def retry(fn: Callable[[], T], *, deadline_s: float = 120.0, first_wait_s: float = 0.01,
          also: Callable[[BaseException], bool] = lambda error: False) -> T:
    """Call ``fn`` until it succeeds, retrying transient database errors (and those ``also`` names).

    Args:
        fn: one whole transaction (it must be safe to run again from the start).
        deadline_s: give up (re-raise the last error) after this many seconds.
        first_wait_s: the first backoff; it doubles up to 1 s, jittered by up to 100%.
        also: True for further errors worth retrying, e.g. a unique-number race (``is_duplicate``).
    """
    start, wait = time.monotonic(), first_wait_s
    while True:
        try:
            return fn()
        except Exception as error:  # noqa: BLE001 — filtered just below
            if not (is_transient(error) or also(error)):
                raise
            if time.monotonic() - start > deadline_s:
                raise
        time.sleep(wait * (1.0 + random.random()))
        wait = min(wait * 2.0, 1.0)
