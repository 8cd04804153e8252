"""Which of Bayes's levers earn their place: variants of knobs.Bayes against Optuna's GP and TPE.

Usage:
    .venv/bin/python bench/bayes_levers.py --variants default --seeds 5 --jobs 2
    .venv/bin/python bench/bayes_levers.py --variants default warp=kumaraswamy --families smooth
    .venv/bin/python bench/bayes_levers.py --timing          # ms per suggestion, 100 trials, 7-D

A variant is ``default`` (``Bayes(seed=s)``) or ``key=value[,key=value]``: keyword arguments of
``Bayes``, ``prior.<field>`` (a field of the GP's ``gp.Prior``, set through ``Bayes._prior``) or
``_<attribute>`` (a development attribute of the sampler); values read as JSON when they parse,
else as strings. A suffix ``@b4`` proposes in batches of 4 (``--batch 4``). Levers measured and
then taken out of knobs run only on the commit that had them (docs/benchmarks.md names it).
``--screen`` stops at budget 40 and keeps its runs apart (a cheap first look). Every (problem, optimizer,
seed) run is stored in bench/results/bayes_levers_runs.json and reused, so the baselines (Optuna
GPSampler and TPESampler) run once and each new variant costs only its own runs.

Families (problems from bench/problems.py; bench/search.py's real-training dev families ``text``,
``mlp``, ``convnet`` run here too when named, scored against the best run in the store, or with
bench/search.py's own command line and the factories at the end of this file):
    smooth: Branin, Hartmann-6, the log-scaled Rosenbrock valley, Levy-4 (multimodal).
    mixed: a categorical x integers x log float space, and a conditional space.
    sklearn: SVC on digits and breast cancer, logistic regression, random forest (the cheaper
        scikit-learn problems; the two 2.7 s-per-evaluation ones are left to bench/search.py).

Score per (problem, seed, budget): (median - best) / (median - reference), where median is the
median of 256 random configurations and reference the known optimum (synthetic) or the best value
any stored run found (scikit-learn); 1 = optimum, 0 = a typical random configuration. The last
line is one JSON object with every family's scores.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import math
import re
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import PROBLEMS as BASE_PROBLEMS, Problem  # noqa: E402
from problems_real import REAL_PROBLEMS  # noqa: E402
from search import _evaluate, best_within, tell_optuna, told  # noqa: E402

RUNS = Path(__file__).resolve().parent / "results" / "bayes_levers_runs.json"
BASELINES = ("optuna.GPSampler", "optuna.TPESampler")
BUDGETS = [20, 40, 80]
N_MEDIAN = 256


PROBLEMS: dict[str, Problem] = {**BASE_PROBLEMS, **REAL_PROBLEMS}
FAMILIES = {
    "smooth": ("branin", "hartmann6", "log_rosenbrock", "levy4"),
    "mixed": ("mixed", "conditional"),
    "sklearn": ("svc_digits", "svc_cancer", "logreg_cancer", "rf_wine"),
}
# NOTE: bench/search.py's real-training dev families, by name only (--families text etc.); not in
# the default run. Their reference is the best value any run in the store found.
REAL_FAMILIES = {
    "text": ("sst2_linear", "sst2_embag"),
    "mlp": ("lcbench_digits", "lcbench_fashion"),
    "convnet": ("convnet_digits", "convnet_fashion"),
}


# -- one run --------------------------------------------------------------------------------

def parse_variant(text: str) -> dict[str, Any]:
    if text == "default":
        return {}
    out = {}
    for part in re.split(r",(?=[A-Za-z_][\w.]*=)", text):  # commas inside JSON values stay
        key, _, raw = part.partition("=")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _batch(name: str) -> tuple[str, int]:
    """"name@b4" runs batches of 4 (4 proposals before the 4 results come back)."""
    base, _, batch = name.partition("@b")
    return base, int(batch) if batch else 1


def make_bayes(variant: str, seed: int):
    """``Bayes(seed=seed)`` with the variant's options, GP prior fields and attributes."""
    from knobs.search._bayes import Bayes
    from knobs.search._gp.gp import Prior

    kwargs = parse_variant(variant)
    prior = {k[6:]: kwargs.pop(k) for k in list(kwargs) if k.startswith("prior.")}
    private = {k: kwargs.pop(k) for k in list(kwargs) if k.startswith("_")}
    sampler = Bayes(seed=seed, **kwargs)
    if prior:  # development only: a variant of the GP's hyperparameter prior
        sampler._prior = Prior(**prior)
    for key, value in private.items():  # development only: a lever not (yet) an option
        setattr(sampler, key, value)
    return sampler


