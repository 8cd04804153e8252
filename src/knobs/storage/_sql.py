"""``SQLStorage``: studies in SQLite or PostgreSQL through SQLAlchemy, safe for many workers.

Why it is shaped this way:
- Every public method is one short transaction run under ``retry`` (SQLite "database is locked",
  PostgreSQL deadlocks): a transient failure is repeated, never half-applied.
- A trial changes only while RUNNING, and every write says ``WHERE state = 'running'``: a trial
  is finished exactly once even when its owner and a stale-trial sweep race.
- Finished trials never change again, so they are cached: ``get_trials`` re-reads only the
  running and new ones (the pruner calls it at every report).
- A SQLite study file is whole when its process ends: ``close()`` checkpoints the WAL into the
  file (TRUNCATE) before letting go, and a process that ends normally does the same for every
  SQLite storage it still holds open (an ``atexit`` hook over a weak set), so copying
  ``study.db`` alone copies the study. A file holding other tables is refused before anything
  changes, its journal mode included.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from typing import Any, Iterable, Iterator, Sequence

import sqlalchemy as sa

from knobs.errors import KnobsError, TrialError
from knobs.storage import _schema as db
from knobs.storage._base import NumberTaken, RunningTrial, Storage, StudyRecord, summarize
from knobs.storage._retry import is_disconnect, is_duplicate, is_locked, is_schema_race, retry
from knobs.storage._url import SUPPORTED, display_url, make_engine, parse_url, sqlite_path
from knobs.trial import FrozenTrial, TrialState

__all__ = ["SQLStorage"]

_log = logging.getLogger("knobs.storage")
_RUNNING = TrialState.RUNNING.value
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit
#: milliseconds a closing checkpoint waits for other connections' readers before giving up (the
#: last connection to close checkpoints then); short, so a process never hangs on its way out.
CHECKPOINT_WAIT_MS = 2000

#: SQLite storages open in this process, checkpointed when it ends (``_checkpoint_at_exit``).
_OPEN_FILES: "weakref.WeakSet[SQLStorage]" = weakref.WeakSet()


class SQLStorage(Storage):
    """Durable storage in any SQLAlchemy database; ``sqlite:///study.db`` by default.

    Args:
        url: a database URL, e.g. ``"sqlite:///runs/x/study.db"`` or
            ``"postgresql://user:password@host/db"`` (psycopg 3; needs ``pip install 'psycopg[binary]'``).
        create: create the database and tables when missing (False: they must exist).

    Example:
        >>> storage = SQLStorage("sqlite://")          # in-memory SQLite
        >>> record = storage.create_study("demo", direction="minimize", space=None)
        >>> storage.create_trial(record.id, {"lr": 0.1}).number
        0
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        parsed = parse_url(url)
        self.url = display_url(parsed)
        self._engine = make_engine(parsed, create=create)
        self._finished: dict[tuple[int, int], FrozenTrial] = {}
        self._lock = threading.Lock()
        # NOTE: in-memory SQLite is one connection shared by all threads (StaticPool); its
        # transactions would interleave, so they take turns. Files and servers need no lock.
        in_memory = parsed.get_backend_name() == "sqlite" and sqlite_path(parsed) is None
        self._serial = threading.RLock() if in_memory else contextlib.nullcontext()
        self._connect_url = None if in_memory else parsed.render_as_string(hide_password=False)
        self._path = sqlite_path(parsed)
        self._pid = os.getpid()
        try:
            if self._path is not None:
                _refuse_foreign_file(self._engine, self.url)
            # NOTE: a lost connection is not retried here: a server that does not answer at
            # opening time is a wrong URL far more often than a blip, and the person waiting
            # deserves the message at once. Lock and schema races with other workers are retried.
            if create:
                retry(lambda: db.ensure_schema(self._engine), also=is_schema_race, transient=is_locked)
            else:
                retry(lambda: db.check_schema(self._engine, self.url), transient=is_locked)
            if self._path is not None:
                retry(lambda: _set_wal(self._engine), transient=is_locked)
        except sa.exc.DatabaseError as e:
            self._engine.dispose()
            if is_disconnect(e):
                raise KnobsError(f"storage {self.url} cannot be reached: {_first_line(e.orig)} — is the "
                                 "server running, and are host, port, user and password right?") from None
            raise KnobsError(f"storage {self.url} cannot be opened as a knobs database: {e.orig}") from None
        except KnobsError:
            self._engine.dispose()
            raise
        if self._path is not None:
            _OPEN_FILES.add(self)

    @property
    def connect_url(self) -> str | None:
        return self._connect_url

    def close(self) -> None:
        """Let go of the database; a SQLite file is first made whole (its WAL checkpointed into
        it and truncated), so the file alone holds every study. Using the storage again reopens."""
        if self._path is not None and self._pid == os.getpid():
            self._checkpoint()
        self._engine.dispose()

    def _checkpoint(self) -> None:
        """``PRAGMA wal_checkpoint(TRUNCATE)``, waiting at most ``CHECKPOINT_WAIT_MS`` for other
        connections (another process may be reading; its own close checkpoints what is left)."""
        if not self._path.is_file():
            return  # deleted meanwhile: do not recreate it
        try:
            with self._serial, self._engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {CHECKPOINT_WAIT_MS}")
                busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
            if busy:
                _log.debug("storage %s: another connection kept the WAL from being checkpointed", self.url)
        except sa.exc.DBAPIError as e:
            _log.debug("storage %s: no checkpoint on close: %s", self.url, e)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self._serial, self._engine.begin() as conn:
            yield conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with self._serial, self._engine.connect() as conn:
            yield conn

    # ---- studies -----------------------------------------------------------------------------
    def create_study(self, name: str, *, direction: str, space: dict[str, Any] | None,
                     attrs: dict[str, Any] | None = None) -> StudyRecord:
        row = dict(name=name, direction=direction, space=space, attrs=attrs or {}, created_at=time.time())

        def insert() -> None:
            with self._begin() as conn:
                conn.execute(db.studies.insert().values(**row))

        try:
            retry(insert)
        except sa.exc.IntegrityError:
            raise KnobsError(f"a study named {name!r} already exists in {self.url}") from None
        record = self.get_study(name)
        assert record is not None
        return record

    def get_study(self, name: str) -> StudyRecord | None:
        with self._connect() as conn:
            row = conn.execute(sa.select(db.studies).where(db.studies.c.name == name)).mappings().first()
        return None if row is None else StudyRecord(**row)

    def study_names(self) -> list[str]:
        with self._connect() as conn:
            return list(conn.execute(sa.select(db.studies.c.name).order_by(db.studies.c.id)).scalars())

    def set_study_fields(self, study_id: int, **fields: Any) -> None:
        def update() -> None:
            with self._begin() as conn:
                conn.execute(db.studies.update().where(db.studies.c.id == study_id).values(**fields))

        retry(update)

    def list_studies(self) -> list[dict[str, Any]]:
        t = db.trials
        query = sa.select(t.c.study_id, t.c.state, sa.func.count(), sa.func.min(t.c.value),
                          sa.func.max(t.c.value)).group_by(t.c.study_id, t.c.state)
        with self._connect() as conn:
            records = [StudyRecord(**r) for r in conn.execute(sa.select(db.studies).order_by(db.studies.c.id)).mappings()]
            groups = conn.execute(query).all()
        return [_summary(record, [g for g in groups if g[0] == record.id]) for record in records]

    # ---- trials ------------------------------------------------------------------------------
    def create_trial(self, study_id: int, config: dict[str, Any], *, host: str | None = None,
                     pid: int | None = None, number: int | None = None, attrs: dict[str, Any] | None = None,
                     sampler: dict[str, Any] | None = None) -> FrozenTrial:
        t = db.trials

        def insert() -> int:
            now = time.time()
            with self._begin() as conn:
                free = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.number) + 1, 0))
                                    .where(t.c.study_id == study_id)).scalar_one()
                if number is not None and number != free:
                    raise NumberTaken(f"trial {number} is taken (the next free number is {free})")
                conn.execute(t.insert().values(study_id=study_id, number=free, state=_RUNNING, config=config,
                                               attrs=attrs or {}, started_at=now, heartbeat=now, host=host, pid=pid))
                if sampler is not None:
                    conn.execute(db.studies.update().where(db.studies.c.id == study_id).values(sampler=sampler))
            return free

        def claim() -> int:
            try:
                return insert()
            except sa.exc.IntegrityError as error:
                # NOTE: two workers read the same max(number); the unique constraint lets one
                # win. Without a requested number the loser simply takes the next one (retry);
                # with one, the loser's sampler must see the winner's trial first.
                if number is not None and is_duplicate(error):
                    raise NumberTaken(f"trial {number} was claimed by another worker") from None
                raise

        return self.get_trial(study_id, retry(claim, also=is_duplicate))

    def finish_trial(self, study_id: int, number: int, state: TrialState, value: float | None,
                     attrs: dict[str, Any] | None = None) -> FrozenTrial:
        def finish() -> None:
            with self._begin() as conn:
                row = self._running_row(conn, study_id, number)
                changes = dict(state=TrialState(state).value, value=value, finished_at=time.time())
                if attrs:
                    changes["attrs"] = {**row.attrs, **attrs}
                self._update_running(conn, row.id, number, changes)

        retry(finish)
        return self.get_trial(study_id, number)

    def create_trials(self, study_id: int, rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], *, number: int,
                      host: str | None = None, pid: int | None = None,
                      sampler: dict[str, Any] | None = None) -> list[FrozenTrial]:
        t = db.trials
        if not rows:
            return []

        def insert() -> None:
            now = time.time()
            with self._begin() as conn:
                free = conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.number) + 1, 0))
                                    .where(t.c.study_id == study_id)).scalar_one()
                if number != free:
                    raise NumberTaken(f"trial {number} is taken (the next free number is {free})")
                conn.execute(t.insert(), [dict(study_id=study_id, number=number + i, state=_RUNNING, config=config,
                                               attrs=attrs or {}, started_at=now, heartbeat=now, host=host, pid=pid)
                                          for i, (config, attrs) in enumerate(rows)])
                if sampler is not None:
                    conn.execute(db.studies.update().where(db.studies.c.id == study_id).values(sampler=sampler))

        def claim() -> None:
            try:
                insert()
            except sa.exc.IntegrityError as error:  # another worker took one of the numbers first
                if is_duplicate(error):
                    raise NumberTaken(f"trials {number}.. were claimed by another worker") from None
                raise

        retry(claim)
        with self._connect() as conn:
            ids = conn.execute(sa.select(t.c.id).where(t.c.study_id == study_id, t.c.number >= number,
                                                       t.c.number < number + len(rows))).scalars().all()
            return self._load(conn, list(ids))

    def finish_trials(self, study_id: int, rows: Sequence[tuple[int, TrialState, float | None, dict[str, Any]]]
                      ) -> list[FrozenTrial]:
        numbers = [number for number, _, _, _ in rows]
        if len(set(numbers)) != len(numbers):
            raise TrialError(f"finish_trials: trials {numbers} repeat a number; a trial is finished once")

        def finish() -> None:
            with self._begin() as conn:
                stored = self._running_rows(conn, study_id, sorted(numbers))
                now = time.time()
                for number, state, value, attrs in rows:
                    changes = dict(state=TrialState(state).value, value=value, finished_at=now)
                    if attrs:
                        changes["attrs"] = {**stored[number].attrs, **attrs}
                    self._update_running(conn, stored[number].id, number, changes)

        retry(finish)
        wanted = set(numbers)
        told = {trial.number: trial for trial in self.get_trials(study_id) if trial.number in wanted}
        return [told[number] for number in numbers]

    def report(self, study_id: int, number: int, step: int, value: float) -> None:
        im = db.intermediate

        def write() -> None:
            with self._begin() as conn:
                row = self._running_row(conn, study_id, number)
                self._update_running(conn, row.id, number, {"heartbeat": time.time()})
                done = conn.execute(im.update().where(im.c.trial_id == row.id, im.c.step == step)
                                    .values(value=value)).rowcount
                if not done:
                    conn.execute(im.insert().values(trial_id=row.id, step=step, value=value))

        retry(write)

    def report_many(self, study_id: int, reports: Sequence[tuple[int, int, float]]) -> None:
        latest = {(int(number), int(step)): float(value) for number, step, value in reports}  # the last one wins
        if not latest:
            return
        im = db.intermediate
        by_step: dict[int, list[int]] = {}
        for number, step in latest:
            by_step.setdefault(step, []).append(number)

        def write() -> None:
            with self._begin() as conn:
                rows = self._running_rows(conn, study_id, sorted({number for number, _ in latest}))
                self._beat(conn, rows)
                # NOTE: delete-then-insert is the portable upsert (SQLite and PostgreSQL alike);
                # a population's reports share one step, so this is one DELETE per chunk.
                for step, numbers in by_step.items():
                    ids = [rows[number].id for number in numbers]
                    for i in range(0, len(ids), _CHUNK):
                        conn.execute(im.delete().where(im.c.step == step, im.c.trial_id.in_(ids[i:i + _CHUNK])))
                conn.execute(im.insert(), [dict(trial_id=rows[number].id, step=step, value=value)
                                           for (number, step), value in latest.items()])

        retry(write)

    def set_trial_attrs(self, study_id: int, attrs: dict[int, dict[str, Any]]) -> None:
        if not attrs:
            return

        def write() -> None:
            with self._begin() as conn:
                rows = self._running_rows(conn, study_id, sorted(attrs))
                for number, items in attrs.items():
                    self._update_running(conn, rows[number].id, number, {"attrs": {**rows[number].attrs, **items}})

        retry(write)

    def set_trial_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        def write() -> None:
            with self._begin() as conn:
                row = self._running_row(conn, study_id, number)
                self._update_running(conn, row.id, number, {"attrs": {**row.attrs, key: value}})

        retry(write)

    def heartbeat(self, study_id: int, numbers: Iterable[int]) -> None:
        numbers, t = list(numbers), db.trials
        if not numbers:
            return

        def beat() -> None:
            with self._begin() as conn:
                conn.execute(t.update().where(t.c.study_id == study_id, t.c.number.in_(numbers),
                                              t.c.state == _RUNNING).values(heartbeat=time.time()))

        retry(beat)

    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        t = db.trials
        query = sa.select(t.c.id, t.c.number).where(t.c.study_id == study_id).order_by(t.c.number)
        if states is not None:
            query = query.where(t.c.state.in_([TrialState(s).value for s in states]))
        with self._connect() as conn:
            ids = conn.execute(query).all()
            missing = [trial_id for trial_id, number in ids if (study_id, number) not in self._finished]
            fresh = {trial.number: trial for trial in self._load(conn, missing)}
        out = [fresh.get(number) or self._finished[(study_id, number)] for _, number in ids]
        return [trial for trial in out if states is None or trial.state in states]

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        cached = self._finished.get((study_id, number))
        if cached is not None:
            return cached
        t = db.trials
        with self._connect() as conn:
            trial_id = conn.execute(sa.select(t.c.id).where(t.c.study_id == study_id, t.c.number == number)).scalar()
            if trial_id is None:
                raise TrialError(f"no trial number {number!r} in study {study_id} of {self.url}")
            return self._load(conn, [trial_id])[0]

    def running_trials(self, study_id: int) -> list[RunningTrial]:
        t = db.trials
        query = (sa.select(t.c.number, t.c.heartbeat, t.c.host, t.c.pid)
                 .where(t.c.study_id == study_id, t.c.state == _RUNNING).order_by(t.c.number))
        with self._connect() as conn:
            return [RunningTrial(*row) for row in conn.execute(query).all()]

    # ---- helpers -----------------------------------------------------------------------------
    def _load(self, conn: sa.Connection, trial_ids: list[int]) -> list[FrozenTrial]:
        """Full FrozenTrials for these row ids (with intermediate values); caches finished ones."""
        t, im = db.trials, db.intermediate
        rows, steps = [], {}
        for i in range(0, len(trial_ids), _CHUNK):
            chunk = trial_ids[i:i + _CHUNK]
            rows += conn.execute(sa.select(t).where(t.c.id.in_(chunk))).mappings().all()
            for trial_id, step, value in conn.execute(sa.select(im).where(im.c.trial_id.in_(chunk))):
                steps.setdefault(trial_id, {})[step] = value
        trials = [_frozen(row, steps.get(row["id"], {})) for row in sorted(rows, key=lambda r: r["number"])]
        with self._lock:
            for row, trial in zip(sorted(rows, key=lambda r: r["number"]), trials):
                if trial.state.finished:
                    self._finished[(row["study_id"], trial.number)] = trial
        return trials

    def _running_row(self, conn: sa.Connection, study_id: int, number: int) -> Any:
        t = db.trials
        row = conn.execute(sa.select(t.c.id, t.c.state, t.c.attrs)
                           .where(t.c.study_id == study_id, t.c.number == number)).first()
        if row is None:
            raise TrialError(f"no trial number {number!r} in study {study_id} of {self.url}")
        if row.state != _RUNNING:
            raise _not_running(number, row.state)
        return row

    def _running_rows(self, conn: sa.Connection, study_id: int, numbers: list[int]) -> dict[int, Any]:
        """``_running_row`` for many trials in one query per chunk; ``TrialError`` names the first
        unknown or finished one."""
        t = db.trials
        rows: dict[int, Any] = {}
        for i in range(0, len(numbers), _CHUNK):
            query = sa.select(t.c.id, t.c.number, t.c.state, t.c.attrs).where(
                t.c.study_id == study_id, t.c.number.in_(numbers[i:i + _CHUNK]))
            rows.update((row.number, row) for row in conn.execute(query))
        for number in numbers:
            if number not in rows:
                raise TrialError(f"no trial number {number!r} in study {study_id} of {self.url}")
            if rows[number].state != _RUNNING:
                raise _not_running(number, rows[number].state)
        return rows

    @staticmethod
    def _beat(conn: sa.Connection, rows: dict[int, Any]) -> None:
        """Heartbeat these running rows now; ``TrialError`` if one was finished meanwhile."""
        t, ids, now, done = db.trials, [row.id for row in rows.values()], time.time(), 0
        for i in range(0, len(ids), _CHUNK):
            done += conn.execute(t.update().where(t.c.id.in_(ids[i:i + _CHUNK]), t.c.state == _RUNNING)
                                 .values(heartbeat=now)).rowcount
        if done != len(ids):
            raise TrialError(f"trials {sorted(rows)}: one was finished by another worker; only running trials "
                             "can be reported to")

    @staticmethod
    def _update_running(conn: sa.Connection, trial_id: int, number: int, changes: dict[str, Any]) -> None:
        t = db.trials
        done = conn.execute(t.update().where(t.c.id == trial_id, t.c.state == _RUNNING).values(**changes)).rowcount
        if done != 1:
            raise _not_running(number, "finished by another worker")


