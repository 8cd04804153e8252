"""Retry a transaction when the database is busy or the connection to it broke.

Why: SQLite's busy timeout covers a writer waiting for another writer, but not a transaction
whose snapshot went stale before it could write (SQLITE_BUSY_SNAPSHOT: "database is locked"
at once), and PostgreSQL can abort a transaction on a deadlock or serialization conflict. A
PostgreSQL server that restarts, fails over or drops idle connections breaks the connection
under a running trial (``OperationalError``: "server closed the connection unexpectedly",
"terminating connection due to administrator command"); the pool then opens a fresh one. Each
of these leaves nothing half-applied (the transaction rolled back), so it is run again from the
start, with jittered exponential backoff, for up to two minutes — a worker rides out a server
restart instead of failing its trial.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Callable, TypeVar

import sqlalchemy as sa

__all__ = ["retry", "is_transient", "is_locked", "is_disconnect", "is_duplicate", "is_schema_race"]

T = TypeVar("T")

_log = logging.getLogger("knobs.storage")

_LOCKED = ("database is locked", "database table is locked", "busy", "deadlock", "could not serialize")
# NOTE: texts of psycopg / libpq and SQLite for a connection that is gone or never came; matched
# in lower case on the driver's message, as SQLAlchemy's own is_disconnect does per dialect.
_DISCONNECT = ("server closed the connection", "connection refused", "could not connect",
               "connection failed", "terminating connection", "connection reset", "connection timed out",
               "timeout expired", "the database system is starting up", "the database system is shutting down",
               "the database system is in recovery mode", "ssl connection has been closed",
               "consuming input failed", "connection is closed", "connection already closed",
               "could not receive data", "could not send data", "no connection to the server",
               "cannot connect", "name or service not known", "could not translate host name")


# Refusals that no retry cures: the server answered, and said no.
_REFUSED = ("password authentication failed", "no pg_hba.conf entry", "does not exist", "permission denied")


def _text(error: BaseException) -> str:
    return str(getattr(error, "orig", error)).lower()


def is_disconnect(error: BaseException) -> bool:
    """True when the connection to the database broke or could not be made."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    return bool(error.connection_invalidated) or any(marker in _text(error) for marker in _DISCONNECT)


def is_locked(error: BaseException) -> bool:
    """True for lock and serialization conflicts with another writer."""
    return isinstance(error, sa.exc.DBAPIError) and any(marker in _text(error) for marker in _LOCKED)


def is_transient(error: BaseException) -> bool:
    """True for lock/serialization errors and broken connections: a retry can cure them."""
    if not isinstance(error, sa.exc.DBAPIError) or any(marker in _text(error) for marker in _REFUSED):
        return False
    return is_disconnect(error) or is_locked(error)


def is_duplicate(error: BaseException) -> bool:
    """True for a unique-constraint violation (two workers took the same number at once)."""
    return isinstance(error, sa.exc.IntegrityError) and ("unique" in _text(error) or "duplicate" in _text(error))


def is_schema_race(error: BaseException) -> bool:
    """True when another process created the same table or version row a moment earlier."""
    return is_duplicate(error) or (isinstance(error, sa.exc.DBAPIError) and "already exists" in str(error).lower())


def retry(fn: Callable[[], T], *, deadline_s: float = 120.0, first_wait_s: float = 0.01,
          also: Callable[[BaseException], bool] = lambda error: False,
          transient: Callable[[BaseException], bool] = is_transient) -> T:
    """Call ``fn`` until it succeeds, retrying transient database errors (and those ``also`` names).

    Args:
        fn: one whole transaction (it must be safe to run again from the start).
        deadline_s: give up (re-raise the last error) after this many seconds.
        first_wait_s: the first backoff; it doubles up to 1 s, jittered by up to 100%.
        also: True for further errors worth retrying, e.g. a unique-number race (``is_duplicate``).
        transient: which database errors to retry; ``is_locked`` where a lost connection
            should fail at once (opening a storage: a wrong URL, not a blip).
    """
    start, wait, warned = time.monotonic(), first_wait_s, False
    while True:
        try:
            return fn()
        except Exception as error:  # noqa: BLE001 — filtered just below
            if not (transient(error) or also(error)):
                raise
            if time.monotonic() - start > deadline_s:
                raise
            if is_disconnect(error) and not warned:
                _log.warning("database connection lost (%s); retrying for up to %.0f s",
                             _text(error).splitlines()[0] if _text(error) else type(error).__name__, deadline_s)
                warned = True
        time.sleep(wait * (1.0 + random.random()))
        wait = min(wait * 2.0, 1.0)
