"""knobs dashboard: run directories read into views, the API, the live stream, and its safety."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from dashboard_runs import append_epoch, write_run
from knobs.dashboard import Server, create_app
from knobs.dashboard._figures import MAX_POINTS


def client(root: Path, **options) -> TestClient:
    return TestClient(create_app(root, **options), base_url="http://127.0.0.1")


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    write_run(root, "done", n_complete=4, pruned=1, failed=1)
    write_run(root, "working", n_complete=3, running=1, summary=False, seed=1)
    return root


def _age(path: Path, seconds: float) -> None:
    """Make every file of a run look ``seconds`` old (a run that stopped that long ago)."""
    old = time.time() - seconds
    for file in path.iterdir():
        os.utime(file, (old, old))


def test_runs_list_names_each_runs_state_trials_best_start_and_source(runs: Path):
    write_run(runs, "crashed", n_complete=2, summary=False)
    _age(runs / "crashed", 3600)
    rows = {row["name"]: row for row in client(runs).get("/api/runs").json()["runs"]}
    assert set(rows) == {"done", "working", "crashed"}
    assert [rows[n]["state"] for n in ("done", "working", "crashed")] == ["finished", "running", "failed"]
    assert rows["done"]["trials"] == 6 and rows["done"]["states"] == {"complete": 4, "pruned": 1, "failed": 1}
    assert rows["done"]["best_value"] == pytest.approx(0.25) and rows["working"]["best_value"] == pytest.approx(1 / 3 + 0.01)
    assert rows["working"]["source"] == "digits" and rows["working"]["started_at"] > 0
    assert rows["working"]["partial"] and not rows["done"]["partial"]


def test_a_run_without_summary_is_summarized_from_its_log_and_study(runs: Path):
    body = client(runs).get("/api/runs/working").json()
    summary = body["summary"]
    assert body["run"]["partial"] and summary["best_trial"]["number"] == 2  # the lowest value so far
    assert summary["search"]["space"]["params"]["lr"]["log"] is True and summary["data"]["source"] == "digits"
    assert body["config"]["seed"] == 1


def test_trials_table_sorts_filters_and_pages_on_the_server(runs: Path):
    c = client(runs)
    page = c.get("/api/runs/done/trials", params={"sort": "value", "per_page": 2}).json()
    assert page["total"] == 6 and page["pages"] == 3 and [r["number"] for r in page["rows"]] == [3, 2]
    last = c.get("/api/runs/done/trials", params={"sort": "value", "per_page": 2, "page": 2}).json()
    assert last["rows"][-1]["state"] == "failed"  # no value: last whatever the order
    failed = c.get("/api/runs/done/trials", params={"state": "failed"}).json()["rows"]
    assert failed[0]["fail_reason"].startswith("Diverged") and "Traceback" in failed[0]["traceback"]
    pruned = c.get("/api/runs/done/trials", params={"q": "pruned"}).json()["rows"]
    assert [r["pruned_step"] for r in pruned] == [2] and pruned[0]["epochs"] == 2
    by_width = c.get("/api/runs/done/trials", params={"sort": "param:width", "desc": "1"}).json()["rows"]
    assert by_width[0]["config"]["width"] == 128
    assert c.get("/api/runs/done/trials", params={"sort": "nope"}).status_code == 400
    running = c.get("/api/runs/working/trials", params={"state": "running"}).json()["rows"]
    assert running[0]["epochs"] == 1 and running[0]["seconds"] is not None


def test_report_views_appear_as_they_are_and_a_new_producer_needs_no_dashboard_change(runs: Path, monkeypatch):
    from knobs.report import View
    from knobs.report import _run_views

    def advice(run):
        yield View("advice", "What to try next", "diagnosis", html="<p>widen the lr range</p>")

    monkeypatch.setattr(_run_views, "PRODUCERS", [*_run_views.PRODUCERS, advice])
    views = client(runs).get("/api/runs/done/views").json()["views"]
    keys = [v["key"] for v in views]
    assert keys[-1] == "advice" and views[-1]["html"] == "<p>widen the lr range</p>"
    assert any(k.startswith("slice:") for k in keys) and "history" not in keys and "curves" not in keys  # drawn by the dashboard itself


def test_history_and_learning_curves_are_aggregated_for_a_large_study(tmp_path: Path):
    root = tmp_path / "runs"
    root.mkdir()
    write_run(root, "big", n_complete=60, running=2, summary=False)
    views = {v["key"]: v for v in client(root).get("/api/runs/big/dashboard").json()["views"]}
    history = views["dash:history"]["figure"]["data"]
    assert sum(len(t["x"]) for t in history if t["name"] == "complete") == 60
    assert all("trial #" in t["hovertemplate"] for t in history if t["mode"] == "markers")  # tooltips name trials
    curves = views["dash:curves"]["figure"]["data"]
    drawn = {t["meta"]["trial"] for t in curves if "meta" in t}
    assert len(drawn) == 12 and {60, 61} <= drawn  # both running trials and the 10 best, not all 62
    assert all(len(t["x"]) <= MAX_POINTS for t in curves)
    assert any(t["name"] == "median of all trials" for t in curves)
    assert {t["meta"]["key"] for t in curves if t.get("meta", {}).get("trial") == 60} >= {"val_loss", "train_loss", "lr"}
    timeline = {t["name"]: t for t in views["dash:timeline"]["figure"]["data"]}
    assert set(timeline) == {"complete", "running"} and timeline["running"]["y"][:2] == [60, 60]
    assert timeline["running"]["hovertemplate"].startswith("trial #%{y}")


def test_the_timeline_names_a_failed_trials_reason(runs: Path):
    views = {v["key"]: v for v in client(runs).get("/api/runs/done/dashboard").json()["views"]}
    failed = next(t for t in views["dash:timeline"]["figure"]["data"] if t["name"] == "failed")
    assert "trial #5" in failed["text"][0] and "Diverged" in failed["text"][0]


def test_compare_two_runs_and_group_runs_that_differ_only_by_seed(tmp_path: Path):
    root = tmp_path / "runs"
    root.mkdir()
    for seed in (0, 1, 2):
        write_run(root, f"s{seed}", seed=seed)
    write_run(root, "other", config={"seed": 0, "model": {"family": "convnet"}})
    c = client(root)
    views = c.get("/api/compare", params={"a": "s0", "b": "other"}).json()["views"]
    assert [v["key"] for v in views] == ["compare:table", "compare:history", "compare:curves"]
    assert "model.family" in views[0]["html"] and "convnet" in views[0]["html"]
    group = c.get("/api/groups").json()["views"][0]["html"]
    assert "3 runs" in group and "other" not in group
    assert "0.26 ± 0.01 (n=3)" in group  # best values 0.25, 0.26, 0.27
    assert c.get("/api/compare", params={"a": "s0", "b": "../s1"}).status_code == 404


def test_a_new_epoch_reaches_a_listening_client_within_two_seconds(runs: Path):
    server = Server(runs, port=0).start()
    try:
        url = f"http://127.0.0.1:{server.port}/api/stream?run=working"
        arrived: dict[str, float] = {}
        with httpx.stream("GET", url, timeout=10) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert next(lines).startswith("retry:")
            time.sleep(0.5)  # the stream has looked once: what follows is new
            sent = time.perf_counter()
            append_epoch(runs / "working", trial=3, epoch=2, val_loss=0.9, train_loss=1.0)
            event = None
            for line in lines:
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "epoch":
                    arrived["at"] = time.perf_counter()
                    payload = json.loads(line[len("data: "):])
                    break
        assert payload["epochs"] == [{"trial": 3, "epoch": 2, "val_loss": 0.9, "train_loss": 1.0,
                                      "time": payload["epochs"][0]["time"]}]
        assert arrived["at"] - sent < 2.0
    finally:
        server.stop()


def test_a_run_that_appears_while_watched_streams_every_epoch_it_already_wrote(runs: Path):
    """The page opened first, the run wrote all its epochs before the stream's next look (a short
    run on a busy machine): they are new to the page, so all of them arrive."""
    server = Server(runs, port=0).start()
    try:
        with httpx.stream("GET", f"http://127.0.0.1:{server.port}/api/stream?run=later", timeout=10) as response:
            lines = response.iter_lines()
            next(lines)
            time.sleep(0.5)  # the stream has looked once and found no such run
            write_run(runs, "later")  # the whole run at once, its log included
            event = None
            for line in lines:
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "epoch":
                    payload = json.loads(line[len("data: "):])
                    break
        written = [json.loads(line) for line in (runs / "later" / "events.jsonl").read_text().splitlines()]
        expected = [(r["trial"], r["epoch"]) for r in written if r["event"] == "epoch"]
        assert len(expected) > 1 and [(e["trial"], e["epoch"]) for e in payload["epochs"]] == expected
    finally:
        server.stop()


def test_the_server_survives_a_run_deleted_while_it_watches(runs: Path):
    server = Server(runs, port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/api/runs/working").status_code == 200
        events = []
        with httpx.stream("GET", f"{base}/api/stream?run=working", timeout=10) as response:
            lines = response.iter_lines()
            next(lines)
            time.sleep(0.4)
            shutil.rmtree(runs / "working")
            for line in lines:
                events.append(line)
                if line == "event: gone":
                    break
        assert "event: gone" in events
        assert httpx.get(f"{base}/api/runs/working").status_code == 404
        assert [r["name"] for r in httpx.get(f"{base}/api/runs").json()["runs"]] == ["done"]
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/api/runs/..", "/api/runs/%2e%2e", "/api/runs/%2E%2E/trials", "/api/runs/%2e%2e%2fsecret",
                                  "/api/runs/..%2Fsecret", "/api/runs/%2Fetc", "/api/runs//etc/passwd",
                                  "/api/runs/secret/..%2F..%2Fsecret", "/static/..%2F_app.py", "/static/../_app.py",
                                  "/static/%2e%2e/_app.py", "/api/compare?a=..&b=done"])
def test_no_path_outside_the_runs_folder_can_be_read(runs: Path, path: str):
    (runs.parent / "secret").mkdir()
    write_run(runs.parent, "secret")
    response = client(runs).get(path)
    assert response.status_code in (400, 404) and "knobs_" not in response.text and "import" not in response.text


def test_links_to_outside_the_runs_folder_are_not_followed(runs: Path, tmp_path: Path):
    outside = write_run(tmp_path, "outside")
    (runs / "linked").symlink_to(outside, target_is_directory=True)
    (tmp_path / "private.json").write_text(json.dumps({"name": "PRIVATE-CONTENT"}))
    (runs / "done" / "summary.json").unlink()
    (runs / "done" / "summary.json").symlink_to(tmp_path / "private.json")
    c = client(runs)
    assert "linked" not in [r["name"] for r in c.get("/api/runs").json()["runs"]]
    assert c.get("/api/runs/linked").status_code == 404
    body = c.get("/api/runs/done").text
    assert "PRIVATE-CONTENT" not in body and "summary.json is a link to outside the runs folder" in body


def test_a_token_is_required_when_serving_beyond_loopback(runs: Path):
    c = TestClient(create_app(runs, token="s3cret-token", loopback=False), base_url="http://192.0.2.7")
    assert c.get("/api/runs").status_code == 401
    assert c.get("/api/runs", params={"token": "wrong"}).status_code == 401
    assert c.get("/api/runs", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
    page = c.get("/", params={"token": "s3cret-token"})
    assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
    assert c.get("/api/runs").status_code == 200  # the cookie set by the first visit
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_loopback_serving_answers_only_loopback_host_names(runs: Path):
    c = client(runs)
    assert c.get("/api/runs").status_code == 200
    assert c.get("/api/runs", headers={"host": "localhost:8765"}).status_code == 200
    assert c.get("/api/runs", headers={"host": "attacker.example"}).status_code == 403  # DNS rebinding


def test_a_damaged_study_is_named_for_that_run_and_the_rest_is_shown(runs: Path):
    (runs / "done" / "study.db").write_bytes(b"this is not a database" * 100)
    for name in ("study.db-wal", "study.db-shm"):
        (runs / "done" / name).unlink(missing_ok=True)
    c = client(runs)
    rows = {r["name"]: r for r in c.get("/api/runs").json()["runs"]}
    assert "study.db cannot be read as a knobs study" in rows["done"]["problems"][0]
    assert rows["working"]["problems"] == [] and rows["working"]["trials"] == 4
    body = c.get("/api/runs/done").json()
    assert body["summary"]["test"]["accuracy"] == 0.95 and body["run"]["trials"] == 0
    assert c.get("/api/runs/done/views").status_code == 200 and c.get("/api/runs/done/trials").json()["total"] == 0


def test_a_half_written_or_damaged_log_line_is_named_and_the_rest_is_read(runs: Path):
    log = runs / "working" / "events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2]) + "{not json\n" + "".join(lines[2:]) + '{"time": 1, "event": "epo')
    c = client(runs)
    problems = c.get("/api/runs/working").json()["run"]["problems"]
    assert any("line 3 is not a JSON record" in p for p in problems)
    assert any("last line is incomplete" in p for p in problems)
    with open(log, "a") as handle:  # the run finishes writing the line
        handle.write('ch", "trial": 3, "epoch": 2, "val_loss": 0.5}\n')
    body = c.get("/api/runs/working").json()
    assert not any("incomplete" in p for p in body["run"]["problems"])
    curves = c.get("/api/runs/working/dashboard").json()["views"][1]["figure"]["data"]
    assert any(t.get("meta") == {"trial": 3, "key": "val_loss"} and t["x"][-1] == 2 for t in curves)


def test_a_run_from_an_older_knobs_shows_what_it_has(tmp_path: Path):
    root = tmp_path / "runs"
    old = write_run(root, "old", summary=False)
    (old / "summary.json").write_text(json.dumps({"name": "old", "test": {"accuracy": 0.9}, "best_trial": None,
                                                  "data": "digits", "search": []}))  # keys missing, other shapes
    (old / "events.jsonl").write_text(json.dumps({"time": 1.0, "event": "run_start"}) + "\n")  # no config, no source
    c = client(root)
    assert c.get("/api/runs").json()["runs"][0]["trials"] == 4
    for path in ("/api/runs/old", "/api/runs/old/dashboard", "/api/runs/old/views", "/api/runs/old/trials",
                 "/api/groups", "/api/compare?a=old&b=old"):
        assert c.get(path).status_code == 200, path


def test_no_password_reaches_the_page_from_an_older_runs_log(tmp_path: Path):
    root = tmp_path / "runs"
    write_run(root, "pg", storage="postgresql://ann:hunter2@db.local/knobs")  # an older knobs logged it verbatim
    shutil.rmtree(root / "pg" / "study.db", ignore_errors=True)
    (root / "pg" / "study.db").unlink()
    c = client(root)
    bodies = [c.get(p).text for p in ("/api/runs", "/api/runs/pg", "/api/runs/pg/views", "/api/runs/pg/dashboard",
                                      "/api/groups", "/api/compare?a=pg&b=pg")]
    assert not any("hunter2" in body for body in bodies)
    assert "postgresql://ann:***@db.local/knobs" in bodies[1]  # named, masked, as where the study lives


def test_reading_a_study_writes_nothing_not_even_a_stale_trial(runs: Path):
    db = runs / "working" / "study.db"
    con = sqlite3.connect(db)
    con.execute("UPDATE knobs_trials SET heartbeat = heartbeat - 3600 WHERE state = 'running'")  # abandoned-looking
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    c = client(runs)
    assert c.get("/api/runs/working/trials", params={"state": "running"}).json()["matched"] == 1
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM knobs_trials WHERE state = 'running'").fetchone()[0] == 1


def test_the_page_and_plotly_are_served_from_the_package(runs: Path):
    c = client(runs)
    page = c.get("/")
    assert page.status_code == 200 and 'name="viewport"' in page.text and "http" not in page.text.split("<body>")[0]
    plotly = c.get("/plotly.min.js")  # the report's partial bundle, gzip on the wire as stored
    from knobs.report._bundle import bundle_javascript

    assert plotly.status_code == 200 and plotly.content == bundle_javascript()
    assert plotly.headers["content-encoding"] == "gzip" and int(plotly.headers["content-length"]) < 600_000
    assert c.get("/static/app.js").status_code == 200 and c.get("/static/app.css").status_code == 200
    assert "table[data-sortable]" in c.get("/views.js").text  # the sorter the report's fragments rely on


def test_cli_refuses_a_missing_folder_and_a_taken_port(tmp_path: Path, runs: Path, capsys):
    from knobs.cli import main

    assert main(["dashboard", str(tmp_path / "nowhere"), "--no-open"]) == 2
    assert "does not exist" in capsys.readouterr().err
    server = Server(runs, port=0).start()
    try:
        assert main(["dashboard", str(runs), "--port", str(server.port), "--no-open"]) == 2
        assert "choose another --port" in capsys.readouterr().err
    finally:
        server.stop()


def test_serving_beyond_loopback_prints_an_address_with_its_token(runs: Path):
    server = Server(runs, host="127.0.0.1", port=0)
    try:
        assert server.token and server.url.endswith(f"?token={server.token}")
        server.start()
        assert httpx.get(f"http://127.0.0.1:{server.port}/api/runs").status_code == 401
        assert httpx.get(server.url.replace("/?", "/api/runs?")).status_code == 200
    finally:
        server.stop()




@pytest.mark.slow
def test_a_real_knobs_run_is_watched_live_and_read_whole_when_it_ends(tmp_path: Path):
    from knobs.config import load_config
    from knobs.pipeline import Display, run

    root = tmp_path / "runs"
    root.mkdir()
    cfg = load_config(None, {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 4, "train.patience": 2,
                             "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1},
                             "runs_dir": str(root), "name": "live"})
    server = Server(root, port=0).start()
    worker = threading.Thread(target=run, args=(cfg,), kwargs={"display": Display(quiet=True)})
    epochs = []
    try:
        with httpx.stream("GET", f"http://127.0.0.1:{server.port}/api/stream?run=live", timeout=120) as response:
            lines = response.iter_lines()
            next(lines)
            worker.start()  # the run starts after the page listens: its directory does not exist yet
            event = None
            for line in lines:
                if line.startswith("event: "):
                    event = line[len("event: "):]
                elif line.startswith("data: ") and event == "epoch":
                    epochs += json.loads(line[len("data: "):])["epochs"]
                    break
        worker.join()
        c = client(root)
        row = c.get("/api/runs").json()["runs"][0]
        assert row["name"] == "live" and row["state"] == "finished" and row["trials"] == 3 and row["problems"] == []
        keys = [v["key"] for v in c.get("/api/runs/live/views").json()["views"]]
        assert keys[0] == "headline" and "best_curves" in keys and "confusion" in keys
        views = c.get("/api/runs/live/dashboard").json()["views"]
        assert [v["key"] for v in views] == ["dash:history", "dash:curves", "dash:timeline"]
        assert c.get("/api/runs/live/trials").json()["total"] == 3
    finally:
        server.stop()
        worker.join(timeout=120)
    assert epochs and {"trial", "epoch", "train_loss", "val_loss", "lr"} <= set(epochs[0])


@pytest.mark.parametrize("largest, step", [(0, 1), (5, 1), (9, 2), (60, 10), (300, 50), (9_999, 2000)])
def test_epoch_and_trial_axes_tick_on_whole_numbers_only(largest: int, step: int):
    from knobs.dashboard._figures import integer_axis

    axis = integer_axis("epoch", largest)
    assert axis["dtick"] == step and axis["tick0"] == 0 and axis["title"]["text"] == "epoch"


def test_knobs_dashboard_serves_until_stopped_and_prints_its_token_once(runs: Path):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "knobs.cli", "dashboard", str(runs), "--port", "0", "--no-open",
                                "--host", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("knobs dashboard: http://127.0.0.1:") and "?token=" in first
        url = first.split(": ", 1)[1]
        assert httpx.get(url.replace("/?", "/api/runs?"), timeout=10).json()["runs"][0]["name"] == "done"
        assert httpx.get(url.split("?")[0] + "api/runs", timeout=10).status_code == 401
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert url.split("token=")[1] not in out  # printed once, at start


def test_a_run_name_with_spaces_and_accents_is_found(tmp_path: Path):
    root = tmp_path / "runs"
    write_run(root, "exp 1 é")
    c = client(root)
    assert c.get("/api/runs").json()["runs"][0]["name"] == "exp 1 é"
    assert c.get("/api/runs/exp%201%20%C3%A9/trials").json()["total"] == 4


def test_a_large_history_draws_the_best_and_a_sample_with_traces_the_bundle_has():
    """10,000 trials: at most MAX_MARKERS points per state (the best kept), plain SVG traces only —
    the page ships the report's partial plotly.js, which has no WebGL."""
    from types import SimpleNamespace

    from knobs.dashboard._figures import MAX_MARKERS, history, timeline
    from knobs.report._bundle import bundled_trace_types
    from knobs.trial import FrozenTrial, TrialState

    trials = [FrozenTrial(number=i, config={}, state=TrialState.COMPLETE if i % 3 else TrialState.PRUNED,
                          value=float((i * 7919) % 10_007), intermediate={1: float(i)}, started_at=float(i),
                          finished_at=float(i) + 2.0) for i in range(10_000)]
    run = SimpleNamespace(trials=trials, metric="val_loss", direction="minimize", heartbeats={}, events=[])
    view = history(run)
    markers = [t for t in view.figure["data"] if t["mode"] == "markers"]
    assert all(len(t["x"]) <= MAX_MARKERS for t in markers)
    best = min((t for t in trials if t.state is TrialState.COMPLETE), key=lambda t: t.value)
    assert best.number in markers[0]["x"] and "points not drawn" in view.note
    types = {t["type"] for v in (view, timeline(run)) for t in v.figure["data"]}
    assert types <= bundled_trace_types()


