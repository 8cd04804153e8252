"""Storage back ends: one contract suite over memory and SQLite, plus SQLite concurrency."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

import knobs
from knobs.errors import KnobsError, TrialError
from knobs.storage import InMemoryStorage, NumberTaken, SQLStorage, Storage, get_storage, list_studies
from knobs.storage._retry import is_duplicate, retry
from knobs.trial import TrialState


@pytest.fixture(params=["memory", "sqlite-memory", "sqlite-file"])
def storage(request, tmp_path) -> Storage:
    if request.param == "memory":
        yield InMemoryStorage()
        return
    url = "sqlite://" if request.param == "sqlite-memory" else f"sqlite:///{tmp_path / 'study.db'}"
    store = SQLStorage(url)
    yield store
    store.close()


def test_study_records(storage):
    a = storage.create_study("a", direction="minimize", space={"params": {}}, attrs={"k": 1})
    b = storage.create_study("b", direction="maximize", space=None)
    assert a.id != b.id and storage.study_names() == ["a", "b"]
    got = storage.get_study("a")
    assert (got.name, got.direction, got.space, got.attrs) == ("a", "minimize", {"params": {}}, {"k": 1})
    assert storage.get_study("zzz") is None
    with pytest.raises(KnobsError, match="'a' already exists"):
        storage.create_study("a", direction="minimize", space=None)
    storage.set_study_fields(a.id, sampler={"class": "Random", "state": {"n": 3}}, attrs={"k": 2})
    got = storage.get_study("a")
    assert got.sampler == {"class": "Random", "state": {"n": 3}} and got.attrs == {"k": 2}


def test_trial_lifecycle(storage):
    sid = storage.create_study("s", direction="minimize", space=None).id
    t0 = storage.create_trial(sid, {"lr": 0.1, "opt": "sgd"}, host="h", pid=1)
    t1 = storage.create_trial(sid, {"lr": 0.2})
    assert (t0.number, t1.number) == (0, 1) and t0.state is TrialState.RUNNING
    storage.report(sid, 0, 1, 0.9)
    storage.report(sid, 0, 2, 0.7)
    storage.report(sid, 0, 2, 0.6)  # the same step again overwrites
    storage.set_trial_attr(sid, 0, "curve", [1, 2, 3])
    assert storage.get_trial(sid, 0).intermediate == {1: 0.9, 2: 0.6}
    assert [r.number for r in storage.running_trials(sid)] == [0, 1]
    done = storage.finish_trial(sid, 0, TrialState.COMPLETE, 0.6, {"note": "ok"})
    assert done.state is TrialState.COMPLETE and done.value == 0.6 and done.finished_at >= done.started_at
    assert done.attrs == {"curve": [1, 2, 3], "note": "ok"} and done.config == {"lr": 0.1, "opt": "sgd"}
    for call in (lambda: storage.finish_trial(sid, 0, TrialState.FAILED, None),
                 lambda: storage.report(sid, 0, 3, 0.5), lambda: storage.set_trial_attr(sid, 0, "k", 1)):
        with pytest.raises(TrialError, match="trial 0 is already complete"):
            call()
    with pytest.raises(TrialError, match="no trial number 7"):
        storage.get_trial(sid, 7)
    storage.finish_trial(sid, 1, TrialState.PRUNED, None)
    assert [t.number for t in storage.get_trials(sid, [TrialState.PRUNED])] == [1]
    assert [t.state for t in storage.get_trials(sid)] == [TrialState.COMPLETE, TrialState.PRUNED]
    assert storage.running_trials(sid) == []


def test_heartbeat_moves_forward(storage):
    sid = storage.create_study("s", direction="minimize", space=None).id
    storage.create_trial(sid, {}, host="h", pid=5)
    before = storage.running_trials(sid)[0]
    time.sleep(0.02)
    storage.heartbeat(sid, [0, 99])
    after = storage.running_trials(sid)[0]
    assert (after.host, after.pid) == ("h", 5) and after.heartbeat > before.heartbeat


def test_list_studies_summary(storage):
    for name, direction in (("lo", "minimize"), ("hi", "maximize")):
        sid = storage.create_study(name, direction=direction, space=None).id
        for value in (3.0, 1.0, 2.0):
            storage.finish_trial(sid, storage.create_trial(sid, {}).number, TrialState.COMPLETE, value)
        storage.finish_trial(sid, storage.create_trial(sid, {}).number, TrialState.FAILED, None)
        storage.create_trial(sid, {})
    rows = {r["name"]: r for r in storage.list_studies()}
    assert rows["lo"]["best_value"] == 1.0 and rows["hi"]["best_value"] == 3.0
    assert {k: rows["lo"][k] for k in ("n_trials", "n_complete", "n_failed", "n_running", "n_pruned")} == \
        {"n_trials": 5, "n_complete": 3, "n_failed": 1, "n_running": 1, "n_pruned": 0}
    assert isinstance(rows["lo"]["created_at"], float)


def test_numbers_are_atomic_across_threads(storage):
    sid = storage.create_study("s", direction="minimize", space=None).id
    numbers: list[int] = []

    def work():
        for _ in range(10):
            numbers.append(storage.create_trial(sid, {}).number)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == list(range(40))


# ---- SQLite specifics --------------------------------------------------------------------------
def test_sqlite_file_is_wal_json_and_reopens(tmp_path):
    path = tmp_path / "s.db"
    store = SQLStorage(f"sqlite:///{path}")
    sid = store.create_study("s", direction="minimize", space={"params": {"x": {}}}).id
    store.finish_trial(sid, store.create_trial(sid, {"x": 0.5}).number, TrialState.COMPLETE, 0.25)
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        config, attrs = raw.execute("SELECT config, attrs FROM knobs_trials").fetchone()
    assert json.loads(config) == {"x": 0.5} and json.loads(attrs) == {}  # plain JSON text, no pickle
    again = SQLStorage(f"sqlite:///{path}", create=False)
    assert again.get_trials(again.get_study("s").id)[0].value == 0.25
    assert list_studies(f"sqlite:///{path}")[0]["n_complete"] == 1


def test_urls_fail_clearly(tmp_path):
    with pytest.raises(KnobsError, match="not a database URL"):
        get_storage("study.db")
    with pytest.raises(KnobsError, match="folder"):
        get_storage(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(KnobsError, match="no such database file"):
        get_storage(f"sqlite:///{tmp_path}/missing.db", create=False)
    with pytest.raises(KnobsError, match="no such database file"):
        list_studies(f"sqlite:///{tmp_path}/missing.db")
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(KnobsError, match="cannot be opened"):
        get_storage(f"sqlite:///{tmp_path}/junk.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x INT)").connection.commit()
    with pytest.raises(KnobsError, match="holds no knobs studies"):
        list_studies(f"sqlite:///{tmp_path}/other.db")
    with pytest.raises(KnobsError, match="storage must be"):
        get_storage(42)
    assert isinstance(get_storage(None), InMemoryStorage)
    store = InMemoryStorage()
    assert get_storage(store) is store


def test_postgres_url_without_server_is_a_knobs_error():
    # psycopg may be missing (driver error) or present with no server (cannot be opened).
    with pytest.raises(KnobsError, match="postgresql"):
        get_storage("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_retry_cures_locked_then_gives_up_on_others():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise sa.exc.OperationalError("INSERT", {}, sqlite3.OperationalError("database is locked"))
        return "ok"

    assert retry(flaky, first_wait_s=0.001) == "ok" and len(calls) == 3
    with pytest.raises(sa.exc.OperationalError):
        retry(lambda: (_ for _ in ()).throw(sa.exc.OperationalError("x", {}, Exception("no such table"))))
    dup = sa.exc.IntegrityError("x", {}, sqlite3.IntegrityError("UNIQUE constraint failed: knobs_trials.number"))
    assert is_duplicate(dup) and not is_duplicate(sa.exc.IntegrityError("x", {}, Exception("FOREIGN KEY")))


def _worker(url: str, n: int, seed: int, barrier) -> None:
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=seed), storage=url, name="shared")
    barrier.wait(timeout=60)  # both write at the same time

    def objective(config, trial):
        trial.report(1, config["x"])
        trial.set_attr("seed", seed)
        return config["x"]

    study.optimize(objective, n_trials=n)


def test_two_processes_share_one_sqlite_file(tmp_path):
    url, n = f"sqlite:///{tmp_path / 'shared.db'}", 25
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_worker, args=(url, n, seed, barrier)) for seed in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    trials = knobs.Study.load(url, "shared").trials
    assert sorted(t.number for t in trials) == list(range(2 * n))
    assert all(t.state is TrialState.COMPLETE and t.intermediate == {1: t.value} for t in trials)
    seeds = [t.attrs["seed"] for t in sorted(trials, key=lambda t: t.number)]
    assert sorted(seeds) == [1] * n + [2] * n
    assert sum(a != b for a, b in zip(seeds, seeds[1:])) > 2  # the workers really interleaved
    with sqlite3.connect(tmp_path / "shared.db") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---- many trials in one write (a population's epoch, attributes and tell) ------------------------

def test_report_many_attrs_and_finish_trials_are_one_atomic_write(storage):
    sid = storage.create_study("s", direction="minimize", space=None).id
    for _ in range(4):
        storage.create_trial(sid, {}, host="h", pid=1)
    storage.report(sid, 0, 1, 9.0)
    before = {r.number: r.heartbeat for r in storage.running_trials(sid)}
    time.sleep(0.02)
    storage.report_many(sid, [(0, 1, 0.5), (1, 1, 0.6), (2, 1, 0.7), (1, 1, 0.65), (1, 2, 0.4)])
    got = {t.number: t.intermediate for t in storage.get_trials(sid)}
    assert got == {0: {1: 0.5}, 1: {1: 0.65, 2: 0.4}, 2: {1: 0.7}, 3: {}}  # a repeated step: the last wins
    after = {r.number: r.heartbeat for r in storage.running_trials(sid)}
    assert all(after[n] > before[n] for n in (0, 1, 2)) and after[3] == before[3]  # heartbeats, same write
    storage.set_trial_attrs(sid, {0: {"a": 1, "curve": [1, 2]}, 2: {"b": None}})
    storage.set_trial_attrs(sid, {0: {"a": 2}})
    assert [t.attrs for t in storage.get_trials(sid)][:3] == [{"a": 2, "curve": [1, 2]}, {}, {"b": None}]
    storage.finish_trial(sid, 3, TrialState.FAILED, None)
    for call in (lambda: storage.report_many(sid, [(0, 2, 0.1), (3, 2, 0.1)]),
                 lambda: storage.set_trial_attrs(sid, {0: {"c": 1}, 3: {"c": 1}}),
                 lambda: storage.finish_trials(sid, [(0, TrialState.COMPLETE, 0.5, {}), (3, TrialState.PRUNED, 1.0, {})])):
        with pytest.raises(TrialError, match="trial 3 is already failed"):
            call()
    zero = storage.get_trial(sid, 0)
    assert zero.intermediate == {1: 0.5} and "c" not in zero.attrs and zero.state is TrialState.RUNNING  # all or nothing
    told = storage.finish_trials(sid, [(1, TrialState.PRUNED, 0.4, {}), (0, TrialState.COMPLETE, 0.5, {"k": 1})])
    assert [(t.number, t.state, t.value) for t in told] == [(1, TrialState.PRUNED, 0.4), (0, TrialState.COMPLETE, 0.5)]
    assert told[1].attrs == {"a": 2, "curve": [1, 2], "k": 1} and told[1].intermediate == {1: 0.5}
    assert [r.number for r in storage.running_trials(sid)] == [2]


def test_report_many_retries_a_failed_write_and_loses_nothing(tmp_path):
    store = SQLStorage(f"sqlite:///{tmp_path / 'study.db'}")
    sid = store.create_study("s", direction="minimize", space=None).id
    for _ in range(300):
        store.create_trial(sid, {})
    before = {r.number: r.heartbeat for r in store.running_trials(sid)}
    failures = []

    @sa.event.listens_for(store._engine, "before_cursor_execute")
    def locked_once(conn, cursor, statement, *args):
        # the heartbeats and old values are already written in this transaction when it fails
        if statement.startswith("INSERT INTO knobs_intermediate") and not failures:
            failures.append(statement)
            raise sa.exc.OperationalError(statement, {}, sqlite3.OperationalError("database is locked"))

    time.sleep(0.02)
    store.report_many(sid, [(n, 1, n / 10) for n in range(300)])
    store.report_many(sid, [(n, 2, n / 100) for n in range(0, 300, 2)])
    assert len(failures) == 1  # failed once, retried from the start
    trials = store.get_trials(sid)
    assert [t.intermediate for t in trials] == [{1: n / 10, 2: n / 100} if n % 2 == 0 else {1: n / 10}
                                                for n in range(300)]
    with store._engine.connect() as conn:  # nothing written twice
        assert conn.execute(sa.text("SELECT count(*) FROM knobs_intermediate")).scalar() == 450
    assert all(r.heartbeat > before[r.number] for r in store.running_trials(sid))
    store.close()


def test_create_trials_is_all_or_nothing(storage):
    store = storage
    study_id = store.create_study("s", space=None, direction="minimize").id
    made = store.create_trials(study_id, [({"x": 0.1}, {}), ({"x": 0.2}, {"retry_of": 0})], number=0, host="h", pid=1,
                               sampler={"state": 1})
    assert [(t.number, t.config, t.attrs, t.state) for t in made] == [
        (0, {"x": 0.1}, {}, TrialState.RUNNING), (1, {"x": 0.2}, {"retry_of": 0}, TrialState.RUNNING)]
    assert [r.number for r in store.running_trials(study_id)] == [0, 1]
    with pytest.raises(NumberTaken):
        store.create_trials(study_id, [({"x": 0.3}, {})], number=1)
    assert len(store.get_trials(study_id)) == 2 and store.get_study("s").sampler == {"state": 1}


# ---- a study file is whole when its process ends; foreign files and unknown schemes ---------------
_WRITE_AND_EXIT = """
import sys, knobs
study = knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), sampler=knobs.search.Random(seed=0),
                    storage=sys.argv[1], name="s")
