"""Faults: a worker SIGKILLed mid-trial (its config retried once, nothing finished lost), a worker
on another host that goes silent (failed only when its heartbeat expires), and database errors
under a running trial (retried with backoff — on SQLite, and on a real PostgreSQL restart)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import knobs
from knobs.search import Random
from knobs.storage import get_storage
from knobs.storage._retry import is_disconnect, is_transient
from knobs.trial import TrialState

SPACE = knobs.Space({"x": knobs.Float(0.0, 1.0)})


class HangOnTrialTwo:
    """Module-level and picklable: trial 2 (not its retry) writes its pid and hangs until killed."""

    def __init__(self, pid_file: str) -> None:
        self.pid_file = pid_file

    def __call__(self, config, trial):
        trial.report(1, config["x"])
        if trial.number == 2 and "retry_of" not in trial.attrs:
            Path(self.pid_file).write_text(str(os.getpid()))
            while True:
                time.sleep(0.05)
        time.sleep(0.1)
        return config["x"]


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def test_sigkilled_worker_trial_is_retried_once_and_nothing_is_lost(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    pid_file = tmp_path / "pid"
    errors = []

    def drive():
        try:
            study.optimize(HangOnTrialTwo(str(pid_file)), n_trials=6, workers=2)
        except BaseException as e:  # noqa: BLE001 — reported below
            errors.append(e)

    driver = threading.Thread(target=drive)
    driver.start()
    pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "trial 2 to start"))
    os.kill(pid, signal.SIGKILL)
    driver.join(timeout=90)
    assert not driver.is_alive() and errors == []
    trials = study.trials
    lost = trials[2]
    assert lost.state is TrialState.FAILED and lost.attrs["fail_reason"] == "abandoned: process died"
    assert lost.intermediate == {1: lost.config["x"]}  # what it reported before dying is kept
    retries = [t for t in trials if t.attrs.get("retry_of") == 2]
    assert len(retries) == 1 and retries[0].config == lost.config and retries[0].state is TrialState.COMPLETE
    # six new configs, all finished: none lost to the kill, and no trial left running
    fresh = [t for t in trials if "retry_of" not in t.attrs]
    assert len(fresh) == 6 and len(trials) == 7
    assert all(t.state is TrialState.COMPLETE for t in fresh if t.number != 2)


_SILENT_WORKER = textwrap.dedent("""
    import sys, time, knobs
    import knobs.study._heartbeat as hb
    hb.HOST = "another-host"   # as if it ran on another machine: only its heartbeat tells
    knobs.Study.heartbeat_interval_s = 0.2
    study = knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), sampler=knobs.search.Random(seed=0),
                        storage=sys.argv[1], name="s")
    def objective(config, trial):
        trial.report(1, config["x"])
        open(sys.argv[2], "w").write("started")
        time.sleep(3600)
    study.optimize(objective, n_trials=1)
""")


def test_silent_worker_on_another_host_fails_when_its_heartbeat_expires(tmp_path):
    url, marker = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "started"
    proc = subprocess.Popen([sys.executable, "-c", _SILENT_WORKER, url, str(marker)])
    try:
        wait_for(marker.exists, 60, "the remote worker's trial")
        time.sleep(0.5)  # a few heartbeats
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    storage = get_storage(url, create=False)
    sid = storage.get_study("s").id
    last_beat = storage.running_trials(sid)[0].heartbeat
    patient = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")  # 60 s grace
    assert patient.trials[0].state is TrialState.RUNNING  # silent for < 60 s: maybe alive
    eager = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    eager.stale_after_s = 1.0
    eager.optimize(lambda config, trial: time.sleep(0.3) or config["x"], n_trials=5)
    trials = eager.trials
    orphan = trials[0]
    assert orphan.state is TrialState.FAILED and orphan.attrs["fail_reason"].startswith("abandoned: no heartbeat for")
    assert orphan.finished_at - last_beat >= 1.0  # not before its heartbeat expired
    retry = [t for t in trials if t.attrs.get("retry_of") == 0]
    assert len(retry) == 1 and retry[0].config == orphan.config and retry[0].state is TrialState.COMPLETE
    assert len(trials) == 7 and all(t.state is TrialState.COMPLETE for t in trials[1:])
    storage.close()


def test_locked_database_under_a_running_trial_is_retried(tmp_path, caplog):
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=f"sqlite:///{tmp_path / 'study.db'}", name="s")
    failures = {"left": 4, "seen": 0}

    def flaky(conn, cursor, statement, *args):
        if failures["left"] and statement.lstrip().upper().startswith(("UPDATE KNOBS_TRIALS", "INSERT INTO KNOBS_INTERMEDIATE")):
            failures["left"] -= 1
            failures["seen"] += 1
            raise sqlite3.OperationalError("database is locked")

    sa.event.listen(study.storage._engine, "before_cursor_execute", flaky)

    def objective(config, trial):
        for step in range(1, 4):
            trial.report(step, config["x"] * step)
        trial.set_attr("done", True)
        return config["x"]

    study.optimize(objective, n_trials=2)
    assert failures["seen"] == 4 and failures["left"] == 0
    for trial in study.trials:
        assert trial.state is TrialState.COMPLETE and trial.attrs == {"done": True}
        assert trial.intermediate == {s: trial.config["x"] * s for s in (1, 2, 3)}


@pytest.mark.parametrize("message, transient", [
    ("server closed the connection unexpectedly", True),
    ("terminating connection due to administrator command", True),
    ("connection failed: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused", True),
    ("the database system is starting up", True),
    ("database is locked", True),
    ("could not serialize access due to concurrent update", True),
    ("FATAL:  password authentication failed for user \"knobs\"", False),
    ("FATAL:  database \"x\" does not exist", False),
    ("no such table: knobs_trials", False),
])
def test_which_database_errors_are_retried(message, transient):
    error = sa.exc.OperationalError("SELECT 1", {}, Exception(message))
    assert is_transient(error) is transient
    assert not is_transient(ValueError(message))


def _local_cluster(url: str) -> tuple[str, str] | None:
    """(version, name) of the local Debian cluster serving ``url``, if we may restart it."""
    parsed = sa.make_url(url)
    if os.geteuid() != 0 or not shutil.which("pg_lsclusters") or parsed.host not in ("127.0.0.1", "localhost"):
        return None
    rows = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True).stdout.splitlines()
    for row in rows:
        version, name, port, status = row.split()[:4]
        if int(port) == (parsed.port or 5432) and status == "online":
            return version, name
    return None


def test_postgres_restart_under_a_running_trial_is_ridden_out(postgres_url, caplog):
    cluster = _local_cluster(postgres_url)
    if cluster is None:
        pytest.skip("needs root and the local Debian PostgreSQL cluster behind the test URL (.ci/postgres.sh)")
    version, name = cluster
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=postgres_url, name="s")

    def objective(config, trial):
        for step in range(1, 7):
            if step == 3:  # the server goes down under the running trial, and is back 1.5 s later
                subprocess.run(["pg_ctlcluster", version, name, "stop", "-m", "fast"], check=True)
                threading.Timer(1.5, subprocess.run, [["pg_ctlcluster", version, name, "start"]]).start()
            trial.report(step, config["x"] + step)
        return config["x"]

    with caplog.at_level(logging.WARNING, logger="knobs.storage"):
        study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state is TrialState.COMPLETE and sorted(trial.intermediate) == [1, 2, 3, 4, 5, 6]
    assert "database connection lost" in caplog.text and is_disconnect(
        sa.exc.OperationalError("x", {}, Exception("the database system is shutting down")))
