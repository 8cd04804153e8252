"""Population mode against one trial at a time on the digits MLP search: trials per hour.

Both arms train the same configurations of the digits search with the architecture fixed (a
64→256→256→10 MLP: width 256, depth 2) and the training knobs drawn by a seeded random sampler
(lr, weight decay, dropout, adam/adamw), on the same split and standardization as ``knobs run``,
30 epochs, batch 64, without early stopping so that every trial does the same work. The
one-at-a-time arm is ``knobs.train.Trainer`` per trial (seed s, as a pipeline trial); the
population arm is ``knobs.population.train_population`` over all P configurations. The
one-at-a-time arm runs a few of the configurations (its cost per trial does not depend on P) and
its trials per hour are 3600 / seconds per trial; the population arm's are 3600·P / seconds.
Both arms are warmed up first (the first torch.optim call imports torch._dynamo, seconds).

As a check that the speed is not bought with other results, the mean best validation accuracy
of the configurations both arms trained is reported for each (equal in law; dropout masks are
drawn differently, the rest is the same computation).

Defaults: CPU, one thread, P = 16 and 64 (a few minutes on a free core); ``--device cuda``:
P = 64 and 256 (the target there: at least 50x the trials per hour of one at a time at 256).

Run: ``.venv/bin/python bench/scale_population.py [--device cuda] [--sizes 16 64] [--sequential 4]``.
It prints a table; its last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Sequence

import numpy as np
import torch

import knobs
from knobs.data import Standardizer, load_dataset, split
from knobs.models import build_model
from knobs.population import train_population
from knobs.train import Trainer

ARCH = {"width": 256, "depth": 2}
EPOCHS, BATCH = 30, 64
SPACE = knobs.Space({
    "lr": knobs.Float(3e-4, 3e-2, log=True),
    "weight_decay": knobs.Float(1e-6, 1e-2, log=True),
    "dropout": knobs.Float(0.0, 0.4),
    "optimizer": knobs.Choice(["adam", "adamw"]),
})


def digits() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The ``knobs run`` digits data: stratified split (seed 0), standardized with train statistics."""
    splits = split(load_dataset("digits"), val=0.15, test=0.15, seed=0)
    scaler = Standardizer("feature").fit(splits.train[0])

    def pair(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(scaler.transform(X), dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)

    return pair(*splits.train), pair(*splits.val)


def configs(n: int) -> list[dict[str, Any]]:
    return knobs.search.Random(seed=0).suggest(SPACE, [], n)


def one_at_a_time(config: dict, seed: int, train, val, device: str, epochs: int = EPOCHS) -> tuple[float, float]:
    """(seconds, best val accuracy) of one trial trained alone."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model("mlp", input_shape=(64,), n_classes=10, **ARCH, dropout=config["dropout"])
    trainer = Trainer(optimizer=config["optimizer"], lr=config["lr"], weight_decay=config["weight_decay"],
                      epochs=epochs, batch_size=BATCH, seed=seed, device=device)
    history = trainer.fit(model, train, val)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, max(history.column("val_accuracy"))


def population(members: list[dict], train, val, device: str, epochs: int = EPOCHS) -> tuple[float, list[float]]:
    """(seconds, best val accuracy per member) of all members trained together."""
    start = time.perf_counter()
    results = train_population("mlp", ARCH, members, train, val, epochs=epochs, batch_size=BATCH, seed=0,
                               device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, [max(r.history.column("val_accuracy")) for r in results]


def run(device: str = "cpu", sizes: Sequence[int] | None = None, sequential: int | None = None) -> dict:
    """Measure both arms; returns the figures (see the module docstring)."""
    cuda = device.startswith("cuda")
    sizes = list(sizes or ((64, 256) if cuda else (16, 64)))
    sequential = sequential or (8 if cuda else 4)
    if not cuda:
        torch.set_num_threads(1)
    train, val = digits()
    pool = configs(max(sizes))
    one_at_a_time(pool[0], 0, train, val, device, epochs=1)  # warm-up: lazy imports, kernels
    population(pool[:2], train, val, device, epochs=1)
    solo = [one_at_a_time(c, i, train, val, device) for i, c in enumerate(pool[:sequential])]
    solo_s = statistics.mean(s for s, _ in solo)
    rows = []
    for P in sizes:
        seconds, accuracy = population(pool[:P], train, val, device)
        shared = min(P, sequential)
        rows.append({
            "P": P, "seconds": round(seconds, 2), "seconds_per_trial": round(seconds / P, 4),
            "trials_per_hour": round(3600 * P / seconds, 1), "speedup": round(solo_s * P / seconds, 2),
            "best_val_acc_mean": round(statistics.mean(accuracy[:shared]), 4),
        })
    return {
        "bench": "scale_population", "device": device, "device_name": _device_name(device),
        "threads": torch.get_num_threads(), "epochs": EPOCHS, "batch_size": BATCH, "model": "mlp 64-256-256-10",
        "one_at_a_time_seconds_per_trial": round(solo_s, 3),
        "one_at_a_time_trials_per_hour": round(3600 / solo_s, 1),
        "one_at_a_time_best_val_acc_mean": round(statistics.mean(a for _, a in solo), 4),
        "one_at_a_time_trials_measured": sequential,
        "population": rows,
        **{f"speedup_P{r['P']}": r["speedup"] for r in rows},
        **{f"population_trials_per_hour_P{r['P']}": r["trials_per_hour"] for r in rows},
    }


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="population sizes P")
    parser.add_argument("--sequential", type=int, default=None, help="trials the one-at-a-time arm runs")
    args = parser.parse_args(argv)
    figures = run(args.device, args.sizes, args.sequential)
    print(f"digits MLP 64-256-256-10, {EPOCHS} epochs, batch {BATCH}, {figures['device_name']} "
          f"({figures['device']}, {figures['threads']} thread(s))")
    print(f"{'arm':>16} {'s/trial':>9} {'trials/h':>10} {'speedup':>8} {'best val acc':>13}")
    print(f"{'one at a time':>16} {figures['one_at_a_time_seconds_per_trial']:>9.3f} "
          f"{figures['one_at_a_time_trials_per_hour']:>10.0f} {1.0:>8.2f} "
          f"{figures['one_at_a_time_best_val_acc_mean']:>13.4f}")
    for r in figures["population"]:
        print(f"{'population P=' + str(r['P']):>16} {r['seconds_per_trial']:>9.3f} {r['trials_per_hour']:>10.0f} "
              f"{r['speedup']:>8.2f} {r['best_val_acc_mean']:>13.4f}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
