"""Search quality per problem family: knobs.Bayes / Random against Optuna's GPSampler and TPESampler.

Problems (bench/problems.py, bench/problems_real.py) come in FAMILIES, each with its own kind of space:
``synthetic`` (Branin, Hartmann-6, Levy, log-scaled Rosenbrock valleys, mixed and conditional toys),
``sklearn`` (3-fold-CV tuning of SVC / forests / boosting / MLP / logistic regression), and real
trainings the Bayes defaults were never tuned on: ``mlp`` (torch MLPs in LCBench's 7-D space on
digits and Fashion-MNIST subsets), ``convnet`` (integer channels / depth / kernel), ``tables``
(scikit-learn models in categorical and conditional spaces) and ``text`` (SST-2 subsets).

DEVELOPMENT and CHECK sets. Every problem has ``split = "dev"`` or ``"check"``, and every family has
problems in both. Tune samplers on ``--set dev`` only; ``--set check`` is for confirming a change
once it is decided, never for choosing it (look at it and it becomes a dev set). The synthetic and
sklearn problems of issue 3 are all "dev": the Bayes defaults were tuned on them.

Scoring, per (problem, seed, budget): normalized score = (median - best) / (median - best_any), where
``median`` is the median of 128 random configurations of the problem (fixed seed) and ``best_any``
the best value any optimizer found on the problem, in this run or in the reference file
(bench/results/search_reference.json, written by ``--update-reference``; an entry is used only
while the problem's fingerprint matches). 1 = as good as the best anyone found, 0 = no better than
a typical random configuration. Because best_any includes the reference, a run with only two
optimizers scores on the same scale as the full run. Each optimizer runs once per (problem, seed)
with the largest budget; the score at a smaller budget reads the best among its first trials
(no optimizer here looks at the total budget). A family's score per seed is the mean over its
problems; tables give mean ± standard error over seeds. Timing: median ms per suggestion over all
of a family's suggestions (wall and CPU: on a busy machine read CPU), and ms for one suggestion with
100 finished trials in LCBench's 7-D space (``--timing-only`` runs just that).

Command line:
    python bench/search.py --set dev --seeds 5 --budgets 20 40 80 --jobs 1      # the dev table
    python bench/search.py --set dev --families mlp,convnet --seeds 5 --optimizers knobs.Bayes optuna.GPSampler
    python bench/search.py --set check ...                                      # only to confirm
    python bench/search.py --optimizers knobs.Bayes warped=my_variants:bayes_warped   # your factory
    python bench/search.py --timing-only --optimizers knobs.Bayes optuna.GPSampler
    python bench/search.py --list                                               # problems by set/family
    python bench/search.py --merge a.json b.json --arms knobs.Bayes mine --problems p q   # runs made apart, one table
Optimizers are the built-in names (``knobs.Bayes``, ``optuna.GPSampler``, ``optuna.TPESampler``,
``knobs.Random``, ``knobs.Random(qmc)``) or ``label=module:attr`` / ``module:attr``: a FACTORY,
called as ``factory(seed=seed)``, returning a knobs sampler (``.suggest(space, trials)``) or an
Optuna sampler. It prints tables, writes bench/results/search.json (``--out``), and its last line
is one JSON object with every family's scores and timings.

From Python (compare a variant of Bayes without editing this file):
    import functools, sys; sys.path.insert(0, "bench")
    from search import run_family_table, select_problems
    from knobs.search import Bayes
    result = run_family_table({"knobs.Bayes": "knobs.Bayes",
                               "bayes-ucb": functools.partial(Bayes, acquisition="ucb")},
                              select_problems("dev", ["mlp", "tables"]), seeds=5, budgets=(20, 40, 80))
    result["sets"]["dev"]["families"]["mlp"]["score"]["bayes-ucb"]["40"]   # {"mean": ..., "se": ...}
With ``jobs > 1`` factories must be picklable (module-level functions, ``functools.partial``).
Optuna is a benchmark-only dependency (the ``bench`` extra).
"""

from __future__ import annotations

import os

# NOTE: one BLAS / torch thread per process, for every optimizer alike (Optuna's GP pins its
# own too); parallel --jobs then share the cores without oversubscription.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import functools
import hashlib
import importlib
import json
import math
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import PROBLEMS, P, Problem  # noqa: E402
from problems_real import LCBENCH, REAL_PROBLEMS  # noqa: E402

__all__ = ["ALL_PROBLEMS", "FAMILIES", "OPTIMIZERS", "select_problems", "resolve_optimizer",
           "run_trials", "run_family_table", "suggestion_timing", "main"]

ALL_PROBLEMS: dict[str, Problem] = {**PROBLEMS, **REAL_PROBLEMS}
FAMILIES = ("synthetic", "sklearn", "mlp", "convnet", "tables", "text")
SETS = ("dev", "check")
DEFAULT_OPTIMIZERS = ("knobs.Bayes", "optuna.GPSampler", "optuna.TPESampler", "knobs.Random")
RESULTS = Path(__file__).resolve().parent / "results" / "search.json"
REFERENCE = Path(__file__).resolve().parent / "results" / "search_reference.json"
N_MEDIAN = 128
# NOTE: bump when an objective changes in a way its parameters and note do not show: the
# reference file's medians and bests are then ignored until rewritten.
BENCH_VERSION = 2


