"""Storage URLs: parse, check and open them as SQLAlchemy engines (SQLite tuned for many writers).

Why a module of its own: every user-facing failure of a URL (a typo, a missing file, a missing
driver) must become one ``KnobsError`` naming the URL, and SQLite needs connection pragmas that
PostgreSQL must never see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from knobs.errors import KnobsError

__all__ = ["parse_url", "display_url", "mask_password", "sqlite_path", "make_engine", "BUSY_TIMEOUT_S", "PG_CONNECT_TIMEOUT_S",
           "SUPPORTED"]

# NOTE: SQLite waits this long for a competing writer's lock before raising "database is
# locked"; the retry loop in _retry.py adds backoff on top for the cases the wait cannot cover
# (a read transaction that must upgrade to a write after another writer committed).
BUSY_TIMEOUT_S = 30.0

#: seconds a PostgreSQL connection attempt may take (libpq ``connect_timeout``).
PG_CONNECT_TIMEOUT_S = 5

_EXAMPLES = "expected e.g. 'sqlite:///runs/x/study.db' or 'postgresql://user:password@host/db'"
#: the URL forms knobs stores studies in, for messages.
SUPPORTED = "SQLite ('sqlite:///path/to/study.db') or PostgreSQL ('postgresql://user:password@host/db')"


def parse_url(url: str | URL) -> URL:
    """``url`` as a SQLAlchemy ``URL``; a string that is not one raises ``KnobsError``."""
    if isinstance(url, URL):
        return url
    if not isinstance(url, str) or "://" not in url:
        raise KnobsError(f"storage {url!r} is not a database URL; {_EXAMPLES}")
    try:
        return sa.make_url(url)
    except sa.exc.ArgumentError as e:
        raise KnobsError(f"storage {url!r} is not a database URL ({e}); {_EXAMPLES}") from None


def display_url(url: URL) -> str:
    """The URL as text with any password masked, for messages."""
    return url.render_as_string(hide_password=True)


def mask_password(text: str) -> str:
    """``text`` with the password of a URL in it masked (``postgresql://user:***@host/db``);
    anything that is not a URL with a password comes back unchanged.

    Why here: a run writes its config to files that are shared and shown (events, the study's run
    record, the dashboard); a database password must reach none of them.

    >>> mask_password("postgresql://ann:s3cret@db.local:5432/knobs")
    'postgresql://ann:***@db.local:5432/knobs'
    >>> mask_password("sqlite:///runs/x/study.db")
    'sqlite:///runs/x/study.db'
    """
    if not isinstance(text, str) or "://" not in text or "@" not in text:
        return text
    try:
        url = sa.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        # NOTE: not a URL SQLAlchemy reads (a Ray address); mask what sits between '//' and ':'…'@'.
        scheme, rest = text.split("://", 1)
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in credentials else text
    return display_url(url) if url.password is not None else text


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for in-memory SQLite and for other back ends."""
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def make_engine(url: str | URL, *, create: bool = True) -> Engine:
    """An engine for ``url``; with ``create=False`` a missing SQLite file is an error, not a new DB.

    Raises:
        KnobsError: the URL is malformed, its driver is not installed, the SQLite file (or its
            folder) does not exist.
    """
    url = _default_driver(parse_url(url))
    _check_scheme(url)
    path = sqlite_path(url)
    if path is not None:
        _check_sqlite_path(url, path, create)
    try:
        engine = sa.create_engine(url, **_engine_options(url))
    except (ImportError, sa.exc.NoSuchModuleError) as e:
        hint = " (pip install 'psycopg[binary]')" if url.get_backend_name() == "postgresql" else ""
        raise KnobsError(f"storage {display_url(url)}: the database driver is missing{hint}: {e}") from None
    except sa.exc.ArgumentError as e:
        raise KnobsError(f"storage {display_url(url)}: {e}; {_EXAMPLES}") from None
    if url.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _check_scheme(url: URL) -> None:
    """A scheme SQLAlchemy has no dialect for is a typo or an unsupported database, not a
    missing driver: name it (the DBAPI driver is only imported later, by ``create_engine``)."""
    try:
        url.get_dialect()
    except sa.exc.NoSuchModuleError:
        raise KnobsError(f"storage {display_url(url)}: unknown database scheme '{url.drivername}://'; knobs "
                         f"stores studies in {SUPPORTED}") from None


def _check_sqlite_path(url: URL, path: Path, create: bool) -> None:
    if not create and not path.is_file():
        raise KnobsError(f"storage {display_url(url)}: no such database file {str(path)!r}")
    if create and not path.parent.is_dir():
        raise KnobsError(f"storage {display_url(url)}: folder {str(path.parent)!r} does not exist")


def _default_driver(url: URL) -> URL:
    """``postgresql://`` means psycopg 3 (the ``postgres`` extra), whatever SQLAlchemy's default."""
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url


def _engine_options(url: URL) -> dict[str, Any]:
    if url.get_backend_name() == "postgresql":
        # NOTE: pre-ping replaces pooled connections the server dropped (a restart, an idle
        # timeout) before a transaction uses them; the connect timeout bounds a host that
        # never answers, so a wrong URL fails in seconds instead of hanging.
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_S}}
    if url.get_backend_name() != "sqlite":
        return {"pool_pre_ping": True}
    connect_args = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
    if sqlite_path(url) is None:
        # One shared connection, or every pooled connection would see its own empty database.
        return {"connect_args": connect_args, "poolclass": StaticPool}
    return {"connect_args": connect_args}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: wait for locks, NORMAL sync (crash-safe in WAL mode), foreign keys.

    The journal mode is not set here: WAL is a property of the file, set once by ``SQLStorage``
    after it checked the file is a knobs database (or empty), so a foreign file is left as it was.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