def _first_line(error: Any) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _not_running(number: int, state: str) -> TrialError:
    return TrialError(f"trial {number} is already {state}; only a running trial can be told, "
                      "reported to or given attributes")


def _frozen(row: Any, intermediate: dict[int, float]) -> FrozenTrial:
    return FrozenTrial(number=row["number"], config=row["config"], state=TrialState(row["state"]),
                       value=row["value"], intermediate=dict(sorted(intermediate.items())),
                       started_at=row["started_at"], finished_at=row["finished_at"], attrs=row["attrs"])


def _summary(record: StudyRecord, groups: list[Any]) -> dict[str, Any]:
    """``summarize`` from per-state aggregate rows (study_id, state, count, min, max)."""
    out = summarize(record, [])
    for _, state, count, low, high in groups:
        out["n_trials"] += count
        out[f"n_{state}"] = count
        if state == TrialState.COMPLETE.value and low is not None:
            out["best_value"] = high if record.direction == "maximize" else low
    return out


def _refuse_foreign_file(engine: sa.Engine, shown_url: str) -> None:
    """A SQLite file that holds tables but not knobs' is someone else's database: say so, and
    change nothing in it (not even its journal mode)."""
    with engine.connect() as conn:
        names = list(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%' ORDER BY name").scalars())
    if names and db.studies.name not in names:
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise KnobsError(f"storage {shown_url} holds no knobs studies: it is not a knobs study database (it holds "
                         f"other tables: {shown}), and knobs leaves it as it is. Give a new file or one knobs "
                         f"made; knobs stores studies in {SUPPORTED}")


def _set_wal(engine: sa.Engine) -> None:
    """WAL lets readers run beside one writer; it is a property of the file, so set once."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode = WAL")


@atexit.register
def _checkpoint_at_exit() -> None:
    """A process that ends normally leaves its SQLite study files whole (see ``close``);
    storages a forked child inherited belong to its parent and are left alone."""
    for storage in list(_OPEN_FILES):
        if storage._pid == os.getpid():
            with contextlib.suppress(Exception):
                storage.close()