def run_knobs(problem: Problem, variant: str, seed: int, budget: int) -> tuple[list, list]:
    variant, batch = _batch(variant)
    space, sampler = problem.space(), make_bayes(variant, seed)
    trials: list = []
    values, seconds = [], []
    while len(trials) < budget:
        t0 = time.perf_counter()
        configs = sampler.suggest(space, trials, min(batch, budget - len(trials)))
        seconds.append((time.perf_counter() - t0) / len(configs))
        for config in configs:
            value = _evaluate(problem, config)
            trials.append(told(len(trials), config, value))
            values.append(value)
    return values, seconds


def run_optuna(problem: Problem, name: str, seed: int, budget: int) -> tuple[list, list]:
    import optuna

    name, batch = _batch(name)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = (optuna.samplers.GPSampler(seed=seed) if name == "optuna.GPSampler"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(sampler=sampler)
    values, seconds = [], []
    while len(values) < budget:
        asked = []
        for _ in range(min(batch, budget - len(values))):
            t0 = time.perf_counter()
            trial = study.ask()
            asked.append((trial, problem.suggest_optuna(trial)))
            seconds.append(time.perf_counter() - t0)
        for trial, config in asked:
            value = _evaluate(problem, config)
            tell_optuna(study, trial, value)
            values.append(value)
    return values, seconds


def run_one(task: tuple[str, str, int, int]) -> dict[str, Any]:
    problem_name, optimizer, seed, budget = task
    warnings.filterwarnings("ignore")
    problem = PROBLEMS[problem_name]
    if _batch(optimizer)[0] in BASELINES:
        values, seconds = run_optuna(problem, optimizer, seed, budget)
    else:
        values, seconds = run_knobs(problem, optimizer, seed, budget)
    return {"problem": problem_name, "optimizer": optimizer, "seed": seed,
            "values": [v if math.isfinite(v) else None for v in values],
            "suggest_ms": 1000.0 * float(np.mean(seconds))}


def random_median(problem_name: str) -> float:
    warnings.filterwarnings("ignore")
    problem = PROBLEMS[problem_name]
    configs = problem.space().sample(np.random.default_rng(20240601), N_MEDIAN)
    return float(np.nanmedian([_evaluate(problem, c) for c in configs]))


def _save(store: dict) -> dict:
    """Merge with what other invocations stored meanwhile (several may run at once), write."""
    if RUNS.exists():
        disk = json.loads(RUNS.read_text())
        store = {"medians": {**disk["medians"], **store["medians"]},
                 "runs": {**disk["runs"], **store["runs"]}}
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RUNS.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(store))
    tmp.replace(RUNS)
    return store


# -- scoring --------------------------------------------------------------------------------

def table(store: dict, problems: list[str], optimizers: list[str], seeds: int) -> dict:
    """{family: {optimizer: {budget: mean score}}} plus per-problem scores at the largest budget."""
    runs = store["runs"]
    out: dict[str, Any] = {"family": {}, "problem": {}}
    for p in problems:
        ref = PROBLEMS[p].optimum
        if ref is None:
            ref = min(best_within(r["values"], max(BUDGETS)) for k, r in runs.items()
                      if k.startswith(p + "|"))
        span = store["medians"][p] - ref
        out["problem"][p] = {}
        for o in optimizers:
            have = [runs[f"{p}|{o}|{s}"] for s in range(seeds) if f"{p}|{o}|{s}" in runs]
            scores = {b: [(store["medians"][p] - best_within(r["values"], b)) / span for r in have]
                      or [math.nan] for b in BUDGETS}
            out["problem"][p][o] = {str(b): float(np.mean(v)) for b, v in scores.items()}
    for fam, members in {**FAMILIES, **REAL_FAMILIES}.items():
        members = [p for p in members if p in problems]
        if members:
            out["family"][fam] = {o: {str(b): float(np.mean([out["problem"][p][o][str(b)] for p in members]))
                                      for b in BUDGETS} for o in optimizers}
    return out


def print_table(result: dict, optimizers: list[str]) -> None:
    head = "".join(f"   @{b:<5}" for b in BUDGETS)
    for fam, rows in result["family"].items():
        print(f"\n{fam:42s}{head}")
        for o in optimizers:
            print(f"  {o[:40]:40s}" + "".join(f"  {rows[o][str(b)]:7.3f}" for b in BUDGETS))
    print("\nper problem at @" + "/@".join(map(str, BUDGETS)))
    for p, rows in result["problem"].items():
        print(f"  {p}")
        for o in optimizers:
            print(f"    {o[:40]:40s}" + "".join(f"  {rows[o][str(b)]:7.3f}" for b in BUDGETS))


# -- timing ---------------------------------------------------------------------------------