def test_a_large_timeline_draws_every_failure_the_best_and_a_sample():
    """10,000 segments took the page 1.3 s to draw: at most MAX_SEGMENTS per state, and every failed trial."""
    from types import SimpleNamespace

    from knobs.dashboard._figures import MAX_SEGMENTS, timeline
    from knobs.trial import FrozenTrial, TrialState

    def state(i: int) -> TrialState:
        return TrialState.FAILED if i % 500 == 7 else TrialState.COMPLETE if i % 3 else TrialState.PRUNED

    trials = [FrozenTrial(number=i, config={}, state=state(i), value=None if state(i) is TrialState.FAILED else
                          float((i * 7919) % 10_007), intermediate={1: float(i)}, started_at=float(i),
                          finished_at=float(i) + 2.0, attrs={"fail_reason": "Diverged"}) for i in range(10_000)]
    view = timeline(SimpleNamespace(trials=trials, metric="val_loss", direction="minimize", heartbeats={}, events=[]))
    drawn = {t["name"]: {y for y in t["y"] if y is not None} for t in view.figure["data"]}
    assert all(len(numbers) <= MAX_SEGMENTS for numbers in drawn.values())
    assert drawn["failed"] == {t.number for t in trials if t.state is TrialState.FAILED}  # all 20
    best = min((t for t in trials if t.state is TrialState.COMPLETE), key=lambda t: t.value)
    assert best.number in drawn["complete"] and max(drawn["complete"]) > 9_000  # the best, and the whole span
    assert "not drawn (the best and an even sample" in view.note


