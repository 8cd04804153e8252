"""Shared fixtures: a real PostgreSQL server for the studies that many workers share.

The server comes from $KNOBS_TEST_POSTGRES (default: the one `.ci/postgres.sh` starts). Tests that
need it are skipped when it does not answer — unless KNOBS_REQUIRE_POSTGRES=1 (CI), where a
missing server must fail the run rather than quietly skip what it was meant to check.
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_DEFAULT = "postgresql://knobs:knobs@127.0.0.1:5432/knobs_test"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL, after checking that it answers."""
    url = os.environ.get("KNOBS_TEST_POSTGRES", POSTGRES_DEFAULT)
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                  connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as e:  # noqa: BLE001 — no driver, no server, wrong password: all "unavailable"
        message = f"PostgreSQL at {url} is not available ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        if os.environ.get("KNOBS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; KNOBS_REQUIRE_POSTGRES=1 (run .ci/postgres.sh)", pytrace=False)
        pytest.skip(message + "; run .ci/postgres.sh")
    return url


@pytest.fixture
def postgres_url(postgres_server: str):
    """A URL whose tables live in a fresh schema of their own, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"knobs_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=True)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
