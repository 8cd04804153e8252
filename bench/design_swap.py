"""Design or model? knobs.Bayes against Optuna's GPSampler at a small budget, with the initial design swapped.

The dev mlp family at 20 trials (lcbench_digits, lcbench_fashion) had knobs.Bayes behind GPSampler on seeds
0-9, a gap traced to runs whose first points all trained to chance. Four arms per seed tell the design (8 Sobol
points for knobs, 10 random ones for GPSampler) apart from the model that follows it:

- ``knobs``: knobs.Bayes as it is (its 8-point scrambled Sobol design, then the GP);
- ``knobs_random8``: knobs.Bayes after 8 random points (Optuna's RandomSampler, the seed's draws);
- ``gp_on_knobs_design``: GPSampler after knobs' 8 Sobol points of that seed (enqueued), then its own model;
- ``gpsampler``: GPSampler as it is (10 random points, then its model).

Usage (from the repository root):
    .venv/bin/python bench/design_swap.py --seeds 30 --first-seed 10 --budget 20 --out bench/results/design_swap.json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as S  # noqa: E402
from _jobs import map_jobs  # noqa: E402

ARMS = ("knobs", "knobs_random8", "gp_on_knobs_design", "gpsampler")
DESIGN = 8  # knobs.Bayes's design in these 7-D spaces: min(10, max(4, d + 1))


def _optuna_run(problem: Any, sampler: Any, n: int, enqueue: list[dict] = ()) -> list[tuple[dict, float]]:
    """``n`` trials of an Optuna sampler, ``enqueue``'s configs first: (config, value) of each."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    for config in enqueue:
        study.enqueue_trial(config)
    out = []
    for _ in range(n):
        trial = study.ask()
        config = problem.suggest_optuna(trial)
        value = S._evaluate(problem, config)
        S.tell_optuna(study, trial, value)
        out.append((config, value))
    return out


def _knobs_values(problem: Any, seed: int, budget: int, start: list[tuple[dict, float]] = ()) -> list[float]:
    """knobs.Bayes told ``start``'s trials first (none: its own design), then suggesting up to ``budget``."""
    from knobs.search import Bayes

    space, sampler = problem.space(), Bayes(seed=seed)
    trials = [S.told(i, c, v) for i, (c, v) in enumerate(start)]
    values = [v for _, v in start]
    for number in range(len(start), budget):
        config = sampler.suggest(space, trials)[0]
        value = S._evaluate(problem, config)
        trials.append(S.told(number, config, value))
        values.append(value)
    return values


def run_arm(arm: str, problem_name: str, seed: int, budget: int) -> list[float]:
    """One arm's values, trial by trial (NaN for a failed training)."""
    import optuna
    from knobs.search import Bayes

    problem = S.ALL_PROBLEMS[problem_name]
    arms: dict[str, Callable[[], list[float]]] = {
        "knobs": lambda: _knobs_values(problem, seed, budget),
        "knobs_random8": lambda: _knobs_values(
            problem, seed, budget, _optuna_run(problem, optuna.samplers.RandomSampler(seed=seed), DESIGN)),
        "gp_on_knobs_design": lambda: [v for _, v in _optuna_run(
            problem, optuna.samplers.GPSampler(seed=seed, n_startup_trials=DESIGN), budget,
            Bayes(seed=seed).suggest(problem.space(), [], n=DESIGN))],
        "gpsampler": lambda: S.run_trials(problem, optuna.samplers.GPSampler(seed=seed), budget)[0],
    }
    return arms[arm]()


def _task(task: tuple[str, str, int, int]) -> dict[str, Any]:
    arm, problem_name, seed, budget = task
    S._quiet()
    values = run_arm(arm, problem_name, seed, budget)
    return {"arm": arm, "problem": problem_name, "seed": seed,
            "values": [v if math.isfinite(v) else None for v in values]}


def summarize(runs: list[dict], budget: int) -> dict[str, dict[str, dict[str, float]]]:
    """Per problem and arm: mean ± SE of the best value within ``budget``; per problem, each arm's
    paired difference to ``knobs`` (mean ± SE, seeds better / worse)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    best = {(r["problem"], r["arm"], r["seed"]): S.best_within(r["values"], budget) for r in runs}
    for problem in sorted({r["problem"] for r in runs}):
        out[problem] = {}
        for arm in ARMS:
            seeds = sorted(s for (p, a, s) in best if p == problem and a == arm)
            if not seeds:
                continue
            xs = [best[problem, arm, s] for s in seeds]
            row = {"n": len(xs), "mean": statistics.mean(xs),
                   "se": statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else math.nan}
            paired = [best[problem, arm, s] - best[problem, "knobs", s] for s in seeds if (problem, "knobs", s) in best]
            if arm != "knobs" and len(paired) > 1:
                row.update(minus_knobs=statistics.mean(paired),
                           minus_knobs_se=statistics.stdev(paired) / math.sqrt(len(paired)),
                           better=sum(d < 0 for d in paired), worse=sum(d > 0 for d in paired))
            out[problem][arm] = row
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["lcbench_digits", "lcbench_fashion"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=10)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(arm, p, s, args.budget) for p in args.problems for s in seeds
             for arm in args.arms]
    runs = map_jobs(_task, tasks, args.jobs)
    table = summarize(runs, args.budget)
    print(f"best value within {args.budget} trials, mean ± SE over seeds {seeds.start}-{seeds.stop - 1}")
    print(f"{'problem':18s} {'arm':20s} {'mean ± SE':>18s}  {'arm − knobs (better / worse)':>30s}")
    for problem, arms in table.items():
        for arm, row in arms.items():
            paired = (f"{row['minus_knobs']:+.4f} ± {row['minus_knobs_se']:.4f} ({row['better']} / {row['worse']})"
                      if "minus_knobs" in row else "")
            print(f"{problem:18s} {arm:20s} {row['mean']:.4f} ± {row['se']:.4f}  {paired:>30s}")
    result = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "table": table, "runs": runs}
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({"table": table}))
    return result


if __name__ == "__main__":
    main()
