"""How fast ``knobs dashboard`` opens a large study: a synthetic run of 10,000 trials.

The run directory is built the way a pruned search fills it, through ``knobs.storage`` (bulk
writes: ``create_trials``, ``report_many``, ``finish_trials``): epochs per trial as an ASHA-like
pruner leaves them (1, 3, 9 or 27; about 5 on average), trials stopped before 27 epochs pruned,
1 % failed with a traceback, the rest complete with their learning curves in ``attrs["curve"]``;
``events.jsonl`` holds a ``run_start``, every epoch record and every trial record; a summary.

Then, in this process (Starlette's TestClient, so the figures are the server's time without the
network; wall and CPU seconds, since a shared machine's wall time says as much about its other
users), a fresh app is asked what the page asks when it opens the run — the page itself, the
runs list, the run, its dashboard views (history, curves) and the first page of the trials table
— then the rest (the report's views, a table sorted by value, a filtered one); then everything
again, warm (the cache keyed by the files' signatures).

``--browser`` also opens the run in headless Chromium on a real server (cold, then warm) and times
until the page shows it (the window's content drawn), until the dashboard's own figures below it are
drawn, and until the report's views are drawn, with the CPU seconds the server's process and
Chromium's spent meanwhile (a busy machine inflates wall time, much less CPU time); ``--repeat N``
does that, and the in-process measurement, N times (fresh servers) and reports the medians, since
a shared machine's load moves each figure by seconds.

Run: ``.venv/bin/python bench/dashboard.py [--trials 10000] [--keep DIR [--reuse]] [--browser [--repeat N]]``. It prints a table,
writes ``bench/results/dashboard.json`` and its last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

import knobs
from knobs.dashboard import create_app
from knobs.storage import SQLStorage
from knobs.trial import TrialState

RESULTS = Path(__file__).resolve().parent / "results" / "dashboard.json"
SPACE = knobs.Space({"lr": knobs.Float(1e-4, 1.0, log=True), "weight_decay": knobs.Float(1e-6, 1e-2, log=True),
                     "width": knobs.Choice([16, 32, 64, 128, 256, 512]),
                     "optimizer": knobs.Choice(["adam", "sgd"])}).to_json()
RUNGS, WEIGHTS = (1, 3, 9, 27), (0.5, 0.25, 0.15, 0.10)
BATCH = 500


def build_run(path: Path, n_trials: int, seed: int = 0) -> dict[str, Any]:
    """A run directory of ``n_trials`` finished trials; returns what it holds."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    storage = SQLStorage(f"sqlite:///{(path / 'study.db').resolve()}")
    study = storage.create_study("search", direction="minimize", space=SPACE)
    events = [{"time": time.time(), "event": "run_start", "source": "synthetic", "resumed": False,
               "config": {"name": path.name, "seed": seed, "search": {"sampler": "random", "pruner": "asha",
                                                                      "metric": "val_loss", "storage": None}}}]
    epochs_total = 0
    for start in range(0, n_trials, BATCH):
        size = min(BATCH, n_trials - start)
        configs = [{"lr": 10 ** rng.uniform(-4, 0), "weight_decay": 10 ** rng.uniform(-6, -2),
                    "width": rng.choice([16, 32, 64, 128, 256, 512]), "optimizer": rng.choice(["adam", "sgd"])}
                   for _ in range(size)]
        trials = storage.create_trials(study.id, [(c, {}) for c in configs], number=start)
        plans = []
        for trial, config in zip(trials, configs):
            epochs = rng.choices(RUNGS, WEIGHTS)[0]
            floor = 0.05 + abs(rng.gauss(0, 0.3)) + abs(config["lr"] - 0.01)
            curve = {"epoch": list(range(1, epochs + 1)),
                     "train_loss": [floor * 0.8 + 2.0 / e for e in range(1, epochs + 1)],
                     "val_loss": [floor + 2.2 / e for e in range(1, epochs + 1)],
                     "val_accuracy": [min(0.99, 1 - floor / 2 - 0.5 / e) for e in range(1, epochs + 1)],
                     "lr": [config["lr"]] * epochs}
            plans.append((trial.number, epochs, curve))
            epochs_total += epochs
        reports = [(n, e, v) for n, _, c in plans for e, v in zip(c["epoch"], c["val_loss"])]
        storage.report_many(study.id, reports)
        for n, epochs, curve in plans:
            for i, e in enumerate(curve["epoch"]):
                events.append({"time": time.time(), "event": "epoch", "trial": n, "epoch": e,
                               **{k: curve[k][i] for k in ("train_loss", "val_loss", "val_accuracy", "lr")}})
        rows = []
        for n, epochs, curve in plans:
            if rng.random() < 0.01:
                rows.append((n, TrialState.FAILED, None, {"fail_reason": "Diverged: loss nan at step 3",
                                                          "traceback": "Traceback (most recent call last):\n ..."}))
            elif epochs < RUNGS[-1]:
                rows.append((n, TrialState.PRUNED, curve["val_loss"][-1], {}))
            else:
                rows.append((n, TrialState.COMPLETE, min(curve["val_loss"]),
                             {"curve": curve, "epochs_run": epochs, "best_epoch": epochs}))
            events.append({"time": time.time(), "event": "trial", "number": n, "state": rows[-1][1].value})
        storage.finish_trials(study.id, rows)
    storage.close()
    with open(path / "events.jsonl", "w") as handle:
        handle.writelines(json.dumps(e) + "\n" for e in events)
    (path / "summary.json").write_text(json.dumps({"name": path.name, "run_dir": str(path), "n_trials": n_trials,
                                                   "data": {"source": "synthetic"},
                                                   "search": {"direction": "minimize", "space": SPACE}}))
    return {"trials": n_trials, "epochs": epochs_total, "events_mb": round((path / "events.jsonl").stat().st_size / 1e6, 1),
            "study_mb": round((path / "study.db").stat().st_size / 1e6, 1)}


