"""Scale-out on the digits MLP search that ``knobs tune`` performs: local workers, and population mode.

Every arm runs the real pipeline (``knobs tune``: data, vault, preflight, the study with its
seeded random sampler, early stopping, checkpoints, events), so the figures are what a user of
``knobs run`` gets. Trials per minute are measured over the search (first trial start to last
trial end, from the study's own timestamps); the whole command's wall time (data, preflight,
worker start-up) is reported next to it.

Workers (``search.workers``): the default space (width and depth searched). Workers share the
study's one seeded sampler sequence, so every arm trains the very same configurations; each
worker is one process with one torch thread, so N workers need N free cores.

Population mode (``search.executor = "population"``): the architecture fixed at 64-256-256-10
(width 256, depth 2) and lr, weight decay, dropout and adam/adamw searched — the search whose
trials can share a population — 30 epochs, batch 64, patience 8. Each population arm runs
``--population-trials`` trials (default: the largest P) in populations of P; the one-by-one arm
(``search.executor = "local"``) runs the same configurations (or the first ``--solo-trials``:
its cost per trial does not depend on P), so early stopping gives both arms the same epochs. As a check that speed is not bought with results, the mean best
validation accuracy of the trials both arms ran is reported per arm (equal in law: dropout
masks are drawn differently, the rest is the same computation).

``--device cuda`` runs the population comparison on the GPU (default P = 64 and 256, the issue's
target being at least 50x the one-by-one trials per hour at 256). The load average at the start
is printed: the machine may be shared.

If ``--trainer-bench`` is given, ``bench/scale_population.py``'s figures (the bare
``train_population`` against ``Trainer``, without the pipeline) are included too.

Run: ``.venv/bin/python bench/scale.py [--workers 1 2] [--population 16 64] [--device cpu]``.
It prints a table; its last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from knobs import Study
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.trial import TrialState

HERE = Path(__file__).resolve().parent
#: the population comparison's search: one architecture, the training knobs searched.
POPULATION_SPACE = {
    "lr": {"low": 3e-4, "high": 3e-2, "log": True},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "dropout": {"low": 0.0, "high": 0.4},
    "optimizer": {"choices": ["adam", "adamw"]},
    "width": 256, "depth": 2,
}


def tune(name: str, runs_dir: Path, overrides: dict) -> dict:
    """One ``knobs tune`` through the Python API; the search's figures from its study."""
    cfg = load_config(None, {"name": name, "runs_dir": str(runs_dir), "search.sampler": "random",
                             "ensemble.enabled": False, **overrides})
    start = time.perf_counter()
    result = run(cfg, display=Display(console=Console(file=io.StringIO()), quiet=True), final_test=False)
    wall = time.perf_counter() - start
    study = Study.load(f"sqlite:///{result.path / 'study.db'}", "search")
    done = sorted((t for t in study.trials if t.state.finished), key=lambda t: t.number)
    span = max(t.finished_at for t in done) - min(t.started_at for t in done)
    complete = [t for t in done if t.state is TrialState.COMPLETE]
    return {
        "trials": len(done), "search_s": round(span, 1), "wall_s": round(wall, 1),
        "trials_per_minute": round(60.0 * len(done) / span, 2),
        "best_val_loss": round(min(t.value for t in complete), 4),
        "epochs": sum(t.attrs.get("epochs_run") or 0 for t in done),
        "configs": [t.config for t in done],
        "val_accuracy": [t.attrs.get("val_accuracy") for t in done],
    }


def workers_arm(workers: int, trials: int, seed: int, runs_dir: Path) -> dict:
    row = tune(f"workers-{workers}", runs_dir, {"seed": seed, "search.n_trials": trials, "search.workers": workers})
    return {"workers": workers, **row}


