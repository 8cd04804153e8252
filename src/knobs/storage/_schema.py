"""The three tables of a knobs study database (SQLAlchemy Core; portable SQLite/PostgreSQL SQL).

Everything a sampler, pruner or report needs is a JSON column or a number: no pickles, so a
database written by one version of knobs stays readable by hand and by the next version.
Tables carry a ``knobs_`` prefix so they can share a PostgreSQL schema with other software.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, Double, ForeignKey, Integer, String

from knobs.errors import KnobsError

__all__ = ["metadata", "studies", "trials", "intermediate", "version", "SCHEMA_VERSION",
           "ensure_schema", "check_schema"]

SCHEMA_VERSION = 1

metadata = sa.MetaData()

studies = sa.Table(
    "knobs_studies", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("direction", String(8), nullable=False),
    Column("space", sa.JSON(none_as_null=True)),
    Column("sampler", sa.JSON(none_as_null=True)),
    Column("pruner", sa.JSON(none_as_null=True)),
    Column("attrs", sa.JSON, nullable=False),
    Column("created_at", Double, nullable=False),
)

trials = sa.Table(
    "knobs_trials", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", Integer, ForeignKey("knobs_studies.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("value", Double),
    Column("config", sa.JSON, nullable=False),
    Column("attrs", sa.JSON, nullable=False),
    Column("started_at", Double),
    Column("finished_at", Double),
    Column("heartbeat", Double),
    Column("host", String(255)),
    Column("pid", Integer),
    # NOTE: this constraint is what makes trial numbers atomic: two workers that read the same
    # max(number) collide here, and the loser retries with the next number.
    sa.UniqueConstraint("study_id", "number", name="uq_knobs_trials_study_number"),
    sa.Index("ix_knobs_trials_study_state", "study_id", "state"),
)

intermediate = sa.Table(
    "knobs_intermediate", metadata,
    Column("trial_id", Integer, ForeignKey("knobs_trials.id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, primary_key=True),
    Column("value", Double, nullable=False),
)

version = sa.Table(
    "knobs_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)


def ensure_schema(engine: sa.Engine) -> None:
    """Create missing tables and stamp the schema version (safe to race: callers retry)."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        stored = conn.execute(sa.select(sa.func.max(version.c.version))).scalar()
        if stored is None:
            conn.execute(version.insert().values(version=SCHEMA_VERSION))
        else:
            _check_version(stored, engine)


def check_schema(engine: sa.Engine, shown_url: str) -> None:
    """For opening without creating: the tables must already be there."""
    if not sa.inspect(engine).has_table(studies.name):
        raise KnobsError(f"storage {shown_url} holds no knobs studies (table {studies.name!r} is missing)")
    if sa.inspect(engine).has_table(version.name):
        with engine.connect() as conn:
            _check_version(conn.execute(sa.select(sa.func.max(version.c.version))).scalar() or 0, engine)


def _check_version(stored: int, engine: sa.Engine) -> None:
    if stored > SCHEMA_VERSION:
        raise KnobsError(f"storage {engine.url.render_as_string(hide_password=True)} was written by a "
                         f"newer knobs (schema {stored} > {SCHEMA_VERSION}); upgrade knobs to read it")
