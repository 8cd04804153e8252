"""ASHA against no pruning on the digits MLP search that ``knobs run`` performs.

Both arms run the real pipeline (``knobs tune``: data, vault, preflight, the study with its
TrialObjective and early stopping) with the same random sampler and seed, so they propose the
same configurations in the same order; the only difference is ``search.pruner``. Random (not
Bayes) keeps the comparison about the pruner: with Bayes the later proposals would depend on
which trials were pruned.

Figures per seed: total training epochs over all trials (a pruned trial counts the epochs it
ran, its last reported step), best validation accuracy among the trials that completed, wall
time. Targets (issue 4): best validation accuracy within 0.5 points of no pruning, with at
least 2x fewer epochs in total.

Run: ``.venv/bin/python bench/prune.py [--seeds 3] [--trials 40]``. It prints a table, writes
bench/results/prune.json, and its last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from knobs import Study
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.trial import TrialState

RESULTS = Path(__file__).resolve().parent / "results" / "prune.json"


def one_arm(pruner: str, seed: int, trials: int, runs_dir: Path, source: dict | None = None,
            label: str = "digits", final_test: bool = False) -> dict:
    """One ``knobs tune`` search with ``pruner`` on ``source`` (config keys; default: the built-in
    digits): its epochs, best validation accuracy, trials kept and pruned, wall time; with
    ``final_test`` (``knobs run``) also the best trial's test accuracy (the vault opened once)."""
    cfg = load_config(None, {
        "name": f"{label}-{pruner}-{seed}", "runs_dir": str(runs_dir), "seed": seed, **(source or {}),
        "search.sampler": "random", "search.pruner": pruner, "search.n_trials": trials,
        "search.metric": "val_accuracy", "ensemble.enabled": False,
    })
    start = time.perf_counter()
    result = run(cfg, display=Display(quiet=True), final_test=final_test)
    wall = time.perf_counter() - start
    study = Study.load(f"sqlite:///{result.path / 'study.db'}")
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    complete = [t for t in finished if t.state == TrialState.COMPLETE]
    return {
        "data": label, "pruner": pruner, "seed": seed,
        "epochs": sum(t.last_step or 0 for t in finished),
        "best_val_accuracy": max(t.value for t in complete),
        "complete": len(complete), "pruned": len(finished) - len(complete),
        "wall_s": round(wall, 1),
        **({"test_accuracy": result.summary["test"]["accuracy"]} if final_test else {}),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for pruner in ("none", "asha"):
                rows.append(one_arm(pruner, seed, args.trials, Path(tmp)))
                r = rows[-1]
                print(f"seed {seed}  {pruner:5s}  epochs {r['epochs']:5d}  best val acc "
                      f"{r['best_val_accuracy']:.4f}  complete {r['complete']:3d}  pruned "
                      f"{r['pruned']:3d}  {r['wall_s']:6.1f} s", flush=True)
    by = {p: [r for r in rows if r["pruner"] == p] for p in ("none", "asha")}
    ratios = [n["epochs"] / a["epochs"] for n, a in zip(by["none"], by["asha"])]
    gaps = [100 * (n["best_val_accuracy"] - a["best_val_accuracy"]) for n, a in zip(by["none"], by["asha"])]
    headline = {
        "bench": "prune", "seeds": args.seeds, "trials": args.trials,
        "epochs_none": [r["epochs"] for r in by["none"]], "epochs_asha": [r["epochs"] for r in by["asha"]],
        "epoch_ratio_mean": round(statistics.mean(ratios), 2), "epoch_ratio_min": round(min(ratios), 2),
        "best_val_acc_none": [round(r["best_val_accuracy"], 4) for r in by["none"]],
        "best_val_acc_asha": [round(r["best_val_accuracy"], 4) for r in by["asha"]],
        "acc_gap_points_mean": round(statistics.mean(gaps), 2), "acc_gap_points_max": round(max(gaps), 2),
        "wall_s_none": [r["wall_s"] for r in by["none"]], "wall_s_asha": [r["wall_s"] for r in by["asha"]],
    }
    print(f"\nASHA vs none: {headline['epoch_ratio_mean']}x fewer epochs (min {headline['epoch_ratio_min']}x), "
          f"best val accuracy {headline['acc_gap_points_mean']:+.2f} points lower on average "
          f"(worst {headline['acc_gap_points_max']:+.2f})")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"headline": headline, "rows": rows}, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
