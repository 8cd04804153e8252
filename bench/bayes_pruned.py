"""Bayes against Random with a pruner on, on the digits MLP search that ``knobs tune`` performs.

Why: Bayes fitted its GP on complete trials only; with ASHA nearly every trial ends pruned, so it
stayed in its Sobol design (a real study: 24 trials, 1 complete, the GP fitted 0 times). It now
learns from what pruned trials reported (``knobs.search._history``: BOHB's model step, TPE's ranks).
Each arm runs the real pipeline (data, vault, preflight, the study, TrialObjective with early
stopping) with ``search.sampler`` random or bayes and ``search.pruner`` asha or hyperband; the
Bayes+Hyperband arm is model-based Hyperband (BOHB's idea: the model proposes, brackets judge).

A third arm, ``bayes-complete-only``, is the Bayes of before (its GP fed complete trials only).
Figures per arm and seed: epochs trained over all trials (a pruned trial counts its last step);
the best validation value among complete trials, at the end and at equal epochs (the best found
by the time the arm had trained as many epochs as the cheaper of the two samplers did in all,
same seed and pruner); the GP fits (``Bayes._fit`` calls) and complete / pruned counts.

Run: ``nice -n 10 .venv/bin/python bench/bayes_pruned.py [--seeds 5] [--trials 40]
[--metric val_loss] [--out FILE]``; prints a table, writes bench/results/bayes_pruned.json, and its last line
is one JSON object.

``--synthetic``: no training, minutes instead of an hour. Curves that cross in a 4-D box (the final loss a
weighted squared distance to a seeded optimum; the first axis sets how fast a curve falls, as a learning
rate does, so early values mislead), 27 steps, under Hyperband(1, 27, 3); samplers random, bayes (BOHB's
model step + TPE's ranks, ``knobs.search._history``) and ``bayes-bohb-strict`` (BOHB as published: the
model sees only the observations at its budget, pruned trials below it are left out). Figures per sampler:
the mean final best over seeds and the best at equal epochs against random.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from knobs import Study
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.search import Bayes, _bayes
from knobs.search._base import completed_losses
from knobs.trial import TrialState

RESULTS = Path(__file__).resolve().parent / "results" / "bayes_pruned.json"
SAMPLERS, PRUNERS = ("random", "bayes", "bayes-complete-only"), ("asha", "hyperband")


class _CompleteOnly:
    """The Bayes of before: its GP fed complete trials only (``completed_losses``), for comparison."""

    def __enter__(self) -> None:
        self._history = _bayes.model_history
        _bayes.model_history = lambda trials, direction, space, needed: completed_losses(trials, direction, space)

    def __exit__(self, *exc) -> None:
        _bayes.model_history = self._history


class _FitCounter:
    """Counts ``Bayes._fit`` calls in this process (the GP fitted, not the design)."""

    def __init__(self) -> None:
        self.count, self._fit = 0, Bayes._fit

    def __enter__(self) -> "_FitCounter":
        counter = self

        def counted(sampler, *args, **kwargs):
            counter.count += 1
            return counter._fit(sampler, *args, **kwargs)

        Bayes._fit = counted
        return self

    def __exit__(self, *exc) -> None:
        Bayes._fit = self._fit


def one_arm(sampler: str, pruner: str, seed: int, trials: int, metric: str, runs_dir: Path) -> dict:
    cfg = load_config(None, {
        "name": f"{sampler}-{pruner}-{seed}", "runs_dir": str(runs_dir), "seed": seed,
        "search.sampler": sampler.split("-")[0], "search.pruner": pruner, "search.n_trials": trials,
        "search.metric": metric, "ensemble.enabled": False,
    })
    start = time.perf_counter()
    with _FitCounter() as fits, (_CompleteOnly() if sampler == "bayes-complete-only" else nullcontext()):
        result = run(cfg, display=Display(quiet=True), final_test=False)
    wall = time.perf_counter() - start
    study = Study.load(f"sqlite:///{result.path / 'study.db'}")
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    sign = -1.0 if metric == "val_accuracy" else 1.0
    # (epochs spent so far, best value so far) after each finished trial, in trial order
    spent, best, path = 0, float("inf"), []
    for t in sorted(finished, key=lambda t: t.number):
        spent += t.last_step or 0
        if t.state == TrialState.COMPLETE:
            best = min(best, sign * t.value)
        path.append((spent, sign * best))
    complete = sum(t.state == TrialState.COMPLETE for t in finished)
    return {"sampler": sampler, "pruner": pruner, "seed": seed, "epochs": spent,
            "best": sign * best, "path": path, "gp_fits": fits.count, "complete": complete,
            "pruned": len(finished) - complete, "wall_s": round(wall, 1)}


def _strict_bohb(trials, direction, space, needed):
    """BOHB's rule alone: the model's step as ``_history`` picks it, and only the trials that reached it."""
    from knobs.search import _history as H

    sign = 1.0 if direction == "minimize" else -1.0
    complete, pruned = [], []
    for t in trials:
        curve = {s: sign * v for s, v in t.intermediate.items() if H._finite(v)}
        if not H._valid(space, t.config):
            continue
        if t.state == TrialState.COMPLETE and H._finite(t.value):
            complete.append((dict(t.config), sign * float(t.value), curve))
        elif t.state == TrialState.PRUNED and curve:
            pruned.append((dict(t.config), curve))
    step = None if len(complete) >= needed else H._model_step([c for _, c in pruned], len(complete), needed)
    if step is None:
        return [(config, loss) for config, loss, _ in complete]
    return ([(c, H._best_until(cv, step) if cv else loss) for c, loss, cv in complete]
            + [(c, H._best_until(cv, step)) for c, cv in pruned if max(cv) >= step])


def synthetic(seeds: int, trials: int) -> dict:
    """Random, Bayes and strict-BOHB Bayes under Hyperband on seeded crossing curves (no training)."""
    import math
    import zlib

    import numpy as np

    import knobs
    from knobs.prune import Hyperband

    space = knobs.Space({f"x{i}": knobs.Float(0.0, 1.0) for i in range(4)})

    def objective_for(seed):
        optimum = np.random.default_rng(seed).uniform(0.15, 0.85, 4)

        def objective(config, trial):
            x = np.array([config[f"x{i}"] for i in range(4)])
            final = float(np.sum((x - optimum) ** 2 * [1.0, 1.0, 0.5, 0.25]))
            noise = np.random.default_rng(zlib.crc32(json.dumps(config, sort_keys=True).encode()))
            for step in range(1, 28):
                value = final + 0.6 * step ** -(0.2 + 1.5 * x[0]) + noise.normal(0, 0.005)
                trial.report(step, value)
            return value
        return objective

    def one(sampler: str, seed: int) -> tuple[int, float, list]:
        history = _bayes.model_history
        if sampler == "bayes-bohb-strict":
            _bayes.model_history = _strict_bohb
        try:
            study = knobs.Study(space, sampler=knobs.search.Random(seed=seed) if sampler == "random" else Bayes(seed=seed),
                                pruner=Hyperband(1, 27, 3))
            study.optimize(objective_for(seed), n_trials=trials)
        finally:
            _bayes.model_history = history
        spent, best, path = 0, math.inf, []
        for t in sorted(study.trials, key=lambda t: t.number):
            spent += t.last_step or 0
            best = min(best, t.value) if t.state == TrialState.COMPLETE else best
            path.append((spent, best))
        return spent, best, path

    runs = {s: [one(s, seed) for seed in range(seeds)] for s in ("random", "bayes", "bayes-bohb-strict")}
    headline = {"bench": "bayes_pruned --synthetic", "seeds": seeds, "trials": trials,
                "random_final_best_mean": round(statistics.mean(r[1] for r in runs["random"]), 4)}
    for s in ("bayes", "bayes-bohb-strict"):
        gains = [best_within(rp, min(re, be), "val_loss") - best_within(bp, min(re, be), "val_loss")
                 for (re, _, rp), (be, _, bp) in zip(runs["random"], runs[s])]
        headline[s] = {"final_best_mean": round(statistics.mean(r[1] for r in runs[s]), 4),
                       "epochs_mean": statistics.mean(r[0] for r in runs[s]),
                       "gain_equal_epochs_mean": round(statistics.mean(gains), 4),
                       "wins_equal_epochs": sum(g > 0 for g in gains)}
        print(f"{s}: final best {headline[s]['final_best_mean']:.4f} (random {headline['random_final_best_mean']:.4f}), "
              f"at equal epochs vs random {headline[s]['gain_equal_epochs_mean']:+.4f}, ahead on "
              f"{headline[s]['wins_equal_epochs']}/{seeds} seeds", flush=True)
    headline["random_epochs_mean"] = statistics.mean(r[0] for r in runs["random"])
    print(json.dumps(headline))
    return headline


def best_within(path: list, epochs: int, metric: str) -> float:
    """The best value found by the time ``epochs`` epochs had been trained (nan if none yet)."""
    values = [b for e, b in path if e <= epochs and b == b and abs(b) != float("inf")]
    if not values:
        return float("nan")
    return max(values) if metric == "val_accuracy" else min(values)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--metric", choices=("val_loss", "val_accuracy"), default="val_loss")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--synthetic", action="store_true", help="crossing synthetic curves, no training")
    args = parser.parse_args(argv)
    if args.synthetic:
        return synthetic(args.seeds, args.trials)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for pruner in PRUNERS:
                for sampler in SAMPLERS:
                    rows.append(one_arm(sampler, pruner, seed, args.trials, args.metric, Path(tmp)))
                    r = rows[-1]
                    print(f"seed {seed}  {sampler:19s}+{pruner:9s} epochs {r['epochs']:5d}  best {args.metric} "
                          f"{r['best']:.4f}  GP fits {r['gp_fits']:3d}  complete {r['complete']:3d}  pruned "
                          f"{r['pruned']:3d}  {r['wall_s']:6.1f} s", flush=True)
    better = 1.0 if args.metric == "val_accuracy" else -1.0  # gain > 0: Bayes better
    headline: dict = {"bench": "bayes_pruned", "seeds": args.seeds, "trials": args.trials, "metric": args.metric}
    for pruner in PRUNERS:
        by = {s: [r for r in rows if r["pruner"] == pruner and r["sampler"] == s] for s in SAMPLERS}
        gains, gains_equal, before = [], [], []
        for rnd, bay, old in zip(by["random"], by["bayes"], by["bayes-complete-only"]):
            before.append(better * (old["best"] - rnd["best"]))
            gains.append(better * (bay["best"] - rnd["best"]))
            budget = min(rnd["epochs"], bay["epochs"])
            gains_equal.append(better * (best_within(bay["path"], budget, args.metric)
                                         - best_within(rnd["path"], budget, args.metric)))
        headline[pruner] = {
            "best_random": [round(r["best"], 4) for r in by["random"]],
            "best_bayes": [round(r["best"], 4) for r in by["bayes"]],
            "best_bayes_complete_only": [round(r["best"], 4) for r in by["bayes-complete-only"]],
            "gain_complete_only_mean": round(statistics.mean(before), 4),
            "gp_fits_complete_only": [r["gp_fits"] for r in by["bayes-complete-only"]],
            "epochs_random": [r["epochs"] for r in by["random"]],
            "epochs_bayes": [r["epochs"] for r in by["bayes"]],
            "gain_mean": round(statistics.mean(gains), 4),
            "gain_sd": round(statistics.stdev(gains), 4) if len(gains) > 1 else 0.0,
            "gain_equal_epochs": [round(g, 4) for g in gains_equal],
            "gain_equal_epochs_mean": round(statistics.mean(gains_equal), 4),
            "bayes_wins_equal_epochs": sum(g > 0 for g in gains_equal),
            "gp_fits_bayes": [r["gp_fits"] for r in by["bayes"]],
            "complete_bayes": [r["complete"] for r in by["bayes"]],
            "wall_s_random": [r["wall_s"] for r in by["random"]],
            "wall_s_bayes": [r["wall_s"] for r in by["bayes"]],
        }
        h = headline[pruner]
        print(f"\nBayes vs Random + {pruner}: gain {h['gain_mean']:+.4f} ± {h['gain_sd']:.4f} (sd over seeds) "
              f"at the end; at equal epochs {h['gain_equal_epochs_mean']:+.4f}, Bayes ahead on "
              f"{h['bayes_wins_equal_epochs']}/{args.seeds} seeds; GP fits {h['gp_fits_bayes']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"headline": headline, "rows": rows}, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
