"""Pruners on LCBench learning curves: epochs spent against regret, knobs' and Optuna's on the same curves.

Design: the curves of 60 random configurations per task (bench/lcbench.py, cached), 52 epochs each,
validation error in points. Trials arrive in the drawn order and report their curve epoch by epoch;
the pruner decides after each report. Two modes:
- ``sequential``: one trial at a time (the hard case for rung-based pruners: every trial is judged
  only against those before it);
- ``async4``: four workers, each epoch taking the surrogate's own time for that configuration, a
  worker starting the next trial as soon as its last one ends or is pruned (running trials are in
  the pruners' view, as in a parallel study).
Figures per task and mode: cost = epochs run / (60 × 52); regret = the final error of the best
configuration that completed minus the best final error of all 60, in points; each the mean over
``--orders`` arrival orders (the drawn one and seeded permutations).

Tasks are split by position in shared/data/README.md's list: even positions are the development
set (the Curve pruner's defaults were chosen on them), odd positions the check set, never tuned on.

Run: ``.venv/bin/python bench/prune_lcbench.py [--tasks dev|check|all] [--modes sequential async4]
[--only curve ...]``. Prints a table per mode, writes bench/results/prune_lcbench.json, and its last
line is one JSON object with the means.
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import optuna  # noqa: E402

from lcbench import TASKS, load_curves  # noqa: E402

import knobs  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "prune_lcbench.json"
DEV, CHECK = TASKS[0::2], TASKS[1::2]
EPOCHS = 52


class KnobsJudge:
    """A knobs pruner over frozen trial records, as the study would call it."""

    def __init__(self, pruner) -> None:
        self.pruner, self.trials = pruner, {}

    def start(self, i: int) -> None:
        self.trials[i] = FrozenTrial(number=i, config={})

    def report(self, i: int, step: int, value: float) -> bool:
        self.trials[i].intermediate[step] = value
        return self.pruner.prune(self.trials[i], list(self.trials.values()), direction="minimize")

    def finish(self, i: int, value: float | None) -> None:
        state = TrialState.PRUNED if value is None else TrialState.COMPLETE
        self.trials[i] = replace(self.trials[i], state=state, value=value)


class OptunaJudge:
    """An Optuna pruner driven through an in-memory study (ask, report, should_prune, tell)."""

    def __init__(self, pruner) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # NOTE: a fixed name: HyperbandPruner places trials in brackets by a hash of it
        self.study = optuna.create_study(study_name="prune_lcbench", direction="minimize", pruner=pruner,
                                         sampler=optuna.samplers.RandomSampler(seed=0))
        self.live = {}

    def start(self, i: int) -> None:
        self.live[i] = self.study.ask()

    def report(self, i: int, step: int, value: float) -> bool:
        self.live[i].report(value, step)
        return self.live[i].should_prune()

    def finish(self, i: int, value: float | None) -> None:
        trial = self.live.pop(i)
        if value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, value)


def pruners(curve_options: dict) -> dict[str, Callable[[], object]]:
    """Fresh judges per simulation, by name (knobs' defaults as `knobs run` builds them)."""
    return {
        "knobs Median": lambda: KnobsJudge(knobs.prune.Median()),
        "knobs ASHA": lambda: KnobsJudge(knobs.prune.ASHA(max_resource=EPOCHS)),
        "knobs Hyperband": lambda: KnobsJudge(knobs.prune.Hyperband(max_resource=EPOCHS)),
        "knobs Curve": lambda: KnobsJudge(knobs.prune.Curve(max_resource=EPOCHS, **curve_options)),
        "optuna Median": lambda: OptunaJudge(optuna.pruners.MedianPruner()),
        "optuna SuccessiveHalving": lambda: OptunaJudge(optuna.pruners.SuccessiveHalvingPruner()),
        "optuna Hyperband": lambda: OptunaJudge(optuna.pruners.HyperbandPruner(min_resource=1, max_resource=EPOCHS)),
    }


def simulate(judge, curves: list[list[float]], times: list[list[float]], workers: int) -> dict:
    """Run every curve through ``judge`` with ``workers`` at once; epochs run and the completed finals."""
    n = len(curves)
    queue: list[tuple[float, int, int]] = []  # (time of the report, trial, epoch)
    next_trial, epochs, finals = 0, 0, {}

    def start(at: float) -> None:
        nonlocal next_trial
        if next_trial < n:
            judge.start(next_trial)
            heapq.heappush(queue, (at + times[next_trial][0], next_trial, 1))
            next_trial += 1

    for _ in range(workers):
        start(0.0)
    while queue:
        now, i, epoch = heapq.heappop(queue)
        epochs += 1
        value = curves[i][epoch - 1]
        if epoch == EPOCHS:
            judge.finish(i, value)
            finals[i] = value
            start(now)
        elif judge.report(i, epoch, value):
            judge.finish(i, None)
            start(now)
        else:
            heapq.heappush(queue, (now + times[i][epoch], i, epoch + 1))
    best_all = min(c[-1] for c in curves)
    return {"cost": epochs / (n * EPOCHS), "regret": min(finals.values()) - best_all if finals else float("inf"),
            "complete": len(finals)}


#: (first epochs E, kept K) of the control baseline, K chosen so the cost is about a fifth of full training
CONTROLS = ((1, 11), (2, 10), (4, 8))


def top_k_after(curves: list[list[float]], first: int, k: int) -> dict:
    """The control baseline of Egele et al. 2023 (arXiv 2307.15422): train every configuration ``first`` epochs,
    keep the ``k`` best by their error then, train those to the end. Not a pruner (it waits for every trial's first
    epochs, so no arrival order or worker count changes it); it is what a pruner must beat at the same cost."""
    n = len(curves)
    kept = sorted(range(n), key=lambda i: curves[i][first - 1])[:k]
    best_all = min(c[-1] for c in curves)
    return {"cost": (n * first + k * (EPOCHS - first)) / (n * EPOCHS),
            "regret": min(curves[i][-1] for i in kept) - best_all, "complete": k}


def epoch_times(curve_time: list[float]) -> list[float]:
    """Per-epoch durations from the surrogate's cumulative time (at least a small positive step)."""
    out, before = [], 0.0
    for t in curve_time:
        out.append(max(t - before, 1e-3))
        before = max(t, before)
    return out


def run(tasks: list[str], modes: list[str], only: list[str] | None, curve_options: dict, metric: str,
        orders: int) -> list[dict]:
    """One row per mode, task and pruner: cost and regret averaged over ``orders`` arrival orders
    (order 0 is the drawn one, the others seeded permutations of it)."""
    data = load_curves()["tasks"]
    rows = []
    for mode in modes:
        workers = 1 if mode == "sequential" else int(mode.removeprefix("async"))
        for task in tasks:
            perms = [list(range(len(data[task])))] + [
                [int(i) for i in np.random.default_rng([o, int(task)]).permutation(len(data[task]))]
                for o in range(1, orders)]
            for name, make in pruners(curve_options).items():
                if only and not any(o.lower() in name.lower() for o in only):
                    continue
                start, runs = time.perf_counter(), []
                for perm in perms:
                    curves = [data[task][i][metric] for i in perm]
                    times = [epoch_times(data[task][i]["time"]) for i in perm]
                    runs.append(simulate(make(), curves, times, workers))
                rows.append(_row(mode, task, name, runs, (time.perf_counter() - start) / len(perms)))
            for first, k in CONTROLS:
                name = f"top-{k} after {first} epoch{'s' if first > 1 else ''}"
                if only and not any(o.lower() in name.lower() for o in only):
                    continue
                rows.append(_row(mode, task, name, [top_k_after([c[metric] for c in data[task]], first, k)], 0.0))
    return rows


def _row(mode: str, task: str, name: str, runs: list[dict], seconds: float) -> dict:
    return {"mode": mode, "task": task, "set": "dev" if task in DEV else "check", "pruner": name,
            "cost": round(statistics.mean(r["cost"] for r in runs), 4),
            "regret": round(statistics.mean(r["regret"] for r in runs), 3),
            "regret_max": round(max(r["regret"] for r in runs), 3),
            "complete": statistics.mean(r["complete"] for r in runs), "seconds": round(seconds, 3)}


def summarize(rows: list[dict]) -> dict:
    out = {}
    for mode in dict.fromkeys(r["mode"] for r in rows):
        for part in ("dev", "check"):
            for name in dict.fromkeys(r["pruner"] for r in rows):
                sel = [r for r in rows if r["mode"] == mode and r["set"] == part and r["pruner"] == name]
                if sel:
                    out[f"{mode}/{part}/{name}"] = {
                        "cost": round(statistics.mean(r["cost"] for r in sel), 3),
                        "regret": round(statistics.mean(r["regret"] for r in sel), 2),
                        "regret_max": round(max(r["regret_max"] for r in sel), 2),
                        "ms_per_report": round(1000 * sum(r["seconds"] for r in sel)
                                               / sum(r["cost"] * 60 * EPOCHS for r in sel), 3)}
    return out


def print_table(rows: list[dict]) -> None:
    for mode in dict.fromkeys(r["mode"] for r in rows):
        tasks = list(dict.fromkeys(r["task"] for r in rows if r["mode"] == mode))
        print(f"\n{mode}: cost (share of epochs) / regret (points) per task")
        print(f"{'pruner':26s}" + "".join(f"{t + (' d' if t in DEV else ' c'):>14s}" for t in tasks)
              + f"{'dev mean':>14s}{'check mean':>14s}")
        for name in dict.fromkeys(r["pruner"] for r in rows):
            sel = {r["task"]: r for r in rows if r["mode"] == mode and r["pruner"] == name}
            cells = "".join(f"{sel[t]['cost']:6.2f}/{sel[t]['regret']:6.2f} " for t in tasks)
            means = ""
            for part in (DEV, CHECK):
                part_rows = [sel[t] for t in tasks if t in part]
                means += (f"{statistics.mean(r['cost'] for r in part_rows):6.2f}/"
                          f"{statistics.mean(r['regret'] for r in part_rows):6.2f} " if part_rows else " " * 14)
            print(f"{name:26s}{cells}{means}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="all", help="dev | check | all | comma-separated task ids")
    parser.add_argument("--modes", nargs="+", default=["sequential", "async4"])
    parser.add_argument("--only", nargs="*", help="run only pruners whose name contains one of these")
    parser.add_argument("--curve", default="{}", help="JSON options of knobs.prune.Curve")
    parser.add_argument("--metric", default="val_error", choices=["val_error", "val_cross_entropy"])
    parser.add_argument("--orders", type=int, default=5, help="arrival orders per task (0: the drawn one)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    tasks = {"dev": list(DEV), "check": list(CHECK), "all": list(TASKS)}.get(args.tasks) or args.tasks.split(",")
    rows = run(tasks, args.modes, args.only, json.loads(args.curve), args.metric, args.orders)
    print_table(rows)
    summary = summarize(rows)
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"curve_options": json.loads(args.curve), "metric": args.metric,
                                       "summary": summary, "rows": rows}, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
