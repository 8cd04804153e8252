"""Shared fixtures for the system pieces some tests need: a real PostgreSQL server for the
studies that many workers share, and WordNet 3.0 for EDA's synonyms.

The server comes from $KNOBS_TEST_POSTGRES (default: the one `.ci/postgres.sh` starts). Tests that
need it are skipped when it does not answer — unless KNOBS_REQUIRE_POSTGRES=1 (CI), where a
missing server must fail the run rather than quietly skip what it was meant to check.

WordNet (Debian's wordnet-base; `make test` installs it when it runs as root with apt-get): tests
marked ``@pytest.mark.wordnet`` are skipped with the reason when it is missing — unless
KNOBS_REQUIRE_WORDNET=1 (CI), where they fail instead. KNOBS_TEST_HIDE_WORDNET=1 hides an
installed WordNet, so a machine that has it can check what a fresh machine does.

A browser (Debian's Chromium driven by Playwright) for web pages: the ``page`` fixture and its
helpers live in tests/browser_support.py; a test that takes it is marked ``browser``, skipped
without one unless KNOBS_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import os
import uuid

import pytest
from browser_support import chromium, page, page_log  # noqa: F401 — fixtures, shared by every test file

POSTGRES_DEFAULT = "postgresql://knobs:knobs@127.0.0.1:5432/knobs_test"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("KNOBS_TEST_HIDE_WORDNET") == "1":
        from knobs.augment import _thesaurus

        os.environ.pop(_thesaurus.ENV_VAR, None)
        _thesaurus.SEARCHED = ()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that drives the browser ``browser``, so ``-m "not browser"`` leaves them out."""
    for item in items:
        if "chromium" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


def _wordnet_missing() -> str | None:
    """Why WordNet cannot be read here (the finder's own message), or None when it can."""
    from knobs.augment import find_wordnet
    from knobs.errors import DataError

    try:
        find_wordnet()
    except DataError as e:
        return str(e)
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("wordnet") is None:
        return
    missing = _wordnet_missing()
    if missing is None:
        return
    if os.environ.get("KNOBS_REQUIRE_WORDNET") == "1":
        pytest.fail(f"{missing}; KNOBS_REQUIRE_WORDNET=1", pytrace=False)
    pytest.skip(f"no WordNet (`make test` as root installs it): {missing}")


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