study.optimize(lambda config, trial: config["x"], n_trials=int(sys.argv[2]))
if sys.argv[3] == "close":
    study.close()
"""


@pytest.mark.parametrize("ending", ["exit", "close"])
def test_a_study_file_is_whole_when_its_process_ends(tmp_path, ending):
    import shutil
    import subprocess
    import sys

    path = tmp_path / "study.db"
    subprocess.run([sys.executable, "-c", _WRITE_AND_EXIT, f"sqlite:///{path}", "30", ending], check=True)
    copy = tmp_path / "copy" / "study.db"
    copy.parent.mkdir()
    shutil.copy(path, copy)  # the file alone, without study.db-wal
    assert not (copy.parent / "study.db-wal").exists()
    study = knobs.Study.load(f"sqlite:///{copy}", "s")
    assert len(study.trials) == 30 and all(t.state is TrialState.COMPLETE for t in study.trials)
    study.close()


def test_study_close_and_with_leave_the_file_whole_and_a_given_storage_open(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), storage=url, name="s") as study:
        study.optimize(lambda config, trial: config["x"], n_trials=5)
        assert (tmp_path / "study.db-wal").stat().st_size > 0  # open: the trials sit in the WAL
    assert not (tmp_path / "study.db-wal").exists() or (tmp_path / "study.db-wal").stat().st_size == 0
    with sqlite3.connect(f"file:{tmp_path / 'study.db'}?mode=ro", uri=True) as raw:  # read-only: no recovery
        assert raw.execute("SELECT count(*) FROM knobs_trials").fetchone()[0] == 5
    given = SQLStorage(url, create=False)
    with knobs.Study.load(given, "s") as again:
        assert len(again.trials) == 5
    assert given.get_study("s") is not None and len(given.get_trials(given.get_study("s").id)) == 5
    given.close()


def test_a_foreign_sqlite_file_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "people.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE people (name TEXT)")
        raw.execute("INSERT INTO people VALUES ('ada')")
    raw.close()
    for open_it in (lambda: get_storage(f"sqlite:///{path}"), lambda: list_studies(f"sqlite:///{path}"),
                    lambda: knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), storage=f"sqlite:///{path}")):
        with pytest.raises(KnobsError, match=r"not a knobs study database \(it holds other tables: people\)"):
            open_it()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
        assert raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == [("people",)]
        assert raw.execute("SELECT name FROM people").fetchall() == [("ada",)]
    raw.close()
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # an empty file becomes a knobs database, in WAL mode
    get_storage(f"sqlite:///{empty}").close()
    with sqlite3.connect(empty) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_an_unknown_url_scheme_is_named_with_the_supported_ones(tmp_path):
    from typer.testing import CliRunner

    from knobs.cli import app

    for url in ("foo://x", "sqlit:///study.db"):
        scheme = url.split(":")[0]
        with pytest.raises(KnobsError, match=rf"unknown database scheme '{scheme}://'.*sqlite:///.*postgresql://"):
            get_storage(url)
    result = CliRunner().invoke(app, ["studies", "list", "foo://x"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown database scheme 'foo://'" in lines[0] and "driver" not in lines[0]
