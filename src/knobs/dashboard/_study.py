"""A run's study read straight from its ``study.db`` — or the database its ``search.storage``
names —, read-only, incrementally.

Why not ``knobs.Study.load`` or ``SQLStorage``: opening a study the normal way may write — it sets
the file's journal mode, creates missing tables and marks stale trials abandoned. A dashboard
watching a run that another process is writing must never do any of that, so this module opens the
file with SQLite's ``mode=ro`` (shared read locks only; no schema work) and reads the tables through
the one schema of ``knobs.storage._schema``. Finished trials never change, so they are read once
and kept; each refresh re-reads only the running and new rows — what keeps a 10,000-trial study
cheap to watch.

A study kept in PostgreSQL (``search.storage``) is read the same way, through the same schema, in
read-only transactions (psycopg's ``read_only``: the server refuses any write), with the run's name
as the study's name, as ``knobs run`` stores it there.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import operator
import sqlite3
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from knobs.errors import KnobsError
from knobs.storage import _schema as schema
from knobs.storage._url import make_engine, mask_password
from knobs.trial import FrozenTrial, TrialState

__all__ = ["StudyReader", "StudySnapshot", "StudyCounts", "StudyUnreadable", "STUDY_NAME"]

_STATES = {state.value: state for state in TrialState}
STUDY_NAME = "search"
"""The study a run keeps in its own study.db (``knobs run``'s default location)."""


class StudyUnreadable(Exception):
    """study.db exists but cannot be read as a knobs study; the message is shown for that run."""


@dataclass(frozen=True)
class StudySnapshot:
    """The study as last read: its trials by number, and when each running trial last beat."""

    name: str | None
    direction: str
    space: dict[str, Any] | None
    created_at: float | None
    trials: tuple[FrozenTrial, ...] = ()
    heartbeats: dict[int, float] = field(default_factory=dict)


class StudyReader:
    """Reads one study again whenever asked; finished trials are read once.

    ``source``: a run's study.db (its study "search", else its first), or a database URL with the
    study's ``name`` (a PostgreSQL study of ``search.storage``)."""

    def __init__(self, source: Path | str, name: str | None = None) -> None:
        self.path = source if isinstance(source, Path) else None
        self.url = source if isinstance(source, str) else None
        self.name = name
        self._finished: dict[int, FrozenTrial] = {}  # row id → trial
        self._lock = threading.Lock()
        self._database: sa.Engine | None = None  # a database's engine, kept (its pool) across reads

    @property
    def where(self) -> str:
        """Where the study lives, for messages (a password masked)."""
        return str(self.path.name) if self.path is not None else mask_password(self.url or "")

    def _engine(self) -> tuple[sa.Engine, bool]:
        """(engine, whether to dispose of it after the read). Raises ``FileNotFoundError`` (no
        study.db) and ``StudyUnreadable`` (a URL that cannot be opened)."""
        if self.path is not None:
            if not self.path.is_file():
                raise FileNotFoundError(self.path)
            return _read_only_engine(self.path), True
        if self._database is None:
            try:
                engine = make_engine(self.url or "", create=False)
            except KnobsError as e:
                raise StudyUnreadable(str(e)) from None
            # NOTE: every transaction read-only (psycopg's read_only): the server itself refuses writes
            self._database = engine.execution_options(postgresql_readonly=True) \
                if engine.dialect.name == "postgresql" else engine
        return self._database, False

    def read(self) -> StudySnapshot:
        """The study now. Raises ``StudyUnreadable`` (damaged file, not a knobs database, an
        unknown layout, a database that does not answer) and ``FileNotFoundError`` (no study.db)."""
        with self._lock, self._connected() as conn:
            return self._read(conn)

    @contextlib.contextmanager
    def _connected(self) -> Iterator[sa.Connection]:
        """A connection to the study's database; a database error leaves as ``StudyUnreadable`` (password masked),
        and a file's own engine is disposed after."""
        engine, dispose = self._engine()
        try:
            with engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as e:
            raise StudyUnreadable(f"{self._what()} cannot be read as a knobs study: "
                                  f"{mask_password(_first_line(e.orig))}") from None
        finally:
            if dispose:
                engine.dispose()

    def _what(self) -> str:
        return "study.db" if self.path is not None else f"the study database {self.where}"

    def _study_row(self, studies: list) -> Any:
        """The run's study among the database's: by name when one is given (a shared database),
        else "search" or the first (a run's own study.db)."""
        if self.name is not None:
            row = next((row for row in studies if row.name == self.name), None)
            if row is None:
                raise StudyUnreadable(f"{self._what()} holds no study named {self.name!r} (yet)")
            return row
        return next((row for row in studies if row.name == STUDY_NAME), studies[0])

    def _read(self, conn: sa.Connection) -> StudySnapshot:
        s, t, im = schema.studies, schema.trials, schema.intermediate
        studies = conn.execute(sa.select(s.c.id, s.c.name, s.c.direction, s.c.space, s.c.created_at)
                               .order_by(s.c.id)).all()
        if not studies and self.name is None:
            return StudySnapshot(None, "minimize", None, None)
        study = self._study_row(studies)
        # NOTE: rows as plain tuples (``_plain_rows``): 10,000 trials' rows through SQLAlchemy's result
        # processing and named access took a quarter of a large study's first read
        index = _plain_rows(conn, sa.select(t.c.id, t.c.state, t.c.heartbeat).where(t.c.study_id == study.id))
        missing = [row_id for row_id, _, _ in index if row_id not in self._finished]
        fresh: dict[int, FrozenTrial] = {}
        if missing:
            # NOTE: the first read (everything missing) is one query per table instead of hundreds of
            # IN (...) chunks; later reads fetch the few running and new rows by id.
            wanted = (t.c.study_id == study.id) if len(missing) > len(index) // 2 else t.c.id.in_(missing)
            # NOTE: the JSON columns come as text and are parsed in one call per column (a JSON array
            # of them): per-row decoding took most of the time of a 10,000-trial study's first read.
            rows = _plain_rows(conn, sa.select(t.c.id, t.c.number, t.c.state, t.c.value,
                                               sa.type_coerce(t.c.config, sa.Text).label("config"),
                                               sa.type_coerce(t.c.attrs, sa.Text).label("attrs"),
                                               t.c.started_at, t.c.finished_at).where(wanted))
            configs, attrs = _json_column([row[4] for row in rows]), _json_column([row[5] for row in rows])
            ids = sa.select(t.c.id).where(wanted).scalar_subquery()
            # (in the primary key's order: each trial's steps arrive together and sorted, so they need no sorting here)
            query = sa.select(im.c.trial_id, im.c.step, im.c.value).where(im.c.trial_id.in_(ids)) \
                .order_by(im.c.trial_id, im.c.step)
            steps = {trial_id: {step: value for _, step, value in group}
                     for trial_id, group in itertools.groupby(_plain_rows(conn, query), key=operator.itemgetter(0))}
            for row, config, attr in zip(rows, configs, attrs):
                trial = _frozen(row, config, attr, steps.get(row[0], {}))
                fresh[row[0]] = trial
                if trial.state.finished:
                    self._finished[row[0]] = trial
        trials = sorted((self._finished.get(row_id) or fresh[row_id] for row_id, _, _ in index),
                        key=operator.attrgetter("number"))
        beats = {fresh[row_id].number: beat for row_id, _, beat in index
                 if row_id in fresh and fresh[row_id].state is TrialState.RUNNING and beat is not None}
        return StudySnapshot(study.name, study.direction or "minimize", study.space, study.created_at,
                             tuple(trials), beats)


    def counts(self) -> StudyCounts:
        """Trials per state, the best value and the running trials' latest heartbeat — one
        aggregate query, for the runs list (no trial is read). Raises as ``read``."""
        s, t = schema.studies, schema.trials
        with self._connected() as conn:
            studies = conn.execute(sa.select(s.c.id, s.c.name, s.c.direction, s.c.created_at).order_by(s.c.id)).all()
            if not studies and self.name is None:
                return StudyCounts("minimize", None, {}, None, None)
            study = self._study_row(studies)
            groups = conn.execute(sa.select(t.c.state, sa.func.count(), sa.func.min(t.c.value), sa.func.max(t.c.value),
                                            sa.func.max(t.c.heartbeat)).where(t.c.study_id == study.id)
                                  .group_by(t.c.state)).all()
        direction = study.direction if study.direction in ("minimize", "maximize") else "minimize"
        states = {state: count for state, count, _, _, _ in groups}
        complete = next((row for row in groups if row[0] == TrialState.COMPLETE.value), None)
        best = None if complete is None else (complete[3] if direction == "maximize" else complete[2])
        beat = next((row[4] for row in groups if row[0] == TrialState.RUNNING.value), None)
        return StudyCounts(direction, study.created_at, states, best, beat)


def _plain_rows(conn: sa.Connection, query: sa.Select) -> list[tuple]:
    """The rows of ``query`` as plain tuples. NOTE: SQLite's (plain numbers, often ten per trial, 54,000
    for a large study) through the driver directly, with no result processing."""
    if conn.dialect.name != "sqlite":
        return [tuple(row) for row in conn.execute(query)]
    compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
    return conn.connection.driver_connection.execute(str(compiled)).fetchall()


@dataclass(frozen=True)
class StudyCounts:
    """What the runs list shows of a study."""

    direction: str
    created_at: float | None
    states: dict[str, int]
    best_value: float | None
    last_heartbeat: float | None  # of the running trials


def _read_only_engine(path: Path) -> sa.Engine:
    """An engine whose every connection opens ``path`` with SQLite's ``mode=ro``: no write, no
    journal-mode change, no table created (a WAL file's readers share its ``-shm`` index)."""
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=2.0, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _json_column(texts: list[Any]) -> list[Any]:
    """Each JSON text decoded (None for NULL); ``StudyUnreadable`` naming a damaged one. A driver
    that decodes JSON columns itself (psycopg, for PostgreSQL's json) gives the values as they are.

    NOTE: one orjson call per text (faster than one over a joined array: no join, no big list), and
    the standard library only for a text orjson refuses — ``NaN`` in a diverged trial's curve, as
    SQLAlchemy's ``json.dumps`` writes it —, not for the whole column as before."""
    if any(not isinstance(text, (str, bytes)) and text is not None for text in texts):
        return list(texts)
    out = []
    for i, text in enumerate(texts):
        if not text:
            out.append(None)
            continue
        try:
            out.append(orjson.loads(text))
        except ValueError:
            try:
                out.append(json.loads(text))
            except ValueError:
                raise StudyUnreadable(f"row {i} of knobs_trials holds damaged JSON ({text[:40]!r}…)") from None
    return out


def _frozen(row: tuple, config: Any, attrs: Any, intermediate: dict[int, float]) -> FrozenTrial:
    """The trial of a row (id, number, state, value, config, attrs, started_at, finished_at);
    ``intermediate`` already in step order (the query's)."""
    _, number, state, value, _, _, started_at, finished_at = row
    try:
        known = _STATES[state]
    except KeyError:
        raise StudyUnreadable(f"trial {number} has the unknown state {state!r} (a newer knobs?)") from None
    return FrozenTrial(number=number, config=config if isinstance(config, dict) else {}, state=known,
                       value=value, intermediate=intermediate, started_at=started_at, finished_at=finished_at,
                       attrs=attrs if isinstance(attrs, dict) else {})


def _first_line(error: Any) -> str:
    return (str(error).strip().splitlines() or ["unknown error"])[0]