OPEN = ["/", "/api/runs", "/api/runs/{run}", "/api/runs/{run}/dashboard", "/api/runs/{run}/trials"]
"""What the page asks before it shows the run (index.html, then app.js's runPage)."""
LATER = ["/api/runs/{run}/views", "/api/runs/{run}/trials?sort=value&desc=0",
         "/api/runs/{run}/trials?sort=param:lr&state=complete", "/api/runs/{run}/trials?q=diverged",
         "/api/runs/{run}/trials?page=150"]


def measure(root: Path, run: str) -> list[dict[str, Any]]:
    """Each request's wall time and size, cold (a fresh app) then warm."""
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    rows = []
    for phase in ("cold", "warm"):
        for path in OPEN + LATER:
            url = path.format(run=run)
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            assert response.status_code == 200, (url, response.text[:200])
            rows.append({"phase": phase, "request": url, "seconds": round(seconds, 3), "cpu_s": round(cpu, 3),
                         "kb": round(len(response.content) / 1e3, 1), "opens_page": path in OPEN})
    return rows


def measure_browser(root: Path, run: str) -> list[dict[str, Any]]:
    """Seconds until the page shows the run in headless Chromium at 1280 × 800 — the run's facts, the
    trials table and every figure in the window drawn (the page's ``knobs:shown`` mark; the figures
    below it are drawn one at a time after) —, until every figure of the dashboard's own is drawn
    (``knobs:figures``), and until the report's views are drawn too; on a real server in a thread that
    has read nothing yet (cold), then again (warm)."""
    import shutil as _shutil

    from playwright.sync_api import sync_playwright

    from knobs.dashboard import Server

    chromium = _shutil.which("chromium") or _shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("--browser needs Chromium on PATH (apt-get install chromium)")
    server = Server(root, port=0)
    server._preload = lambda: None  # NOTE: cold means cold: no background read before the page asks
    server.start()
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for phase in ("cold", "warm"):
                page.goto("about:blank")
                cpu = (time.process_time(), _descendants_cpu())
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{server.port}/#/run/{run}")
                page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
                ready = time.perf_counter() - started
                page.wait_for_function("document.body.dataset.viewsLoaded === '1'", timeout=120_000)
                marks = page.evaluate("() => performance.getEntriesByType('mark')"
                                      ".map(m => [m.name.replace('knobs:', ''), Math.round(m.startTime) / 1000])")
                marks = dict(marks)
                server_cpu, browser_cpu = time.process_time() - cpu[0], _descendants_cpu() - cpu[1]
                # NOTE: the marks, not Playwright's view: the page's busy drawing right after delays
                # when Playwright sees it (``ready`` then) by up to seconds
                # (a page from before the "shown" mark drew every figure of its own before it showed the run)
                rows.append({"phase": phase, "shown_s": marks.get("shown", marks.get("figures", round(ready, 2))),
                             "figures_s": marks.get("figures"),
                             "with_report_views_s": round(time.perf_counter() - started, 2), "marks": marks,
                             "server_cpu_s": round(server_cpu, 2), "browser_cpu_s": round(browser_cpu, 2)})
            browser.close()
    finally:
        server.stop()
    return rows


