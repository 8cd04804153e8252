"""The storage share of a population search on SQLite: how much of the run the study's writes and
reads take, at P = 64 and 256, with a model so small that training costs almost nothing (as an
epoch does on a GPU).

Each arm runs ``optimize_population`` over a seeded random search (lr, weight decay) of a tiny MLP
(width 16, depth 1) on synthetic blobs, 2 batches of P trials, a few epochs, the study in a fresh
SQLite file with a ``Median`` pruner (so every epoch's reports are judged too). Storage time is
the wall time spent inside the storage's public methods on the main thread (nested calls counted
once; the heartbeat thread is not counted), the rest is training and bookkeeping.

``--before DIR`` runs the same arms a second time in a subprocess with ``DIR`` (a ``src`` folder
of another knobs, e.g. the commit before batching: ``git archive <commit> src | tar -x -C /tmp/base``)
first on the path, and prints both. It also checks that both made the same decisions (the same
states, values and intermediate values of every trial).

Run: ``.venv/bin/python bench/population_storage.py [--sizes 64 256] [--epochs 5] [--before /tmp/base/src]``.
It prints a table, writes ``bench/results/population_storage.json`` and its last line is one
JSON object with the figures.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch

from _elsewhere import before_after, write_figures

import knobs
from knobs.population import PopulationObjective, optimize_population

RESULTS = Path(__file__).resolve().parent / "results" / "population_storage.json"
SPACE = knobs.Space({"lr": knobs.Float(1e-3, 3e-2, log=True), "weight_decay": knobs.Float(1e-6, 1e-2, log=True)})
_SKIP = {"close", "connect_url", "url"}


def blobs(n: int = 512, d: int = 16, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, d, generator=g) * 2.0
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


class StorageClock:
    """Wraps a storage's public methods; adds their main-thread wall time (outermost calls only)."""

    def __init__(self, storage: Any) -> None:
        self.seconds, self.calls, self.by_method, self._depth = 0.0, {}, {}, 0
        main = threading.main_thread()
        for name in dir(storage):
            if name.startswith("_") or name in _SKIP or not callable(getattr(storage, name)):
                continue
            setattr(storage, name, self._timed(name, getattr(storage, name), main))

    def _timed(self, name: str, method: Any, main: threading.Thread) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is not main or self._depth:
                return method(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds += spent
                self.calls[name] = self.calls.get(name, 0) + 1
                self.by_method[name] = self.by_method.get(name, 0.0) + spent
                self._depth -= 1
        return call


def arm(population: int, epochs: int) -> dict[str, Any]:
    """One search of 2 batches of ``population`` trials on a fresh SQLite file."""
    X, y = blobs()
    train, val = (X[:384], y[:384]), (X[384:], y[384:])
    with tempfile.TemporaryDirectory() as tmp:
        storage = knobs.storage.SQLStorage(f"sqlite:///{tmp}/study.db")
        clock = StorageClock(storage)
        study = knobs.Study(SPACE, sampler=knobs.search.Random(seed=0), storage=storage,
                            pruner=knobs.prune.Median(n_startup_trials=5, n_warmup_steps=1))
        objective = PopulationObjective("mlp", train, val, fixed={"width": 16, "depth": 1}, epochs=epochs,
                                        batch_size=128, patience=None, device="cpu", seed=0)
        start = time.perf_counter()
        optimize_population(study, objective, n_trials=2 * population, population=population)
        total = time.perf_counter() - start
        trials = study.trials
        storage.close()
    outcome = [(t.state.value, t.value, sorted(t.intermediate.items())) for t in trials]
    return {"population": population, "epochs": epochs, "trials": len(trials), "total_s": round(total, 3),
            "storage_s": round(clock.seconds, 3), "storage_share": round(clock.seconds / total, 4),
            "storage_calls": sum(clock.calls.values()), "calls": clock.calls,
            "seconds_by_method": {k: round(v, 3) for k, v in sorted(clock.by_method.items(), key=lambda kv: -kv[1])},
            "pruned": sum(t.state is knobs.TrialState.PRUNED for t in trials),
            "outcome_sha": hashlib.sha256(json.dumps(outcome).encode()).hexdigest()[:16]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parsed = before_after(argv, __doc__.split("\n")[0], __file__, arm, warm_up=8)
    if parsed is None:
        return {}
    args, rows = parsed
    print(f"{'arm':<8} {'P':>4} {'trials':>6} {'total s':>8} {'storage s':>9} {'share':>6} {'calls':>6}")
    for label in ("before", "after"):
        for r in rows.get(label, []):
            print(f"{label:<8} {r['population']:>4} {r['trials']:>6} {r['total_s']:>8.2f} {r['storage_s']:>9.2f} "
                  f"{r['storage_share']:>6.1%} {r['storage_calls']:>6}")
    figures: dict[str, Any] = {"bench": "population_storage", "epochs": args.epochs, "threads": 1, **rows}
    if args.before:
        figures["same_outcome"] = all(a["outcome_sha"] == b["outcome_sha"] for a, b in zip(rows["after"], rows["before"]))
        figures["storage_speedup"] = {str(a["population"]): round(b["storage_s"] / max(a["storage_s"], 1e-9), 1)
                                      for a, b in zip(rows["after"], rows["before"])}
    return write_figures(figures, RESULTS)


if __name__ == "__main__":
    main()
