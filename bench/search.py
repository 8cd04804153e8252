"""Head-to-head: knobs Bayes / Random vs Optuna's GPSampler, TPESampler on the same problems.

Usage:
    .venv/bin/python bench/search.py                  # 10 seeds, budgets 30 60, every problem
    .venv/bin/python bench/search.py --quick          # smoke test (2 seeds, 4 problems)
    .venv/bin/python bench/search.py --seeds 5 --budgets 30 --problems branin hartmann6 --jobs 2

Scoring, per (problem, seed, budget): normalized score = (median - best) / (median - best_any),
where ``median`` is the median value of 256 random configurations of the problem (estimated
once, with a fixed seed) and ``best_any`` the best value any optimizer found on the problem in
this run; 1 = as good as the best anyone found, 0 = no better than a typical random config.
Each optimizer runs once per (problem, seed) with the largest budget; the score at a smaller
budget reads the best value among its first trials, which is exactly a shorter run because no
optimizer here looks at the total budget. Nothing is cached between evaluations or optimizers.

It prints tables, writes bench/results/search.json, and its last line is one JSON object with
the headline figures. Optuna is a benchmark-only dependency (``pip install 'optuna>=4'``).
"""

from __future__ import annotations

import os

# NOTE: one BLAS / torch thread per process, for every optimizer alike (Optuna's GP pins its
# own too); parallel --jobs then share the cores without oversubscription.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import PROBLEMS, Problem  # noqa: E402

OPTIMIZERS = ("knobs.Bayes", "optuna.GPSampler", "optuna.TPESampler", "knobs.Random(qmc)",
              "knobs.Random")
QUICK_PROBLEMS = ("branin", "hartmann6", "mixed", "svc_cancer")
RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
N_MEDIAN = 256


# -- one optimization run ----------------------------------------------------------------------

def _knobs_sampler(name: str, seed: int):
    from knobs.search import Random
    from knobs.search._bayes import Bayes

    if name == "knobs.Bayes":
        return Bayes(seed=seed)
    return Random(qmc=name == "knobs.Random(qmc)", seed=seed)


def run_knobs(problem: Problem, name: str, seed: int, budget: int) -> tuple[list[float], list[float]]:
    from knobs.trial import FrozenTrial, TrialState

    space, sampler = problem.space(), _knobs_sampler(name, seed)
    trials: list[FrozenTrial] = []
    values, seconds = [], []
    for number in range(budget):
        t0 = time.perf_counter()
        config = sampler.suggest(space, trials)[0]
        seconds.append(time.perf_counter() - t0)
        value = _evaluate(problem, config)
        state = TrialState.COMPLETE if math.isfinite(value) else TrialState.FAILED
        trials.append(FrozenTrial(number, config, state, value if math.isfinite(value) else None))
        values.append(value)
    return values, seconds


def _optuna_sampler(name: str, seed: int):
    import optuna

    if name == "optuna.GPSampler":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def run_optuna(problem: Problem, name: str, seed: int, budget: int) -> tuple[list[float], list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=_optuna_sampler(name, seed), direction="minimize")
    values, seconds = [], []
    for _ in range(budget):
        t0 = time.perf_counter()
        trial = study.ask()
        config = problem.suggest_optuna(trial)
        seconds.append(time.perf_counter() - t0)
        value = _evaluate(problem, config)
        if math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        values.append(value)
    return values, seconds