def test_the_reports_slices_of_a_large_study_draw_the_best_and_a_sample_and_say_so():
    from knobs.report import RunRecord
    from knobs.report._run_views import slices
    from knobs.report._search_views import MAX_POINTS as SLICE_POINTS
    from knobs.trial import FrozenTrial, TrialState

    space = {"lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}
    trials = [FrozenTrial(number=i, config={"lr": 10 ** -(1 + (i % 30) / 10)}, state=TrialState.COMPLETE,
                          value=float((i * 7919) % 3001)) for i in range(3000)]
    run = RunRecord(summary={"search": {"space": {"params": space}, "direction": "minimize"},
                             "best_trial": {"metric": "val_loss"}}, trials=trials)
    [view] = slices(run)
    [trace] = view.figure["data"]
    assert len(trace["x"]) == SLICE_POINTS and min(trials, key=lambda t: t.value).number in trace["customdata"]
    assert f"{SLICE_POINTS} of 3000 trials drawn: the best {SLICE_POINTS // 4}" in view.note


def test_reading_a_run_pauses_the_garbage_collector_and_leaves_it_as_it_was(runs: Path, monkeypatch):
    import gc

    from knobs.dashboard import _runs

    seen = []
    real = _runs.RunSource._load
    monkeypatch.setattr(_runs.RunSource, "_load", lambda self, sig: (seen.append(gc.isenabled()), real(self, sig))[1])
    for enabled in (True, False):
        gc.enable() if enabled else gc.disable()
        try:
            _runs.RunsFolder(runs).run("done").load()
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
    assert seen == [False, False]


def test_the_views_are_computed_with_the_garbage_collector_paused(runs: Path, monkeypatch):
    import gc

    from knobs.dashboard import _app

    seen = []
    own, shared = _app.dashboard_views, _app.shared_views
    monkeypatch.setattr(_app, "dashboard_views", lambda run, **k: (seen.append(("own", gc.isenabled())), own(run, **k))[1])
    monkeypatch.setattr(_app, "shared_views", lambda record: (seen.append(("report", gc.isenabled())), shared(record))[1])
    c = client(runs)
    assert c.get("/api/runs/done/dashboard").status_code == 200 and c.get("/api/runs/done/views").status_code == 200
    assert seen == [("own", False), ("report", False)] and gc.isenabled()


def test_knobs_dashboard_passes_each_storage_url_to_the_server(runs: Path, monkeypatch):
    from typer.testing import CliRunner

    import knobs.dashboard
    from knobs.cli import app

    given = {}
    monkeypatch.setattr(knobs.dashboard, "serve", lambda runs_dir, **options: given.update(options))
    urls = ["postgresql://ann:pw@db/knobs", "postgresql://bob:pw@db2/knobs"]
    result = CliRunner().invoke(app, ["dashboard", str(runs), "--no-open", "--storage", urls[0], "--storage", urls[1]])
    assert result.exit_code == 0, result.output
    assert list(given["storage"]) == urls
    CliRunner().invoke(app, ["dashboard", str(runs), "--no-open"])
    assert list(given["storage"]) == []


def test_two_views_of_one_key_both_reach_the_page(runs: Path, monkeypatch):
    from knobs.report import View, _run_views

    def twice(run):
        yield View("vault", "The vault", "test", html="<p>sealed</p>")
        yield View("vault", "The test vault's log", "test", html="<p>opened once</p>")

    monkeypatch.setattr(_run_views, "PRODUCERS", [twice])
    views = client(runs).get("/api/runs/done/views").json()["views"]
    assert [(v["key"], v["title"]) for v in views] == [("vault", "The vault"), ("vault:2", "The test vault's log")]
