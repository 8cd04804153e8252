"""k-fold cross-validation in `knobs run` on small data: how well each mode's validation estimate
predicts the sealed test result, and what the refit on every non-test row gains.

Design. Per seed, 30 random rows of each digit (300 rows, 64 features) are written to a CSV and
run twice through ``knobs.pipeline.run`` with one fixed configuration (MLP, 64 hidden units, Adam
lr 3e-3, batch 32, up to 100 epochs, early stopping with patience 10 on validation loss; one
trial, no ensemble, no preflight), so the search takes no part and only the data discipline
differs:

    single   one stratified split: test 30% sealed, validation 20%, training 50% (150 rows);
             the estimate is the validation score of the trained model, which is the final model
    folds    data.folds = 5: the same test rows sealed, the other 210 rows dealt into 5 stratified
             folds (each trains on 168 rows, validates on 42, preprocessing fitted per fold); the
             estimate is the mean ± std over folds; the final model is refit on all 210 rows for
             the median of the folds' best epochs

Both runs open their vault once. Reported per mode, over seeds: the estimate, the test result,
the absolute gap |estimate - test| (accuracy and log loss), the signed gap estimate - test of the
accuracy (> 0: the estimate was optimistic) and its standard deviation over seeds (how far one
run's estimate can be trusted), and the wall time of the run.

Run: ``.venv/bin/python bench/data_kfold.py [--seeds 3]``. It prints the table; the last line is
one JSON object with the figures (``run(seeds)`` returns the same dict).
"""

from __future__ import annotations

import csv
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from knobs.config import load_config
from knobs.data import load_builtin
from knobs.pipeline import Display, run as knobs_run
from _seeded import seeded_main

PER_CLASS, K = 30, 5
BASE = {
    "search.n_trials": 1, "search.sampler": "random",
    "search.space": {"lr": {"choices": [3e-3]}, "width": 64, "depth": 1, "dropout": 0.0, "optimizer": "adam"},
    "train.epochs": 100, "train.patience": 10, "train.batch_size": 32, "train.threads": 1,
    "checks.initial_loss": False, "checks.overfit_tiny": False, "checks.data": False,
    "ensemble.enabled": False, "data.test": 0.3, "data.target": "label",
}
MODES = {"single": {"data.val": 0.2}, "folds": {"data.folds": K}}


def small_digits(path: Path, seed: int) -> Path:
    """``PER_CLASS`` random rows of each digit, as a CSV with columns p0..p63 and label."""
    ds = load_builtin("digits")
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(np.flatnonzero(ds.y == c), PER_CLASS, replace=False) for c in range(10)])
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*(f"p{j}" for j in range(ds.X.shape[1])), "label"])
        for i in rows:
            writer.writerow([*(f"{v:g}" for v in ds.X[i]), int(ds.y[i])])
    return path


def one_run(mode: str, source: Path, runs_dir: Path, seed: int) -> dict:
    cfg = load_config(None, {**BASE, **MODES[mode], "data.source": str(source), "seed": seed,
                             "runs_dir": str(runs_dir), "name": f"{mode}-{seed}"})
    start = time.perf_counter()
    summary = knobs_run(cfg, display=Display(console=Console(file=io.StringIO()), quiet=True)).summary
    seconds = time.perf_counter() - start
    if mode == "folds":
        cv = summary["cv"]
        estimate = {"accuracy": cv["mean"]["val_accuracy"], "loss": cv["mean"]["val_loss"],
                    "accuracy_std": cv["std"]["val_accuracy"], "loss_std": cv["std"]["val_loss"]}
    else:
        best = summary["best_trial"]
        estimate = {"accuracy": best["val_accuracy"], "loss": best["val_loss"]}
    test = summary["test"]
    assert summary["vault"]["openings"] == 1
    return {"estimate": estimate, "test": {"accuracy": test["accuracy"], "loss": test["log_loss"]},
            "gap": {m: abs(estimate[m] - test[m]) for m in ("accuracy", "loss")},
            "optimism": {m: estimate[m] - test[m] for m in ("accuracy", "loss")},
            "seconds": round(seconds, 1), "train_rows": (summary.get("refit") or {}).get("rows")}


def run(seeds: int = 3) -> dict:
    """Both modes over ``seeds`` seeds; per-seed figures and their means."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    per_seed = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            source = small_digits(Path(tmp) / f"digits-{seed}.csv", seed)
            per_seed.append({mode: one_run(mode, source, Path(tmp) / "runs", seed) for mode in MODES})
    summary = {}
    for mode in MODES:
        rows = [s[mode] for s in per_seed]
        summary[mode] = {
            "estimate_accuracy": _mean(r["estimate"]["accuracy"] for r in rows),
            "test_accuracy": _mean(r["test"]["accuracy"] for r in rows),
            "gap_accuracy": _mean(r["gap"]["accuracy"] for r in rows),
            "optimism_accuracy": _mean(r["optimism"]["accuracy"] for r in rows),
            "optimism_accuracy_sd": round(statistics.stdev(r["optimism"]["accuracy"] for r in rows), 4)
            if len(rows) > 1 else 0.0,
            "estimate_loss": _mean(r["estimate"]["loss"] for r in rows),
            "test_loss": _mean(r["test"]["loss"] for r in rows),
            "gap_loss": _mean(r["gap"]["loss"] for r in rows),
            "seconds": _mean(r["seconds"] for r in rows),
            "per_seed": rows,
        }
    summary["folds"]["fold_std_accuracy"] = _mean(s["folds"]["estimate"]["accuracy_std"] for s in per_seed)
    return {"bench": "data_kfold", "seeds": seeds, "k": K,
            "data": f"digits, {PER_CLASS} rows per class (300), test 30% sealed",
            "modes": summary, "wall_s": round(time.perf_counter() - start, 1)}


def _mean(values) -> float:
    return round(statistics.fmean(values), 4)


def table(result: dict) -> str:
    lines = [f"{result['data']}; mean over {result['seeds']} seeds",
             f"{'mode':8s} {'est acc':>8s} {'test acc':>9s} {'|gap|':>7s} {'est-test':>9s} {'± sd':>7s} "
             f"{'est loss':>9s} {'test loss':>10s} {'|gap|':>7s} {'s/run':>6s}"]
    for mode, v in result["modes"].items():
        lines.append(f"{mode:8s} {v['estimate_accuracy']:8.4f} {v['test_accuracy']:9.4f} {v['gap_accuracy']:7.4f} "
                     f"{v['optimism_accuracy']:+9.4f} {v['optimism_accuracy_sd']:7.4f} {v['estimate_loss']:9.4f} {v['test_loss']:10.4f} {v['gap_loss']:7.4f} {v['seconds']:6.1f}")
    lines.append(f"fold std of val accuracy (mean over seeds): {result['modes']['folds']['fold_std_accuracy']:.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    return seeded_main(__doc__, run, table, argv)


if __name__ == "__main__":
    main()