def _descendants_cpu() -> float:
    """CPU seconds (user + system) used so far by this process's descendants — Playwright's driver
    and Chromium's processes —, read from /proc (Linux; 0 elsewhere). What the page cost the
    machine, which a busy machine's load does not inflate as it inflates wall time."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, todo, seen = 0.0, [os.getpid()], set()
    while todo:
        pid = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
            except OSError:
                continue
            todo += [int(c) for c in children if int(c) not in seen]
            seen.update(int(c) for c in children)
        if pid != os.getpid():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                # utime, stime, and the reaped children's (a renderer that exited is counted by its parent)
                total += sum(int(f) for f in fields[11:15]) / tick
            except (OSError, IndexError, ValueError):
                continue
    return total


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--keep", default=None, help="build the run under this folder and keep it")
    parser.add_argument("--browser", action="store_true", help="also time the page in headless Chromium")
    parser.add_argument("--repeat", type=int, default=1, help="measurements (fresh servers), in process and in the browser; medians shown")
    parser.add_argument("--reuse", action="store_true", help="with --keep: measure the run already built there")
    args = parser.parse_args(argv)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="knobs-dashboard-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.reuse and (root / "big" / "study.db").is_file():
        built = {"trials": args.trials, "reused": str(root / "big")}
    else:
        built = build_run(root / "big", args.trials)
    built["build_s"] = round(time.perf_counter() - started, 1)
    try:
        # (each pass a fresh app: --repeat N gives N cold reads, and the medians below)
        passes = [measure(root, "big") for _ in range(args.repeat)]
        rows = passes[0]
        in_browser = None
        if args.browser:
            in_browser = []
            for _ in range(args.repeat):
                load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
                for row in measure_browser(root, "big"):
                    in_browser.append({**row, "load_average": load_before})
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"run: {built}")
    print(f"{'phase':5} {'request':58} {'wall s':>7} {'cpu s':>7} {'kB':>8}")
    for row in rows:
        print(f"{row['phase']:5} {row['request']:58} {row['seconds']:7.3f} {row['cpu_s']:7.3f} {row['kb']:8.1f}")
    each = [{f"{phase}_{key}": round(sum(r[key] for r in one if r["phase"] == phase and r["opens_page"]), 3)
             for phase in ("cold", "warm") for key in ("seconds", "cpu_s")} for one in passes]
    opening = {key: sorted(e[key] for e in each)[len(each) // 2] for key in each[0]}  # (medians)
    if len(each) > 1:
        print(f"opening the run, cold, each pass: wall {[e['cold_seconds'] for e in each]} s, "
              f"CPU {[e['cold_cpu_s'] for e in each]} s; medians:")
    print(f"opening the run (the page's first requests): cold {opening['cold_seconds']} s wall "
          f"({opening['cold_cpu_s']} s CPU), warm {opening['warm_seconds']} s wall ({opening['warm_cpu_s']} s CPU)")
    for row in in_browser or ():
        print(f"in Chromium, {row['phase']}: the run shown after {row['shown_s']} s, the dashboard's figures "
              f"after {row['figures_s']} s, with the report's views after {row['with_report_views_s']} s "
              f"(CPU: server {row['server_cpu_s']} s, Chromium {row['browser_cpu_s']} s); "
              f"steps (s from navigation): {row['marks']}")
    medians = {}
    for phase in ("cold", "warm"):
        for key in ("shown_s", "figures_s", "with_report_views_s", "server_cpu_s", "browser_cpu_s", "load_average"):
            values = sorted(r[key] for r in in_browser or () if r["phase"] == phase and r.get(key) is not None)
            if values:
                medians[f"{phase}_{key}"] = round(values[len(values) // 2], 2)
    if in_browser:
        print(f"in Chromium, medians of {args.repeat}: {medians}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    figures = {"run": built, "open": opening, "open_each": each, "load_average": load, "cpus": os.cpu_count(), "requests": rows,
               "browser": in_browser, "browser_medians": medians}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps({"trials": built["trials"], **opening, "load_average": load, **medians,
                      "views_cold_s": next(r["seconds"] for r in rows if r["request"].endswith("/views"))}))
    return figures


if __name__ == "__main__":
    main()
