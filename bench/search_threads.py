"""How long a Bayes suggestion takes with BLAS pinned to one thread and with NumPy's default, on an
idle machine and with cores kept busy (as when trial workers train beside the driver).

Design: a 7-D space (LCBench's shape: lr and weight decay on log axes, momentum, dropout, batch
size and width as integers, depth as a choice), 35 completed trials of a smooth synthetic loss,
one suggestion timed per repeat (median of ``--repeats``). The busy case starts ``--busy`` processes
that spin on Python arithmetic for the whole measurement. Both settings are timed interleaved in
the same process so machine noise hits them alike. Issue 17 measured 39 ms idle, 141 ms with one
core busy unpinned, 39 ms pinned.

Run: ``.venv/bin/python bench/search_threads.py [--repeats 15] [--busy 1]``; prints a table and
writes ``bench/results/search_threads.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info

from knobs.search import Bayes
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

RESULTS = Path(__file__).parent / "results" / "search_threads.json"


def _space() -> Space:
    return Space({"lr": Float(1e-4, 1e-1, log=True), "weight_decay": Float(1e-6, 1e-1, log=True),
                  "momentum": Float(0.1, 0.99), "dropout": Float(0.0, 0.8), "batch_size": Int(16, 512, log=True),
                  "width": Int(64, 1024, log=True), "depth": Choice([1, 2, 3, 4, 5])})


def _trials(space: Space, n: int, seed: int) -> list[FrozenTrial]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        u = rng.random(len(space))
        config = space.from_unit(u)
        loss = float(np.sum((u - 0.3) ** 2) + 0.05 * rng.standard_normal())
        out.append(FrozenTrial(number=i, config=config, state=TrialState.COMPLETE, value=loss))
    return out


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        x = (x * 31 + 7) % 1_000_003


def _time(space: Space, trials: list[FrozenTrial], threads: int | None, seed: int) -> float:
    sampler = Bayes(seed=seed, blas_threads=threads)
    start = time.perf_counter()
    sampler.suggest(space, trials, 1)
    return (time.perf_counter() - start) * 1000


def measure(repeats: int, busy: int, n_trials: int) -> dict:
    space = _space()
    trials = _trials(space, n_trials, 0)
    _time(space, trials, 1, 0)  # warm imports and the threadpool controller
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    try:
        pinned, free = [], []
        for r in range(repeats):
            pinned.append(_time(space, trials, 1, r))
            free.append(_time(space, trials, None, r))
    finally:
        stop.set()
        for p in spinners:
            p.join()
    return {"busy_processes": busy, "pinned_ms": statistics.median(pinned), "default_ms": statistics.median(free)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--busy", type=int, default=1, help="spinning processes in the busy case")
    parser.add_argument("--trials", type=int, default=35)
    args = parser.parse_args()
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    rows = [measure(args.repeats, 0, args.trials), measure(args.repeats, args.busy, args.trials)]
    print(f"Bayes suggestion, 7-D, {args.trials} trials; {os.cpu_count()} cores; "
          f"BLAS {blas[0]['internal_api']} with {blas[0]['num_threads']} threads by default")
    print(f"{'machine':<22}{'pinned (1 thread)':>20}{'NumPy default':>16}")
    for row in rows:
        label = "idle" if row["busy_processes"] == 0 else f"{row['busy_processes']} core(s) busy"
        print(f"{label:<22}{row['pinned_ms']:>17.1f} ms{row['default_ms']:>13.1f} ms")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": os.cpu_count(), "blas": blas[0]["internal_api"],
                                   "default_threads": blas[0]["num_threads"], "trials": args.trials,
                                   "rows": rows}, indent=2))
    print(json.dumps({"search_threads": rows}))


if __name__ == "__main__":
    main()
