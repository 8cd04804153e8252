"""Paired screen of ``Bayes._min_distance``: the default Bayes and Bayes with a minimum distance from the
model's points, on the same seeds of the same problems.

Why paired: on a problem like mlp_digits two seeds of one sampler differ by more than the lever can move
the mean, but the two arms of one seed share their Sobol design (the first trials are identical), so the
per-seed difference removes most of that spread. The question (docs/benchmarks.md, "A minimum distance
from evaluated points"): does skipping candidates closer than DELTA fitted lengthscales to an evaluated,
running or just-picked point get Bayes off mlp_digits' jagged plateau without losing elsewhere?

Usage (from the repository root; one process, dev problems only):
    nice -n 5 .venv/bin/python bench/bayes_min_distance_screen.py --problems hartmann6 mlp_digits \\
        --seeds 10 --budget 80 --delta 0.3
    .venv/bin/python bench/bayes_min_distance_screen.py --problems mlp_digits --delta 0.3 --report-only
Arms: ``default`` (always run), ``d<DELTA>`` for each --delta, ``n<DELTA>`` for each --delta-noise
(the threshold times sqrt(noise / signal variance) of the fit, ``Bayes._min_distance_noise``), and with
--placebo ``placebo`` (``xi=0.0100001``: only EI's rounding changes, so it shows how far chance alone moves
a paired difference once trajectories part). Runs are
kept in --out (bench/results/bayes_min_distance.json) keyed problem / arm / seed and not rerun unless
--rerun, so a later command adds seeds or arms. Prints, per problem and arm, the mean best value after
20 / 40 / budget trials and the paired difference (arm - default: negative = better, minimized) ± its
standard error over seeds, and how many seeds the arm won / lost at the budget.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search  # noqa: E402

from knobs.search import Bayes  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "bayes_min_distance.json"


def sampler(arm: str, seed: int) -> Bayes:
    """The arm's Bayes: ``default``, ``d0.3`` (plain threshold), ``n1`` (noise-scaled) or ``placebo``."""
    if arm == "placebo":  # changes nothing but EI's rounding: how far any change moves the trajectories
        return Bayes(seed=seed, xi=0.0100001)
    bayes = Bayes(seed=seed)
    if arm != "default":
        bayes._min_distance = float(arm[1:])
        bayes._min_distance_noise = arm[0] == "n"
    return bayes


def best_after(values: list, k: int) -> float:
    finite = [v for v in values[:k] if v is not None and math.isfinite(v)]
    return min(finite) if finite else math.inf


def mean_se(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs, float)
    return float(a.mean()), (float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else math.nan)


def report(store: dict, problems: list[str], arms: list[str], seeds: list[int], budget: int) -> None:
    marks = [k for k in (20, 40, budget) if k <= budget]
    for problem in problems:
        base = {s: store.get(f"{problem}/default/{s}") for s in seeds}
        print(f"\n{problem} (best value, minimized; budget {budget})")
        print(f"  {'arm':10s} {'seeds':>5s} " + " ".join(f"{'@' + str(k):>9s}" for k in marks)
              + "   paired diff @" + " / @".join(map(str, marks)) + "   won/lost @" + str(budget)
              + "   cpu s/seed")
        for arm in ["default", *arms]:
            runs = {s: store.get(f"{problem}/{arm}/{s}") for s in seeds}
            paired = [s for s in seeds if runs[s] and base[s]
                      and len(runs[s]["values"]) >= budget and len(base[s]["values"]) >= budget]
            if not paired:
                continue
            means = [mean_se([best_after(runs[s]["values"], k) for s in paired])[0] for k in marks]
            cpu = np.mean([runs[s]["cpu_s"] for s in paired])
            line = f"  {arm:10s} {len(paired):5d} " + " ".join(f"{m:9.4f}" for m in means)
            if arm != "default":
                diffs = [[best_after(runs[s]["values"], k) - best_after(base[s]["values"], k) for s in paired]
                         for k in marks]
                line += "   " + " / ".join("{:+.4f} ± {:.4f}".format(*mean_se(d)) for d in diffs)
                last = diffs[-1]
                line += f"   {sum(d < 0 for d in last)}/{sum(d > 0 for d in last)}"
            print(line + f"   {cpu:.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["hartmann6", "mlp_digits", "sst2_linear"])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 .. SEEDS-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=80)
    parser.add_argument("--delta", type=float, nargs="*", default=[0.3], help="plain thresholds")
    parser.add_argument("--delta-noise", type=float, nargs="*", default=[], help="noise-scaled thresholds")
    parser.add_argument("--placebo", action="store_true", help="also the placebo arm, xi=0.0100001")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--rerun", action="store_true", help="run again what the store already has")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    for name in args.problems:
        if name not in search.ALL_PROBLEMS:
            parser.error(f"unknown problem {name!r}")
        if search.ALL_PROBLEMS[name].split != "dev":
            parser.error(f"{name} is a check-set problem: screens run on the dev set only")
    arms = ([f"d{d:g}" for d in args.delta] + [f"n{d:g}" for d in args.delta_noise]
            + ["placebo"] * args.placebo)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    store = json.loads(args.out.read_text()) if args.out.exists() else {}
    search._quiet()
    if not args.report_only:
        for problem in args.problems:
            for seed in seeds:  # seed-major: a stopped run still leaves complete pairs
                for arm in ["default", *arms]:
                    key = f"{problem}/{arm}/{seed}"
                    if key in store and len(store[key]["values"]) >= args.budget and not args.rerun:
                        continue
                    t0, c0 = time.perf_counter(), time.process_time()
                    values, _, cpu = search.run_trials(search.ALL_PROBLEMS[problem], sampler(arm, seed), args.budget)
                    store[key] = {"values": [v if math.isfinite(v) else None for v in values],
                                  "wall_s": round(time.perf_counter() - t0, 1),
                                  "cpu_s": round(time.process_time() - c0, 1),
                                  "suggest_cpu_s": round(sum(cpu), 1)}
                    print(f"{key}: best {best_after(store[key]['values'], args.budget):.4f}, "
                          f"{store[key]['wall_s']} s wall, {store[key]['cpu_s']} s CPU", flush=True)
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(store, indent=0))
    report(store, args.problems, arms, seeds, args.budget)


if __name__ == "__main__":
    main()