def _evaluate(problem: Problem, config: dict[str, Any]) -> float:
    try:
        value = float(problem.objective(config))
    except (ValueError, FloatingPointError, ArithmeticError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def run_one(task: tuple[str, str, int, int]) -> dict[str, Any]:
    problem_name, optimizer, seed, budget = task
    _quiet()
    problem = PROBLEMS[problem_name]
    runner = run_optuna if optimizer.startswith("optuna") else run_knobs
    values, seconds = runner(problem, optimizer, seed, budget)
    return {"problem": problem_name, "optimizer": optimizer, "seed": seed,
            "values": [None if not math.isfinite(v) else v for v in values],
            "suggest_ms": 1000.0 * float(np.mean(seconds))}


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def random_median(problem_name: str) -> float:
    """Median value of N_MEDIAN random configurations (fixed seed): the score's zero point."""
    _quiet()
    problem = PROBLEMS[problem_name]
    configs = problem.space().sample(np.random.default_rng(20240601), N_MEDIAN)
    values = [v for v in (_evaluate(problem, c) for c in configs) if math.isfinite(v)]
    return float(np.median(values))


# -- scoring -----------------------------------------------------------------------------------

def best_within(values: list[float | None], budget: int) -> float:
    finite = [v for v in values[:budget] if v is not None]
    return min(finite) if finite else math.inf


def summarize(runs: list[dict], medians: dict[str, float], budgets: list[int],
              optimizers: list[str]) -> dict[str, Any]:
    """Mean normalized score and mean rank per optimizer and budget, plus per-problem scores."""
    best_any = {p: min(best_within(r["values"], max(budgets)) for r in runs if r["problem"] == p)
                for p in medians}
    by_key = {(r["problem"], r["optimizer"], r["seed"]): r for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    score: dict[str, dict[int, list[float]]] = {o: {b: [] for b in budgets} for o in optimizers}
    rank: dict[str, dict[int, list[float]]] = {o: {b: [] for b in budgets} for o in optimizers}
    per_problem: dict[str, dict[str, float]] = {p: {} for p in medians}
    for p in medians:
        span = medians[p] - best_any[p]
        for b in budgets:
            for s in seeds:
                bests = [best_within(by_key[(p, o, s)]["values"], b) for o in optimizers]
                for o, best, r in zip(optimizers, bests, scipy.stats.rankdata(bests)):
                    score[o][b].append((medians[p] - best) / span if span > 0 else 1.0)
                    rank[o][b].append(float(r))
        for o in optimizers:
            per_problem[p][o] = float(np.mean([
                (medians[p] - best_within(by_key[(p, o, s)]["values"], max(budgets))) / span
                if span > 0 else 1.0 for s in seeds]))
    ms = {o: float(np.mean([r["suggest_ms"] for r in runs if r["optimizer"] == o])) for o in optimizers}
    return {
        "score": {o: {str(b): float(np.mean(score[o][b])) for b in budgets} for o in optimizers},
        "rank": {o: {str(b): float(np.mean(rank[o][b])) for b in budgets} for o in optimizers},
        "per_problem": per_problem, "best_any": best_any, "mean_suggest_ms": ms,
    }


# -- speed at 100 finished trials in 6-D -------------------------------------------------------

def suggestion_timing(reps: int = 5) -> dict[str, Any]:
    """ms per suggestion with 100 finished random Hartmann-6 trials: a fresh sampler (cold) and
    the next suggestion after one more trial (warm: samplers may reuse their previous fit)."""
    import optuna
    from knobs.search._bayes import Bayes
    from knobs.trial import FrozenTrial, TrialState

    _quiet()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    problem = PROBLEMS["hartmann6"]
    space = problem.space()
    out: dict[str, dict[str, list[float]]] = {
        "knobs.Bayes": {"cold": [], "warm": []}, "optuna.GPSampler": {"cold": [], "warm": []}}
    for rep in range(reps):
        configs = space.sample(np.random.default_rng(rep), 101)
        values = [problem.objective(c) for c in configs]
        trials = [FrozenTrial(i, c, TrialState.COMPLETE, v)
                  for i, (c, v) in enumerate(zip(configs[:100], values[:100]))]
        sampler = Bayes(seed=rep)
        for phase, history in (("cold", trials),
                               ("warm", trials + [FrozenTrial(100, configs[100], TrialState.COMPLETE, values[100])])):
            t0 = time.perf_counter()
            sampler.suggest(space, history)
            out["knobs.Bayes"][phase].append(1000 * (time.perf_counter() - t0))
        study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=rep))
        dists = {n: optuna.distributions.FloatDistribution(0.0, 1.0) for n in space.names}
        for c, v in zip(configs[:100], values[:100]):
            study.add_trial(optuna.trial.create_trial(params=c, distributions=dists, value=v))
        for phase in ("cold", "warm"):
            t0 = time.perf_counter()
            trial = study.ask()
            config = problem.suggest_optuna(trial)
            out["optuna.GPSampler"][phase].append(1000 * (time.perf_counter() - t0))
            study.tell(trial, problem.objective(config))
    return {o: {ph: float(np.median(v)) for ph, v in d.items()} for o, d in out.items()}


# -- report ------------------------------------------------------------------------------------

def print_tables(summary: dict[str, Any], budgets: list[int], optimizers: list[str],
                 timing: dict[str, Any]) -> None:
    head = "".join(f"  score@{b:<4}" for b in budgets) + "".join(f"  rank@{b:<4}" for b in budgets)
    print(f"\n{'optimizer':20s}{head}  ms/suggest")
    for o in sorted(optimizers, key=lambda o: -summary["score"][o][str(max(budgets))]):
        cells = "".join(f"  {summary['score'][o][str(b)]:10.3f}" for b in budgets)
        cells += "".join(f"  {summary['rank'][o][str(b)]:9.2f}" for b in budgets)
        print(f"{o:20s}{cells}  {summary['mean_suggest_ms'][o]:10.1f}")
    print(f"\nnormalized score per problem at budget {max(budgets)}")
    print(f"{'problem':16s}" + "".join(f"{o[:18]:>19s}" for o in optimizers))
    for p, row in summary["per_problem"].items():
        print(f"{p:16s}" + "".join(f"{row[o]:19.3f}" for o in optimizers))
    print("\nms per suggestion at 100 finished trials, 6-D (median of reps):")
    for o, d in timing.items():
        print(f"  {o:18s} cold {d['cold']:8.1f}   warm {d['warm']:8.1f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget 30, 4 problems")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS), choices=list(OPTIMIZERS))
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--timing-reps", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budgets, args.timing_reps = 2, [30], 2
        args.problems = [p for p in QUICK_PROBLEMS if p in args.problems] or args.problems[:2]
    budgets, optimizers = sorted(set(args.budgets)), list(args.optimizers)
    tasks = [(p, o, s, max(budgets)) for p in args.problems for s in range(args.seeds) for o in optimizers]
    started = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        median_values = list(pool.map(random_median, args.problems))
        runs = []
        for i, r in enumerate(pool.map(run_one, tasks), 1):
            runs.append(r)
            if i % max(1, len(tasks) // 20) == 0:
                print(f"[{time.time() - started:7.0f}s] {i}/{len(tasks)} runs", flush=True)
    medians = dict(zip(args.problems, median_values))
    summary = summarize(runs, medians, budgets, optimizers)
    timing = suggestion_timing(args.timing_reps)
    print_tables(summary, budgets, optimizers, timing)
    headline = {
        "bench": "search", "seeds": args.seeds, "budgets": budgets, "problems": len(args.problems),
        "score": {o: summary["score"][o] for o in optimizers},
        "rank": {o: summary["rank"][o] for o in optimizers},
        "ms_per_suggestion_100_trials_6d": timing,
        "wall_s": round(time.time() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "headline": headline, "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "medians": medians, "summary": summary, "runs": runs,
        "problems": {p: PROBLEMS[p].note for p in args.problems},
    }, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
