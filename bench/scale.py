"""Local worker processes against one on the digits MLP search that ``knobs tune`` performs.

Each arm runs the real pipeline (``knobs tune``: data, vault, preflight, the study with its
TrialObjective and early stopping) with the same random sampler and seed; only
``search.workers`` differs. Workers share the study's one seeded sampler sequence (a config is
claimed only if its sampler saw every trial before it), so every arm trains the very same
configurations and the comparison is about throughput alone.

Figures per arm: trials per minute over the search (first trial start to last trial end, from
the study's own timestamps), the whole command's wall time (data, preflight and worker start-up
included), the best validation loss (equal across arms: same configs, seeded trials), and
whether the arms' configurations were identical. Each worker is one process with one torch
thread, so N workers need N free cores to go N times faster; the load average at the start is
printed because this machine may be shared.

If ``bench/scale_population.py`` is present, its ``run()`` figures (population mode: many
configurations trained as one batched model) are included under ``"population"``.

Run: ``.venv/bin/python bench/scale.py [--trials 20] [--workers 1 2] [--skip-population]``.
It prints a table; its last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from knobs import Study
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.trial import TrialState

HERE = Path(__file__).resolve().parent


def one_arm(workers: int, trials: int, seed: int, runs_dir: Path) -> dict:
    cfg = load_config(None, {
        "name": f"workers-{workers}", "runs_dir": str(runs_dir), "seed": seed,
        "search.sampler": "random", "search.n_trials": trials, "search.workers": workers,
        "ensemble.enabled": False,
    })
    start = time.perf_counter()
    result = run(cfg, display=Display(quiet=True), final_test=False)
    wall = time.perf_counter() - start
    study = Study.load(f"sqlite:///{result.path / 'study.db'}", "search")
    done = [t for t in study.trials if t.state.finished]
    span = max(t.finished_at for t in done) - min(t.started_at for t in done)
    complete = [t for t in done if t.state is TrialState.COMPLETE]
    return {
        "workers": workers, "trials": len(done), "search_s": round(span, 1), "wall_s": round(wall, 1),
        "trials_per_minute": round(60.0 * len(done) / span, 2),
        "best_val_loss": round(min(t.value for t in complete), 4),
        "epochs": sum(t.attrs.get("epochs_run") or 0 for t in done),
        "configs": [t.config for t in sorted(done, key=lambda t: t.number)],
    }


def population_figures() -> dict | None:
    """``bench/scale_population.py``'s ``run()``, when that bench exists."""
    path = HERE / "scale_population.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("scale_population", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-population", action="store_true", help="do not run bench/scale_population.py")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average at start: {load:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            rows.append(one_arm(workers, args.trials, args.seed, Path(tmp)))
            r = rows[-1]
            print(f"workers {workers:2d}  trials {r['trials']:3d}  search {r['search_s']:7.1f} s  "
                  f"{r['trials_per_minute']:6.2f} trials/min  wall {r['wall_s']:7.1f} s  "
                  f"best val loss {r['best_val_loss']:.4f}  epochs {r['epochs']}", flush=True)
    base = rows[0]
    headline = {
        "bench": "scale", "trials": args.trials, "seed": args.seed, "cores": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        **{f"trials_per_minute_workers_{r['workers']}": r["trials_per_minute"] for r in rows},
        **{f"wall_s_workers_{r['workers']}": r["wall_s"] for r in rows},
        **{f"speedup_workers_{r['workers']}": round(r["trials_per_minute"] / base["trials_per_minute"], 2)
           for r in rows[1:]},
        "same_configs_in_every_arm": all(r["configs"] == base["configs"] for r in rows),
        "best_val_loss": {str(r["workers"]): r["best_val_loss"] for r in rows},
    }
    if not args.skip_population:
        population = population_figures()
        if population is not None:
            headline["population"] = population
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
