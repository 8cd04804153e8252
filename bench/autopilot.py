"""`knobs run --autopilot` on deliberately mistuned digits configurations.

What is measured, for each setup and seed: the same run twice — without and with the autopilot.
The seeds are the same, so the two searches are identical trial for trial; the run without the
autopilot is the "before". Reported: the validation metric (val_loss) where the autopilot started
and where it ended, the steps it trained and kept (with the changes kept), and the test accuracy
and test loss of each run's final model (single or ensemble, as the run chose; the vault of each
run is opened once).

Setups (all digits, 4 search trials, at most 4 autopilot steps):

- ``lr_too_low``: Adam with the learning rate fixed at 1e-5, 100x below its usual 1e-3;
- ``too_small``: an MLP with one hidden layer of 3 units;
- ``overfit``: a 512-wide, 3-deep MLP without regularization on 10% of the rows (179 training rows);
- ``lr_too_high``: Adam with the learning rate fixed at 0.05;
- ``noisy``: plain SGD at batch size 1 and lr 0.05 (issue 18's missed case: the loss dominated by
  minibatch noise), 10 epochs — the noisy-loss remedy: a larger batch (the one the gradient noise
  scale suggests, else twice the batch) with the LR by the square-root rule;
- ``noisy_adam``: Adam at lr 0.01 and batch 4; ``noisy_sgd``: plain SGD at lr 0.2 and batch 4 — both
  diagnosed ``noisy_loss`` with a measured noise scale, so the batch moves to the power of two nearest
  B_simple (the SGD LR by the square-root rule, capped under the stability edge);
- ``lr_too_high_sgd``: plain SGD at lr 2.0, batch 32 — with a measured top Hessian eigenvalue λ the
  remedy is an LR just under 2/λ, else the 1/10 step.

``--setups noisy lr_too_high_sgd`` runs only those; every step's code, change, verdict and paired
gain ± se is kept in the rows (``steps_detail``).

``torch.set_num_threads(1)``. Run: ``.venv/bin/python bench/autopilot.py [--seeds 3]``. The last
printed line is one JSON object; bench/results/autopilot.json keeps every row.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from knobs.config import load_config
from knobs.pipeline import Display, run

RESULTS = Path(__file__).resolve().parent / "results" / "autopilot.json"

BASE = {"search.sampler": "random", "search.n_trials": 4, "train.patience": 5, "autopilot.max_steps": 4}
SETUPS = {
    "lr_too_low": {"train.epochs": 20, "search.space": {"lr": 1e-5, "optimizer": "adam", "depth": 1,
                                                        "width": {"low": 32, "high": 64, "log": True, "type": "int"}}},
    "too_small": {"train.epochs": 30, "search.space": {"lr": {"low": 2e-3, "high": 4e-3, "log": True},
                                                       "optimizer": "adam", "width": 3, "depth": 1}},
    "overfit": {"train.epochs": 40, "train.patience": 8, "data.val": 0.45, "data.test": 0.45,
                "search.space": {"lr": {"low": 1e-3, "high": 2e-3, "log": True}, "optimizer": "adam",
                                 "width": 512, "depth": 3}},
    "lr_too_high": {"train.epochs": 20, "search.space": {"lr": 0.05, "optimizer": "adam", "depth": 2,
                                                         "width": {"low": 64, "high": 128, "log": True, "type": "int"}}},
    "noisy": {"train.epochs": 10, "search.n_trials": 2,
              "search.space": {"lr": 0.05, "optimizer": "sgd", "batch_size": 1, "depth": 1,
                               "width": {"low": 64, "high": 128, "log": True, "type": "int"}}},
    "noisy_adam": {"train.epochs": 10, "search.n_trials": 2,
                   "search.space": {"lr": 0.01, "optimizer": "adam", "batch_size": 4, "depth": 1,
                                    "width": {"low": 64, "high": 128, "log": True, "type": "int"}}},
    "noisy_sgd": {"train.epochs": 10, "search.n_trials": 2,
                  "search.space": {"lr": 0.2, "optimizer": "sgd", "batch_size": 4, "depth": 1,
                                   "width": {"low": 64, "high": 128, "log": True, "type": "int"}}},
    "lr_too_high_sgd": {"train.epochs": 20, "search.space": {"lr": 2.0, "optimizer": "sgd", "batch_size": 32, "depth": 2,
                                                             "width": {"low": 64, "high": 128, "log": True,
                                                                       "type": "int"}}},
}


def one(name: str, seed: int, autopilot: bool, runs_dir: str) -> dict:
    overrides = {**BASE, **SETUPS[name], "seed": seed, "runs_dir": runs_dir,
                 "name": f"{name}-{seed}-{'ap' if autopilot else 'plain'}", "autopilot.enabled": autopilot}
    start = time.perf_counter()
    silent = Display(console=Console(file=io.StringIO()), quiet=True)  # the table below is the output
    summary = run(load_config(None, overrides), display=silent).summary
    return {"summary": summary, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--setups", nargs="*", default=list(SETUPS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        one("too_small", 99, False, tmp)  # warm-up: imports and first-call costs stay out of the timings
        for name in args.setups:
            for seed in range(args.seeds):
                plain, ap = one(name, seed, False, tmp), one(name, seed, True, tmp)
                pilot = ap["summary"]["autopilot"]
                rows.append({
                    "setup": name, "seed": seed,
                    "val_before": pilot["start"]["value"], "val_after": pilot["end"]["value"],
                    "val_acc_before": pilot["start"]["val_accuracy"], "val_acc_after": pilot["end"]["val_accuracy"],
                    "steps": pilot["n_steps"], "kept": pilot["n_kept"], "kept_changes": pilot["kept_changes"],
                    "tried": [f"{s['code']}: {s['change']} ({s['outcome']})" for s in pilot["steps"]],
                    "steps_detail": [{k: s.get(k) for k in ("code", "change", "outcome", "gain", "se", "margin",
                                                            "value_before", "value_after", "found")}
                                     for s in pilot["steps"]],
                    "first_round": (pilot.get("rounds") or [{}])[0],
                    "stopped": pilot["stopped"],
                    "test_acc_plain": plain["summary"]["test"]["accuracy"], "test_acc_autopilot": ap["summary"]["test"]["accuracy"],
                    "test_loss_plain": plain["summary"]["test"]["log_loss"], "test_loss_autopilot": ap["summary"]["test"]["log_loss"],
                    "seconds_plain": round(plain["seconds"], 1), "seconds_autopilot": round(ap["seconds"], 1)})
    print()
    print(f"{'setup':12s} {'seed':>4s}  {'val_loss start→end':>20s} {'val acc start→end':>18s} {'kept':>6s}  "
          f"{'test acc plain→autopilot':>25s} {'s plain/ap':>11s}  kept changes")
    for r in rows:
        print(f"{r['setup']:12s} {r['seed']:4d}  {r['val_before']:9.4f} → {r['val_after']:7.4f} "
              f"{r['val_acc_before']:8.4f} → {r['val_acc_after']:.4f} {r['kept']:2d}/{r['steps']:<3d}  "
              f"{r['test_acc_plain']:11.4f} → {r['test_acc_autopilot']:.4f}   {r['seconds_plain']:5.1f}/{r['seconds_autopilot']:<5.1f}  "
              f"{'; '.join(r['kept_changes']) or '–'} ({r['stopped']})")
    means = {}
    for name in args.setups:
        mine = [r for r in rows if r["setup"] == name]
        means[name] = {k: round(statistics.mean(r[k] for r in mine), 4)
                       for k in ("val_before", "val_after", "test_acc_plain", "test_acc_autopilot", "kept", "steps",
                                 "seconds_plain", "seconds_autopilot")}
    RESULTS.parent.mkdir(exist_ok=True)
    out = RESULTS if set(args.setups) == set(SETUPS) else RESULTS.with_name(f"autopilot_{'_'.join(args.setups)}.json")
    out.write_text(json.dumps({"rows": rows, "means": means}, indent=2))
    print(json.dumps({"seeds": args.seeds, "means": means}))


if __name__ == "__main__":
    main()