# -- optimizers -------------------------------------------------------------------------------

def _knobs_bayes(seed: int):
    from knobs.search import Bayes
    return Bayes(seed=seed)


def _knobs_random(seed: int, qmc: bool = False):
    from knobs.search import Random
    return Random(seed=seed, qmc=qmc)


def _optuna_gp(seed: int):
    import optuna
    return optuna.samplers.GPSampler(seed=seed)


def _optuna_tpe(seed: int):
    import optuna
    return optuna.samplers.TPESampler(seed=seed)


OPTIMIZERS: dict[str, Callable[..., Any]] = {
    "knobs.Bayes": _knobs_bayes, "optuna.GPSampler": _optuna_gp, "optuna.TPESampler": _optuna_tpe,
    "knobs.Random": _knobs_random, "knobs.Random(qmc)": functools.partial(_knobs_random, qmc=True)}


def resolve_optimizer(spec: str | Callable[..., Any]) -> Callable[..., Any]:
    """A factory from a built-in name, ``module:attr``, or a callable (returned as is)."""
    if callable(spec):
        return spec
    if spec in OPTIMIZERS:
        return OPTIMIZERS[spec]
    if ":" in spec:
        module, _, attr = spec.partition(":")
        if str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))
        return getattr(importlib.import_module(module), attr)
    raise ValueError(f"unknown optimizer {spec!r}: use one of {list(OPTIMIZERS)} or module:attr")


def _parse_optimizers(specs: Sequence[str]) -> dict[str, Callable[..., Any]]:
    out = {}
    for spec in specs:
        label, _, target = spec.rpartition("=")
        out[label or spec] = resolve_optimizer(target)
    return out


def _is_optuna(sampler: Any) -> bool:
    return type(sampler).__module__.startswith("optuna")


# -- one optimization run ---------------------------------------------------------------------

def _evaluate(problem: Problem, config: dict[str, Any]) -> float:
    from threadpoolctl import threadpool_limits

    try:
        # NOTE: OpenMP (HistGradientBoosting) and BLAS threads spin when the cores are busy: one
        # evaluation ran 100x slower under load without this.
        with threadpool_limits(limits=1):
            value = float(problem.objective(config))
    except (ValueError, FloatingPointError, ArithmeticError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def run_trials(problem: Problem, sampler: Any, budget: int) -> tuple[list[float], list[float], list[float]]:
    """``budget`` trials of ``sampler`` on ``problem``: (values, wall seconds and CPU seconds per
    suggestion). CPU time is the figure to read on a busy machine: wall time there measures the load."""
    if _is_optuna(sampler):
        return _run_optuna(problem, sampler, budget)
    space = problem.space()
    trials: list = []
    values, seconds, cpu = [], [], []
    for number in range(budget):
        t0, c0 = time.perf_counter(), time.process_time()
        config = sampler.suggest(space, trials)[0]
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        value = _evaluate(problem, config)
        trials.append(told(number, config, value))
        values.append(value)
    return values, seconds, cpu


def told(number: int, config: dict[str, Any], value: float):
    """Trial ``number`` finished with ``value``: complete when finite, else failed (knobs' samplers)."""
    from knobs.trial import FrozenTrial, TrialState

    finite = math.isfinite(value)
    return FrozenTrial(number, config, TrialState.COMPLETE if finite else TrialState.FAILED, value if finite else None)


def tell_optuna(study: Any, trial: Any, value: float) -> None:
    """``study.tell``: the value when finite, else a failed trial (Optuna's samplers)."""
    import optuna

    if math.isfinite(value):
        study.tell(trial, value)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)


