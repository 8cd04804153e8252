"""knobs dashboard over a run whose study lives in PostgreSQL (search.storage): read from the database
the dashboard was given (--storage), read-only, no password shown; a database not given is named, not
connected to. Skips with the reason when no PostgreSQL server answers (tests/conftest.py's fixture)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

import knobs
from knobs.dashboard import create_app
from knobs.dashboard._study import StudyReader
from knobs.storage import SQLStorage, mask_password
from knobs.trial import TrialState

SPACE = knobs.Space({"lr": knobs.Float(1e-4, 1.0, log=True)}).to_json()


def pg_run(root: Path, name: str, url: str) -> Path:
    """A run directory as ``knobs run`` leaves it with ``search.storage = url``: its log (the URL's
    password masked, as runs write it), its summary, and its study — named after the run — in the database."""
    path = root / name
    path.mkdir(parents=True)
    db = SQLStorage(url)
    study = db.create_study(name, direction="minimize", space=SPACE)
    for k in range(5):
        db.create_trial(study.id, {"lr": 10.0 ** -(k + 1)})
        db.report(study.id, k, 1, 1.0 / (k + 1))
        db.finish_trial(study.id, k, TrialState.COMPLETE, 1.0 / (k + 1), {"epochs_run": 1, "best_epoch": 1})
    db.create_trial(study.id, {"lr": 0.5})  # running, its heartbeat long stale
    db.close()
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE knobs_trials SET heartbeat = :old WHERE number = 5"), {"old": time.time() - 3600})
    engine.dispose()
    start = {"time": time.time(), "event": "run_start", "source": "digits",
             "config": {"name": name, "seed": 0, "search": {"metric": "val_loss", "storage": mask_password(url)}}}
    (path / "events.jsonl").write_text(json.dumps(start) + "\n")
    return path


def bodies(client: TestClient, name: str) -> list[str]:
    return [client.get(p).text for p in ("/api/runs", f"/api/runs/{name}", f"/api/runs/{name}/trials",
                                         f"/api/runs/{name}/dashboard", f"/api/runs/{name}/views")]


def test_a_postgres_study_is_read_from_the_database_given_with_no_password_shown(tmp_path, postgres_url):
    root = tmp_path / "runs"
    pg_run(root, "pgrun", postgres_url)
    client = TestClient(create_app(root, storage=[postgres_url]), base_url="http://127.0.0.1")
    listed = client.get("/api/runs").json()["runs"][0]
    assert listed["trials"] == 6 and listed["states"] == {"complete": 5, "running": 1} and listed["best_value"] == 0.2
    run = client.get("/api/runs/pgrun").json()["run"]
    assert run["trials"] == 6 and run["problems"] == []
    table = client.get("/api/runs/pgrun/trials?sort=value").json()
    assert table["total"] == 6 and table["rows"][0]["number"] == 4
    views = {v["key"] for v in client.get("/api/runs/pgrun/dashboard").json()["views"]}
    assert {"dash:history", "dash:curves", "dash:timeline"} <= views
    shown = bodies(client, "pgrun")
    assert all(":knobs@" not in body for body in shown)  # the password (knobs) never reaches the page
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:  # reading wrote nothing: the stale running trial is still running
        assert conn.execute(sa.text("SELECT state FROM knobs_trials WHERE number = 5")).scalar() == "running"
    engine.dispose()


def test_the_dashboards_database_connection_refuses_writes(postgres_url, tmp_path):
    pg_run(tmp_path / "runs", "ro", postgres_url)
    reader = StudyReader(postgres_url, name="ro")
    assert len(reader.read().trials) == 6
    engine, _ = reader._engine()
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="read-only"):
        conn.execute(sa.text("DELETE FROM knobs_trials"))


def test_a_database_not_given_is_named_not_connected_to(tmp_path, postgres_url):
    root = tmp_path / "runs"
    pg_run(root, "pgrun", postgres_url)
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    run = client.get("/api/runs/pgrun").json()["run"]
    assert run["trials"] == 0
    [problem] = run["problems"]
    assert f"keeps its study in {mask_password(postgres_url)}" in problem and "--storage" in problem
    assert all(":knobs@" not in body for body in bodies(client, "pgrun"))
    other = postgres_url.replace("knobs:knobs@", "knobs:wrong@")  # another password: the URL given is used as is
    wrong = TestClient(create_app(root, storage=[other]), base_url="http://127.0.0.1").get("/api/runs/pgrun").json()
    assert "cannot be read as a knobs study" in wrong["run"]["problems"][0] and "wrong" not in json.dumps(wrong)
