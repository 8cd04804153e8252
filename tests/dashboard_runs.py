"""Run directories for the dashboard's tests, written the way ``knobs run`` writes them: a study
in ``study.db`` through ``knobs.storage``, ``events.jsonl`` records, and ``summary.json``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import knobs
from knobs.storage import SQLStorage
from knobs.trial import TrialState

SPACE = knobs.Space({"lr": knobs.Float(1e-4, 1.0, log=True), "width": knobs.Int(16, 512, log=True)}).to_json()


def curve(epochs: int, scale: float = 1.0) -> dict[str, list]:
    return {"epoch": list(range(1, epochs + 1)),
            "train_loss": [scale * 2.0 / e for e in range(1, epochs + 1)],
            "val_loss": [scale * 2.2 / e + 0.01 * e for e in range(1, epochs + 1)],
            "val_accuracy": [min(0.99, 0.5 + 0.05 * e) for e in range(1, epochs + 1)],
            "lr": [0.01] * epochs}


def write_run(root: Path, name: str, *, n_complete: int = 4, running: int = 0, failed: int = 0, pruned: int = 0,
              summary: bool = True, seed: int = 0, config: dict[str, Any] | None = None,
              storage: str | None = None) -> Path:
    """A run directory under ``root``: ``n_complete`` complete trials (value = 1/(k+1)), then pruned,
    failed and running ones; events for each; a summary unless ``summary=False``."""
    path = root / name
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    db = SQLStorage(f"sqlite:///{(path / 'study.db').resolve()}")
    record = db.create_study("search", direction="minimize", space=SPACE)
    events = [{"time": round(time.time(), 3), "event": "run_start", "source": "digits", "resumed": False,
               "config": config or {"name": name, "seed": seed, "model": {"family": "mlp"},
                                    "search": {"sampler": "random", "metric": "val_loss", "storage": storage}}}]
    number = 0
    for k in range(n_complete):
        db.create_trial(record.id, {"lr": 10.0 ** -(k % 4 + 1), "width": 32 * (k + 1)})
        for e, v in enumerate(curve(5, 1 / (k + 1))["val_loss"], 1):
            db.report(record.id, number, e, v)
            events.append({"time": time.time(), "event": "epoch", "trial": number, "epoch": e, "val_loss": v})
        db.finish_trial(record.id, number, TrialState.COMPLETE, 1.0 / (k + 1) + seed * 0.01,
                        {"curve": curve(5, 1 / (k + 1)), "epochs_run": 5, "best_epoch": 3})
        events.append({"time": time.time(), "event": "trial", "number": number, "state": "complete"})
        number += 1
    for _ in range(pruned):
        db.create_trial(record.id, {"lr": 0.5, "width": 16})
        db.report(record.id, number, 1, 3.0)
        db.report(record.id, number, 2, 2.9)
        db.finish_trial(record.id, number, TrialState.PRUNED, 2.9)
        number += 1
    for _ in range(failed):
        db.create_trial(record.id, {"lr": 0.9, "width": 16})
        db.finish_trial(record.id, number, TrialState.FAILED, None,
                        {"fail_reason": "Diverged: training diverged: loss nan at step 3 (epoch 1, lr 0.9)",
                         "traceback": "Traceback (most recent call last):\n  ...\nknobs.train.Diverged: loss nan"})
        number += 1
    for _ in range(running):
        db.create_trial(record.id, {"lr": 0.003, "width": 64})
        db.report(record.id, number, 1, 1.1)
        events.append({"time": time.time(), "event": "epoch", "trial": number, "epoch": 1, "train_loss": 1.2,
                       "val_loss": 1.1, "val_accuracy": 0.6, "lr": 0.003})
        number += 1
    db.close()
    with open(path / "events.jsonl", "w") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")
    if summary:
        (path / "summary.json").write_text(json.dumps({
            "name": name, "run_dir": str(path), "data": {"source": "digits"}, "n_trials": number,
            "search": {"direction": "minimize", "space": SPACE, "sampler": "random"},
            "best_trial": {"number": n_complete - 1, "value": 1.0 / n_complete + seed * 0.01, "metric": "val_loss",
                           "best_epoch": 3, "config": {}},
            "test": {"accuracy": 0.95 + seed * 0.01, "log_loss": 0.2}}))
    return path


def append_epoch(path: Path, trial: int, epoch: int, **values: float) -> None:
    """One epoch record appended to the run's log, as the run writes it (a whole line at once)."""
    with open(path / "events.jsonl", "a") as handle:
        handle.write(json.dumps({"time": round(time.time(), 3), "event": "epoch", "trial": trial, "epoch": epoch,
                                 **values}) + "\n")