def _run_optuna(problem: Problem, sampler: Any, budget: int) -> tuple[list[float], list[float], list[float]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    values, seconds, cpu = [], [], []
    for _ in range(budget):
        t0, c0 = time.perf_counter(), time.process_time()
        trial = study.ask()
        config = problem.suggest_optuna(trial)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        value = _evaluate(problem, config)
        tell_optuna(study, trial, value)
        values.append(value)
    return values, seconds, cpu


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def _run_task(task: tuple[str, str, Callable[..., Any], int, int]) -> dict[str, Any]:
    problem_name, label, factory, seed, budget = task
    _quiet()
    values, seconds, cpu = run_trials(ALL_PROBLEMS[problem_name], factory(seed=seed), budget)
    return {"problem": problem_name, "optimizer": label, "seed": seed,
            "values": [v if math.isfinite(v) else None for v in values],
            "suggest_ms": [round(1000.0 * s, 3) for s in seconds],
            "suggest_cpu_ms": [round(1000.0 * s, 3) for s in cpu]}


def _random_values(problem_name: str, n: int = N_MEDIAN, part: int = 0, parts: int = 1) -> list[float]:
    """Values of the random configurations ``part::parts`` of the ``n`` (fixed seed) whose median
    is the score's zero point; split in parts so parallel workers share the work."""
    _quiet()
    problem = ALL_PROBLEMS[problem_name]
    configs = problem.space().sample(np.random.default_rng(20240601), n)[part::parts]
    return [v for v in (_evaluate(problem, c) for c in configs) if math.isfinite(v)]


# -- reference medians and bests --------------------------------------------------------------

def fingerprint(problem: Problem) -> str:
    """What the reference entry must match: parameters, note, family, N_MEDIAN, BENCH_VERSION."""
    text = repr((BENCH_VERSION, N_MEDIAN, problem.family, problem.note, sorted(problem.params.items())))
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def load_reference(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {name: entry for name, entry in data.items()
            if name in ALL_PROBLEMS and entry.get("fingerprint") == fingerprint(ALL_PROBLEMS[name])}


def update_reference(path: Path, medians: Mapping[str, float], best: Mapping[str, float]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    for name in medians:
        old = data.get(name, {})
        keep_old = old.get("fingerprint") == fingerprint(ALL_PROBLEMS[name])
        data[name] = {"fingerprint": fingerprint(ALL_PROBLEMS[name]), "median": medians[name],
                      "best": min(best[name], old["best"]) if keep_old else best[name]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=1) + "\n")


# -- scoring ----------------------------------------------------------------------------------

def best_within(values: Sequence[float | None], budget: int) -> float:
    finite = [v for v in values[:budget] if v is not None]
    return min(finite) if finite else math.inf


def _mean_se(xs: Sequence[float]) -> dict[str, float]:
    xs = np.asarray(xs, dtype=float)
    se = float(xs.std(ddof=1) / math.sqrt(len(xs))) if len(xs) > 1 else 0.0
    return {"mean": round(float(xs.mean()), 4), "se": round(se, 4)}


def _scorer(runs: list[dict], medians: Mapping[str, float], best_any: Mapping[str, float]):
    """The runs by (problem, optimizer, seed), and ``score(problem, optimizer, seed, budget)``: the normalized score of
    the best value among that run's first ``budget`` trials."""
    by_key = {(r["problem"], r["optimizer"], r["seed"]): r for r in runs}

    def score(p: str, o: str, s: int, b: int) -> float:
        span = medians[p] - best_any[p]
        return (medians[p] - best_within(by_key[(p, o, s)]["values"], b)) / span if span > 0 else 1.0

    return by_key, score


def _members_and_seeds(by_key: Mapping, problems: Iterable[str], seeds: Sequence[int], split: str, fam: str,
                       optimizers: Sequence[str]) -> tuple[list[str], list[int]]:
    """A family's problems in this set, and the seeds every one of ``optimizers`` ran on every one of them.

    NOTE: runs merged from apart may give one family fresh seeds (--first-seed) that the others lack."""
    members = [p for p in problems if ALL_PROBLEMS[p].family == fam and ALL_PROBLEMS[p].split == split]
    return members, [s for s in seeds if all((p, o, s) in by_key for p in members for o in optimizers)]


def summarize(runs: list[dict], medians: Mapping[str, float], best_any: Mapping[str, float],
              budgets: Sequence[int], optimizers: Sequence[str]) -> dict[str, Any]:
    """Per set and family: mean ± SE over seeds of the family-mean normalized score, per optimizer
    and budget; median ms per suggestion; per-problem mean scores at every budget."""
    by_key, score = _scorer(runs, medians, best_any)
    seeds = sorted({r["seed"] for r in runs})

    out: dict[str, Any] = {}
    for split in SETS:
        families: dict[str, Any] = {}
        for fam in FAMILIES:
            members, mine = _members_and_seeds(by_key, medians, seeds, split, fam, optimizers)
            if not members or not mine:
                continue
            families[fam] = {
                "problems": members,
                "seeds": len(mine),
                "score": {o: {str(b): _mean_se([np.mean([score(p, o, s, b) for p in members]) for s in mine])
                              for b in budgets} for o in optimizers},
                "suggest_ms_median": {o: _median_ms(by_key, members, o, mine, "suggest_ms") for o in optimizers},
                "suggest_cpu_ms_median": {o: _median_ms(by_key, members, o, mine, "suggest_cpu_ms")
                                          for o in optimizers},
                "per_problem": {p: {o: {str(b): round(float(np.mean([score(p, o, s, b) for s in mine])), 4)
                                        for b in budgets} for o in optimizers} for p in members},
            }
        if families:
            out[split] = {"families": families, "leads": _leads(families, budgets, optimizers)}
    return out


def paired(runs: list[dict], medians: Mapping[str, float], best_any: Mapping[str, float],
           budgets: Sequence[int], arm: str, base: str) -> dict[str, Any]:
    """Per set and family: ``arm`` minus ``base``, seed by seed (the family mean of the normalized score on each seed
    both ran on every member), mean ± SE over those seeds and how many seeds it is ahead / behind.

    Why: two arms of one sampler share a seed's initial design, and which design a seed draws moves a family's score
    at 20 trials by more than most levers do; the difference seed by seed leaves that out, as a placebo arm (an arm
    that changes nothing but rounding) shows how far chance alone moves the rest.
    """
    by_key, score = _scorer(runs, medians, best_any)
    seeds = sorted({r["seed"] for r in runs})

    out: dict[str, Any] = {}
    for split in SETS:
        for fam in FAMILIES:
            members, mine = _members_and_seeds(by_key, medians, seeds, split, fam, (arm, base))
            if not members or not mine:
                continue
            cells = {}
            for b in budgets:
                diffs = [float(np.mean([score(p, arm, s, b) - score(p, base, s, b) for p in members])) for s in mine]
                cells[str(b)] = {**_mean_se(diffs), "ahead": sum(d > 1e-9 for d in diffs),
                                 "behind": sum(d < -1e-9 for d in diffs)}
            per_problem = {p: {"diff": {str(b): _mean_se([score(p, arm, s, b) - score(p, base, s, b) for s in mine])
                                        for b in budgets},
                               "repeats": {o: round(float(np.mean([repeat_share(by_key[(p, o, s)]["values"])
                                                                   for s in mine])), 3) for o in (arm, base)}}
                           for p in members}
            out.setdefault(split, {})[fam] = {"seeds": len(mine), "diff": cells, "per_problem": per_problem}
    return out


def repeat_share(values: Sequence[float | None], after: int = 10) -> float:
    """The share of trials after the first ``after`` whose value repeats an earlier trial's bit for bit.

    Why: on a deterministic objective that rounds its inputs (a forest's feature count, an SVC's error on a few
    hundred rows) a repeat is a configuration that trained the same model again, a trial spent learning nothing;
    on a discrete metric (error rates) ties also count, so compare samplers on the same problem only."""
    seen, repeats = set(values[:after]), 0
    for v in values[after:]:
        repeats += v is not None and v in seen
        seen.add(v)
    return repeats / max(1, len(values) - after)


def format_paired(table: Mapping[str, Any], arm: str, base: str, budgets: Sequence[int]) -> str:
    lines = [f"\n== {arm} minus {base}, seed by seed: mean ± SE (seeds ahead / behind) =="]
    for split, families in table.items():
        for fam, block in families.items():
            cells = "   ".join(f"@{b} {c['mean']:+.4f} ± {c['se']:.4f} ({c['ahead']} / {c['behind']})"
                               for b, c in ((b, block["diff"][str(b)]) for b in budgets))
            lines.append(f"  {split:5s} {fam:9s} {block['seeds']:3d} seeds   {cells}")
            for p, row in block.get("per_problem", {}).items():
                diffs = "   ".join(f"@{b} {row['diff'][str(b)]['mean']:+.4f} ± {row['diff'][str(b)]['se']:.4f}"
                                   for b in budgets)
                repeats = " / ".join(f"{row['repeats'][o]:.2f}" for o in (arm, base))
                lines.append(f"        {p:24s} {diffs}   repeats {repeats}")
    return "\n".join(lines)


def _median_ms(by_key: Mapping, members: Sequence[str], optimizer: str, seeds: Sequence[int],
               key: str) -> float | None:
    ms = [x for p in members for s in seeds for x in by_key[(p, optimizer, s)].get(key, [])]
    return round(float(np.median(ms)), 2) if ms else None


def _leads(families: Mapping[str, Any], budgets: Sequence[int], optimizers: Sequence[str]) -> dict[str, Any]:
    """For the FIRST optimizer: the (family, budget) cells where its mean is below another's."""
    first, others = optimizers[0], optimizers[1:]
    behind = [f"{fam}@{b}" for fam, f in families.items() for b in budgets
              if any(f["score"][o][str(b)]["mean"] > f["score"][first][str(b)]["mean"] for o in others)]
    return {"optimizer": first, "behind_in": behind, "ahead_everywhere": not behind}


# -- the table runner (importable) ------------------------------------------------------------

def select_problems(split: str = "dev", families: Iterable[str] | None = None,
                    names: Iterable[str] | None = None) -> list[str]:
    """Problem names in ``split`` ("dev", "check" or "all") and ``families`` (None: all)."""
    if split not in (*SETS, "all"):
        raise ValueError(f"unknown set {split!r}: use dev, check or all")
    families = list(families) if families is not None else list(FAMILIES)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}: use some of {list(FAMILIES)}")
    chosen = [n for n, p in ALL_PROBLEMS.items()
              if p.family in families and (split == "all" or p.split == split)]
    if names is not None:
        wanted = set(names)
        chosen = [n for n in chosen if n in wanted]
    return chosen


def run_family_table(optimizers: Mapping[str, str | Callable[..., Any]] | Sequence[str],
                     problems: Sequence[str], seeds: int | Sequence[int] = 5,
                     budgets: Sequence[int] = (20, 40, 80), jobs: int = 1,
                     reference: Path | None = REFERENCE, progress: bool = True,
                     median_configs: int = N_MEDIAN) -> dict[str, Any]:
    """Run every optimizer on every problem and seed once with max(budgets) trials; score them.

    ``optimizers``: names or ``{label: name | factory}``; a factory is called as
    ``factory(seed=seed)`` and returns a knobs or Optuna sampler. Returns
    ``{"sets": {split: {"families": ..., "leads": ...}}, "medians", "best_any", "runs"}``.
    """
    if not isinstance(optimizers, Mapping):
        optimizers = {name: name for name in optimizers}
    factories = {label: resolve_optimizer(spec) for label, spec in optimizers.items()}
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    budgets = sorted(set(int(b) for b in budgets))
    unknown = [p for p in problems if p not in ALL_PROBLEMS]
    if unknown:
        raise ValueError(f"unknown problems {unknown}")
    # NOTE: the reference's medians were taken with N_MEDIAN configurations; another count skips it.
    ref = load_reference(reference) if median_configs == N_MEDIAN else {}
    need_median = [p for p in problems if p not in ref]
    # NOTE: the slow (real-training) problems first, so parallel workers finish together.
    order = sorted(problems, key=lambda p: ALL_PROBLEMS[p].family in ("synthetic",))
    tasks = [(p, label, factories[label], s, max(budgets)) for p in order for s in seed_list for label in factories]
    started = time.time()
    runs: list[dict] = []
    if jobs <= 1:
        medians = {p: float(np.median(_random_values(p, median_configs))) for p in need_median}
        for i, task in enumerate(tasks, 1):
            runs.append(_run_task(task))
            _progress(progress, i, len(tasks), started)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            parts = {p: [pool.submit(_random_values, p, median_configs, k, jobs) for k in range(jobs)]
                     for p in need_median}
            medians = {p: float(np.median([v for f in fs for v in f.result()])) for p, fs in parts.items()}
            futures = [pool.submit(_run_task, t) for t in tasks]
            for i, fut in enumerate(as_completed(futures), 1):
                runs.append(fut.result())
                _progress(progress, i, len(tasks), started)
    medians = {p: medians[p] if p in medians else ref[p]["median"] for p in problems}
    best_any = {p: min([best_within(r["values"], max(budgets)) for r in runs if r["problem"] == p]
                       + ([ref[p]["best"]] if p in ref else [])) for p in problems}
    return {"sets": summarize(runs, medians, best_any, budgets, list(factories)),
            "medians": medians, "best_any": best_any, "runs": runs,
            "budgets": budgets, "seeds": seed_list, "optimizers": list(factories),
            "wall_s": round(time.time() - started, 1)}


def _progress(enabled: bool, i: int, n: int, started: float) -> None:
    if enabled and (i % max(1, n // 20) == 0 or i == n):
        print(f"[{time.time() - started:7.0f}s] {i}/{n} runs", flush=True)


# -- speed at 100 finished trials in 7-D -------------------------------------------------------

def _lcbench_toy(c: Mapping[str, Any]) -> float:
    """A cheap smooth-with-bumps loss over LCBench's 7-D space (for timing only)."""
    u = [math.log10(c["lr"]) + 2.5, math.log2(c["batch_size"]) / 8 - 0.7, c["momentum"] - 0.9,
         math.log10(c["weight_decay"]) + 3, c["dropout"] - 0.2, math.log2(c["units"]) / 8 - 0.8,
         (c["layers"] - 2) / 3]
    return float(sum(x * x for x in u) + 0.3 * math.sin(3 * u[0]) * math.cos(2 * u[3]))


TIMING_PROBLEM = Problem("lcbench_toy", LCBENCH, _lcbench_toy, "synthetic", "timing only")


def _optuna_distribution(p: P):
    import optuna

    if p.kind == "float":
        return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
    if p.kind == "int":
        return optuna.distributions.IntDistribution(int(p.low), int(p.high), log=p.log)
    return optuna.distributions.CategoricalDistribution(list(p.options))


def suggestion_timing(optimizers: Mapping[str, str | Callable[..., Any]] | Sequence[str],
                      trials: int = 100, reps: int = 3) -> dict[str, dict[str, float]]:
    """ms for one suggestion with ``trials`` finished random trials in LCBench's 7-D space: a fresh
    sampler (cold) and the next suggestion after one more trial (warm: samplers may reuse their
    previous fit); wall and CPU (``*_cpu``) ms, median over ``reps``."""
    import optuna
    from knobs.trial import FrozenTrial, TrialState

    _quiet()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if not isinstance(optimizers, Mapping):
        optimizers = {name: name for name in optimizers}
    problem = TIMING_PROBLEM
    space = problem.space()
    dists = {n: _optuna_distribution(p) for n, p in problem.params.items()}
    out: dict[str, dict[str, list[float]]] = {label: {"cold": [], "warm": [], "cold_cpu": [], "warm_cpu": []}
                                              for label in optimizers}
    for rep in range(reps):
        configs = space.sample(np.random.default_rng(rep), trials + 1)
        values = [problem.objective(c) for c in configs]
        for label, spec in optimizers.items():
            sampler = resolve_optimizer(spec)(seed=rep)
            if _is_optuna(sampler):
                study = optuna.create_study(sampler=sampler)
                for c, v in zip(configs[:trials], values[:trials]):
                    study.add_trial(optuna.trial.create_trial(params=c, distributions=dists, value=v))
                for phase in ("cold", "warm"):
                    t0, c0 = time.perf_counter(), time.process_time()
                    trial = study.ask()
                    config = problem.suggest_optuna(trial)
                    out[label][phase].append(1000 * (time.perf_counter() - t0))
                    out[label][phase + "_cpu"].append(1000 * (time.process_time() - c0))
                    study.tell(trial, problem.objective(config))
                continue
            history = [FrozenTrial(i, c, TrialState.COMPLETE, v)
                       for i, (c, v) in enumerate(zip(configs[:trials], values[:trials]))]
            for phase, hist in (("cold", history),
                                ("warm", history + [FrozenTrial(trials, configs[trials], TrialState.COMPLETE,
                                                                values[trials])])):
                t0, c0 = time.perf_counter(), time.process_time()
                sampler.suggest(space, hist)
                out[label][phase].append(1000 * (time.perf_counter() - t0))
                out[label][phase + "_cpu"].append(1000 * (time.process_time() - c0))
    return {label: {ph: round(float(np.median(v)), 1) for ph, v in d.items()} for label, d in out.items()}


# -- report -----------------------------------------------------------------------------------

def format_tables(result: Mapping[str, Any], timing: Mapping[str, Any] | None = None) -> str:
    budgets, optimizers = result["budgets"], result["optimizers"]
    lines: list[str] = []
    for split, block in result["sets"].items():
        lines.append(f"\n== {split} set: normalized score, mean ± SE over {len(result['seeds'])} seeds "
                     f"(1 = best found, 0 = median random) ==")
        head = "".join(f"  {'@' + str(b):>15s}" for b in budgets) + f"  {'ms/suggest':>10s}  {'cpu ms':>7s}"
        for fam, f in block["families"].items():
            lines.append(f"\n{fam} ({', '.join(f['problems'])})" + _other_seeds(f, result))
            lines.append(f"  {'optimizer':20s}{head}")
            for o in optimizers:
                cells = "".join(f"  {f['score'][o][str(b)]['mean']:7.3f} ± {f['score'][o][str(b)]['se']:5.3f}"
                                for b in budgets)
                cpu = f["suggest_cpu_ms_median"][o]
                lines.append(f"  {o:20s}{cells}  {f['suggest_ms_median'][o]:10.1f}  "
                             + (f"{cpu:7.1f}" if cpu is not None else f"{'-':>7s}"))
        leads = block["leads"]
        lines.append(f"\n{leads['optimizer']} behind another optimizer in: {', '.join(leads['behind_in']) or 'none'}")
        lines.append(f"\nper problem at budget {max(budgets)}")
        lines.append(f"  {'problem':22s}" + "".join(f"{o[:18]:>19s}" for o in optimizers))
        for fam, f in block["families"].items():
            for p, row in f["per_problem"].items():
                lines.append(f"  {p:22s}" + "".join(f"{row[o][str(max(budgets))]:19.3f}" for o in optimizers))
    if timing:
        lines.append("\nms per suggestion at 100 finished trials, LCBench 7-D (median of reps; wall / CPU):")
        for o, d in timing.items():
            lines.append(f"  {o:20s} cold {d['cold']:8.1f} / {d.get('cold_cpu', math.nan):8.1f}   "
                         f"warm {d['warm']:8.1f} / {d.get('warm_cpu', math.nan):8.1f}")
    return "\n".join(lines)


def _other_seeds(family: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """A family's own seed count where it differs from the table's (a merge of runs made apart)."""
    n = family.get("seeds", len(result["seeds"]))
    return f" [{n} seeds]" if n != len(result["seeds"]) else ""


def format_markdown(result: Mapping[str, Any]) -> str:
    """The tables as Markdown (for docs/benchmarks.md): per set, one row per family and budget,
    the best mean in bold; then median CPU ms per suggestion per family."""
    budgets, optimizers = result["budgets"], result["optimizers"]
    out: list[str] = []
    for split, block in result["sets"].items():
        out += [f"\n{split} set, normalized score (mean ± SE over {len(result['seeds'])} seeds):\n",
                "| family (problems) | budget | " + " | ".join(optimizers) + " |",
                "|---|---|" + "---|" * len(optimizers)]
        for fam, f in block["families"].items():
            for b in budgets:
                cells = [f["score"][o][str(b)] for o in optimizers]
                top = max(c["mean"] for c in cells)
                text = [(f"**{c['mean']:.3f}**" if c["mean"] == top else f"{c['mean']:.3f}") + f" ± {c['se']:.3f}"
                        for c in cells]
                out.append(f"| {fam} ({', '.join(f['problems'])}){_other_seeds(f, result)} | {b} | "
                           + " | ".join(text) + " |")
        out += ["", "| family | " + " | ".join(f"{o} CPU / wall ms" for o in optimizers) + " |",
                "|---|" + "---|" * len(optimizers)]
        for fam, f in block["families"].items():
            cells = []
            for o in optimizers:
                cpu = f.get("suggest_cpu_ms_median", {}).get(o)
                cells.append(f"{cpu:.1f} / {f['suggest_ms_median'][o]:.0f}" if cpu is not None
                             else f"- / {f['suggest_ms_median'][o]:.0f}")
            out.append(f"| {fam} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def headline(result: Mapping[str, Any], timing: Mapping[str, Any] | None, split: str) -> dict[str, Any]:
    """The one-line JSON: every family's scores (mean, se over its own seeds, counted) and median ms, per set."""
    return {
        "bench": "search", "set": split, "seeds": len(result["seeds"]), "budgets": result["budgets"],
        "optimizers": result["optimizers"],
        "sets": {s: {"families": {fam: {"problems": f["problems"], "seeds": f["seeds"], "score": f["score"],
                                        "suggest_ms_median": f["suggest_ms_median"],
                                        "suggest_cpu_ms_median": f["suggest_cpu_ms_median"]}
                                  for fam, f in block["families"].items()},
                     "leads": block["leads"]} for s, block in result["sets"].items()},
        "ms_per_suggestion_100_trials_7d": timing, "wall_s": result["wall_s"],
    }


def merge_results(paths: Sequence[Path | Mapping[str, Any]], arms: Sequence[str] | None = None,
                  problems: Sequence[str] | None = None) -> dict[str, Any]:
    """One result from several saved runs (``--out`` files) of the same budgets: runs concatenated,
    medians united, best_any the minimum; so families run apart (or on other machines) make one table.

    ``arms`` / ``problems``: only these optimizers' runs / these problems. Why: a family's table takes the seeds
    every optimizer ran on every member, so one arm that lacks fresh seeds (or one problem that does) cuts
    every other arm back to the common seeds; leaving it out keeps them. best_any still counts every run.
    ``paths``: the files, or their contents already read.
    """
    saved = [p if isinstance(p, Mapping) else json.loads(Path(p).read_text()) for p in paths]
    budgets = saved[0]["headline"]["budgets"]
    if any(s["headline"]["budgets"] != budgets for s in saved):
        raise ValueError("merge: the files were run with different --budgets")
    runs = [r for s in saved for r in s["runs"]]
    optimizers = list(dict.fromkeys(o for s in saved for o in s["headline"]["optimizers"]))
    medians = {p: m for s in saved for p, m in s["medians"].items()}
    unknown = sorted(set(arms or ()) - set(optimizers)) + sorted(set(problems or ()) - set(medians))
    if unknown:
        raise ValueError(f"merge: {unknown} not in the files (optimizers {optimizers}, problems {sorted(medians)})")
    if arms:
        optimizers = [o for o in optimizers if o in arms]
        runs = [r for r in runs if r["optimizer"] in arms]
    best_any = {p: min(s["best_any"][p] for s in saved if p in s["best_any"]) for p in medians}
    if problems:
        medians = {p: m for p, m in medians.items() if p in problems}
        best_any = {p: best_any[p] for p in medians}
        runs = [r for r in runs if r["problem"] in medians]
    return {"sets": summarize(runs, medians, best_any, budgets, optimizers), "medians": medians,
            "best_any": best_any, "runs": runs, "budgets": budgets,
            "seeds": sorted({r["seed"] for r in runs}), "optimizers": optimizers,
            "wall_s": round(sum(s["headline"]["wall_s"] for s in saved), 1)}


def _list_problems() -> str:
    lines = []
    for split in SETS:
        for fam in FAMILIES:
            names = select_problems(split, [fam])
            lines.append(f"{split:5s} {fam:9s} " + ", ".join(names))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="dev", choices=(*SETS, "all"),
                        help="dev: tune on these; check: confirm only, never tune on")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help=f"comma-separated, from {','.join(FAMILIES)}")
    parser.add_argument("--problems", nargs="+", default=None, help="only these problem names")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="run seeds FIRST .. FIRST + SEEDS - 1: fresh seeds to confirm a result on "
                             "(a run merges with earlier ones by --merge)")
    parser.add_argument("--budgets", type=int, nargs="+", default=[20, 40, 80])
    parser.add_argument("--optimizers", nargs="+", default=list(DEFAULT_OPTIMIZERS),
                        help="built-in names, label=module:attr or module:attr (a factory(seed=...)); "
                             "the first is the one 'leads' reports on")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--timing-reps", type=int, default=3, help="0 skips the 7-D timing")
    parser.add_argument("--timing-only", action="store_true", help="only ms per suggestion at 100 trials, 7-D")
    parser.add_argument("--reference", type=Path, default=REFERENCE,
                        help="medians and bests of earlier runs (scores comparable across runs)")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--update-reference", action="store_true",
                        help="merge this run's (or --merge's) medians and bests into --reference")
    parser.add_argument("--median-configs", type=int, default=N_MEDIAN,
                        help="random configurations for each problem's zero point (other than "
                             f"{N_MEDIAN}: the reference is not used)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"where the run's JSON goes (default {RESULTS.relative_to(RESULTS.parents[2])}); "
                             "a --merge writes one only when this is given")
    parser.add_argument("--list", action="store_true", help="list the problems by set and family")
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="no run: merge these --out files into one table (and --out, when given); "
                             "--problems keeps only those problems")
    parser.add_argument("--paired", nargs=2, metavar=("ARM", "BASE"), default=None,
                        help="with --merge: ARM minus BASE seed by seed, per family (labels as in the files)")
    parser.add_argument("--arms", nargs="+", default=None,
                        help="with --merge: only these optimizers (labels as in the files), so an arm that lacks "
                             "some seeds does not cut the others back to the seeds they share with it")
    args = parser.parse_args(argv)
    if args.list:
        print(_list_problems())
        return {}
    if (args.arms or args.paired) and not args.merge:
        parser.error("--arms and --paired read the runs of --merge's files; for a new run name --optimizers")
    if args.merge:
        missing = [f for f in args.merge if not Path(f).is_file()]
        if missing:
            parser.error(f"--merge: no such file {', '.join(map(str, missing))} (a run's JSON is the file its --out named)")
        saved = [json.loads(Path(f).read_text()) for f in args.merge]  # read once: timing, runs, median counts
        timing = next((t for t in (s["headline"].get("ms_per_suggestion_100_trials_7d") for s in saved) if t), None)
        try:
            merged = merge_results(saved, args.arms, args.problems)
        except ValueError as error:
            parser.error(str(error))
        if args.paired:
            missing = sorted(set(args.paired) - set(merged["optimizers"]))
            if missing:
                parser.error(f"--paired: {missing} not among the merged optimizers {merged['optimizers']}")
            print(format_paired(paired(merged["runs"], merged["medians"], merged["best_any"], merged["budgets"],
                                       *args.paired), *args.paired, merged["budgets"]))
        counts = {s["args"].get("median_configs", N_MEDIAN) for s in saved}
        if args.update_reference and not args.no_reference and counts == {N_MEDIAN}:
            update_reference(args.reference, merged["medians"], merged["best_any"])
        return _report(merged, timing, "merged", args, list(args.merge))
    # NOTE: only a run writes the default file: a merge printed for reading once overwrote the stored results.
    args.out = args.out or RESULTS
    optimizers = _parse_optimizers(args.optimizers)
    if args.timing_only:
        timing = suggestion_timing(optimizers, reps=max(1, args.timing_reps))
        print(format_tables({"sets": {}, "budgets": [], "optimizers": [], "seeds": []}, timing))
        line = {"bench": "search", "ms_per_suggestion_100_trials_7d": timing}
        print(json.dumps(line))
        return line
    problems = select_problems(args.set, [f for f in args.families.split(",") if f], args.problems)
    if not problems:
        parser.error("no problem matches --set / --families / --problems")
    reference = None if args.no_reference else args.reference
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    result = run_family_table(optimizers, problems, seeds, args.budgets, args.jobs, reference,
                              median_configs=args.median_configs)
    timing = suggestion_timing(optimizers, reps=args.timing_reps) if args.timing_reps > 0 else None
    if args.update_reference and reference is not None and args.median_configs == N_MEDIAN:
        update_reference(reference, result["medians"], result["best_any"])
    return _report(result, timing, args.set, args, problems)