def population_arms(sizes: list[int], trials: int, solo_trials: int, seed: int, device: str, runs_dir: Path) -> dict:
    """The one-by-one arm, then one population arm per P, on ``POPULATION_SPACE``."""
    base = {"seed": seed, "search.space": POPULATION_SPACE, "train.epochs": 30, "train.batch_size": 64,
            "train.device": device}
    solo = tune("solo", runs_dir, {**base, "search.n_trials": solo_trials})
    _say("one by one", solo)
    rows = []
    epochs_per_s = solo["epochs"] / solo["search_s"]
    for P in sizes:
        row = tune(f"population-{P}", runs_dir, {**base, "search.n_trials": trials,
                                                 "search.executor": "population", "search.population": P})
        shared = min(len(solo["configs"]), len(row["configs"]))
        assert row["configs"][:shared] == solo["configs"][:shared], "the arms must train the same configurations"
        rows.append({"P": P, **_public(row), "speedup": round(row["trials_per_minute"] / solo["trials_per_minute"], 2),
                     "speedup_epochs_per_s": round(row["epochs"] / row["search_s"] / epochs_per_s, 2),
                     "best_val_acc_mean_shared": _mean(row["val_accuracy"][:shared])})
        _say(f"population P={P}", row, rows[-1]["speedup"])
    return {
        "device": device, "device_name": _device_name(device), "model": "mlp 64-256-256-10", "epochs": 30,
        "batch_size": 64, "one_by_one": {**_public(solo), "best_val_acc_mean_shared": _mean(solo["val_accuracy"])},
        "arms": rows,
    }


def trainer_bench(device: str) -> dict | None:
    """``bench/scale_population.py``'s ``run()``: the bare population trainer against ``Trainer``."""
    path = HERE / "scale_population.py"
    spec = importlib.util.spec_from_file_location("scale_population", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run(device)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials of each workers arm")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2], help="workers arms (none: skip)")
    parser.add_argument("--population", type=int, nargs="*", default=None,
                        help="population sizes P (default 16 64 on cpu, 64 256 on cuda; none: skip)")
    parser.add_argument("--population-trials", type=int, default=None, help="trials of each population arm "
                        "(default: the largest P)")
    parser.add_argument("--solo-trials", type=int, default=None, help="trials of the one-by-one arm (default: "
                        "as many as a population arm, the same configurations; at most 32 on cuda)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda: where the population comparison trains")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainer-bench", action="store_true", help="also run bench/scale_population.py")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    sizes = args.population if args.population is not None else ([64, 256] if cuda else [16, 64])
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f}", flush=True)
    headline: dict = {"bench": "scale", "seed": args.seed, "cores": os.cpu_count(), "load_average_at_start": round(load, 2)}
    with tempfile.TemporaryDirectory() as tmp:
        if args.workers:
            headline.update(_workers_section(args, Path(tmp) / "workers"))
        if sizes:
            trials = args.population_trials or max(sizes)
            solo = args.solo_trials or (min(trials, 32) if cuda else trials)
            section = population_arms(sizes, trials, solo, args.seed, args.device, Path(tmp) / "population")
            headline["population_mode"] = section
            headline.update({f"speedup_population_P{r['P']}": r["speedup"] for r in section["arms"]})
    if args.trainer_bench:
        headline["population_trainer"] = trainer_bench(args.device)
    print(json.dumps(headline))
    return headline


def _workers_section(args: argparse.Namespace, runs_dir: Path) -> dict:
    rows = []
    for workers in args.workers:
        rows.append(workers_arm(workers, args.trials, args.seed, runs_dir))
        _say(f"workers {workers}", rows[-1])
    base = rows[0]
    return {
        "trials": args.trials,
        **{f"trials_per_minute_workers_{r['workers']}": r["trials_per_minute"] for r in rows},
        **{f"wall_s_workers_{r['workers']}": r["wall_s"] for r in rows},
        **{f"speedup_workers_{r['workers']}": round(r["trials_per_minute"] / base["trials_per_minute"], 2)
           for r in rows[1:]},
        "same_configs_in_every_arm": all(r["configs"] == base["configs"] for r in rows),
        "best_val_loss": {str(r["workers"]): r["best_val_loss"] for r in rows},
    }


def _say(arm: str, row: dict, speedup: float | None = None) -> None:
    print(f"{arm:>18}  trials {row['trials']:3d}  search {row['search_s']:7.1f} s  "
          f"{row['trials_per_minute']:7.2f} trials/min  wall {row['wall_s']:7.1f} s  best val loss "
          f"{row['best_val_loss']:.4f}  epochs {row['epochs']}" + ("" if speedup is None else f"  {speedup:.2f}x"),
          flush=True)


def _public(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("configs", "val_accuracy")}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.mean(values), 4) if values else None


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