def timing(variants: list[str], reps: int = 3) -> dict[str, float]:
    """Median ms of one suggestion after 100 random finished trials of a 7-D mixed space."""
    from knobs.space import Float, Int, Space
    from knobs.trial import FrozenTrial, TrialState

    space = Space({"lr": Float(1e-5, 1e-1, log=True), "wd": Float(1e-6, 1e-1, log=True),
                   "dropout": Float(0.0, 0.8), "width": Int(16, 1024, log=True),
                   "depth": Int(1, 5), "batch": Int(16, 512, log=True),
                   "momentum": Float(0.5, 0.99)})
    out = {}
    for v in variants:
        ms = []
        for rep in range(reps):
            configs = space.sample(np.random.default_rng(rep), 101)
            vals = [math.log10(c["lr"]) ** 2 + c["dropout"] + 0.1 * c["depth"] for c in configs]
            trials = [FrozenTrial(i, c, TrialState.COMPLETE, y) for i, (c, y) in enumerate(zip(configs, vals))]
            sampler = make_bayes(v, rep)
            sampler.suggest(space, trials[:100])
            t0 = time.perf_counter()
            sampler.suggest(space, trials)
            ms.append(1000 * (time.perf_counter() - t0))
        out[v] = float(np.median(ms))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["default"])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES),
                        choices=[*FAMILIES, *REAL_FAMILIES])
    parser.add_argument("--problems", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rerun", action="store_true", help="ignore stored runs of the variants")
    parser.add_argument("--batch", type=int, default=1, help="proposals per round (parallel workers)")
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--screen", action="store_true",
                        help="budgets 20 and 40 only, in their own store (a cheap first look)")
    parser.add_argument("--store", type=Path, default=None,
                        help="keep the runs in this file instead of bench/results (scratch work)")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="run only the variants (another invocation runs the baselines)")
    args = parser.parse_args(argv)
    if args.timing:
        result = timing(args.variants)
        print(json.dumps({"bench": "bayes_levers_timing", "ms_per_suggestion_100_trials_7d": result,
                          "load": os.getloadavg()[0]}))
        return result
    global RUNS
    if args.screen:
        RUNS = RUNS.with_name("bayes_levers_screen.json")
        BUDGETS[:] = [20, 40]
    if args.store is not None:
        RUNS = args.store
    problems = args.problems or [p for f in args.families for p in {**FAMILIES, **REAL_FAMILIES}[f]]
    store = json.loads(RUNS.read_text()) if RUNS.exists() else {"medians": {}, "runs": {}}
    optimizers = [f"{b}@b{args.batch}" if args.batch > 1 else b for b in BASELINES] + [
        f"{v}@b{args.batch}" if args.batch > 1 else v for v in args.variants]
    todo_medians = [p for p in problems if p not in store["medians"]]
    tasks = [(p, o, s, max(BUDGETS)) for p in problems for o in optimizers for s in range(args.seeds)
             if (f"{p}|{o}|{s}" not in store["runs"] or (args.rerun and _batch(o)[0] not in BASELINES))
             and not (args.skip_baselines and _batch(o)[0] in BASELINES)]
    started = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for p, m in zip(todo_medians, pool.map(random_median, todo_medians)):
            store["medians"][p] = m
        for i, r in enumerate(pool.map(run_one, tasks), 1):
            store["runs"][f"{r['problem']}|{r['optimizer']}|{r['seed']}"] = r
            if i % 5 == 0 or i == len(tasks):
                print(f"[{time.time() - started:6.0f}s] {i}/{len(tasks)}", flush=True)
                store = _save(store)
    store = _save(store)
    result = table(store, problems, optimizers, args.seeds)
    print_table(result, optimizers)
    ms = {o: float(np.mean([store["runs"][k]["suggest_ms"] for p in problems for s in range(args.seeds)
                            if (k := f"{p}|{o}|{s}") in store["runs"]])) for o in optimizers}
    headline = {"bench": "bayes_levers", "seeds": args.seeds, "budgets": list(BUDGETS),
                "family": result["family"], "mean_suggest_ms": ms, "wall_s": round(time.time() - started, 1)}
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()


# -- factories for bench/search.py (``label=bayes_levers:name``) -------------------------------

def bayes_long_prior(seed: int):
    """Bayes with the lengthscale prior centred on the whole unit range (log-normal, sd 0.5)."""
    return make_bayes("prior.ls_loc=0,prior.ls_scale=0.5", seed)


# NOTE: the prior chosen by prediction (``_prior_window=5,_prior_margin=1``, factory
# ``bayes_prior_by_prediction``) was measured on commit 90f9aef and taken out (docs/benchmarks.md,
# "Bayes levers, third round").


# NOTE: EI's margin grown by the GP's leave-one-out misses (``_loo_margin=0.1``, factory ``bayes_loo_margin``) was
# measured on commit b0c980d and taken out (docs/benchmarks.md, "An exploration margin from leave-one-out misses").