def _report(result: Mapping[str, Any], timing: Mapping[str, Any] | None, split: str,
            args: argparse.Namespace, problems: Sequence[Any]) -> dict[str, Any]:
    print(format_tables(result, timing))
    if getattr(args, "markdown", False):
        print(format_markdown(result))
    line = headline(result, timing, split)
    if args.out is None:
        print(json.dumps(line))
        return line
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "headline": line,
        "args": {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "merge" and v else v)
                 for k, v in vars(args).items()},
        "sets": result["sets"], "medians": result["medians"], "best_any": result["best_any"],
        "problems": {p: {"family": ALL_PROBLEMS[p].family, "set": ALL_PROBLEMS[p].split,
                         "note": ALL_PROBLEMS[p].note} for p in result["medians"]},
        "runs": result["runs"],
        "environment": environment(),
    }, indent=1))
    print(json.dumps(line))
    return line


def environment() -> dict[str, Any]:
    """The versions a run's figures came from (Python, the numeric stack, the anchors) and the commit of knobs.

    Why: Optuna's GPSampler runs of one seed parted from an earlier session's stored ones after its random start,
    and the earlier version was not recorded, so whether Optuna or chance moved them could not be told."""
    import importlib.metadata as metadata
    import platform
    import subprocess

    versions = {"python": platform.python_version()}
    for package in ("knobs", "numpy", "scipy", "scikit-learn", "torch", "optuna"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                                capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"versions": versions, "commit": commit}


if __name__ == "__main__":
    main()
