"""Warm starts where a configuration's worth is more than noise: LCBench-space MLP trainings of bench/search.py,
cold and warm-started through ``knobs.Study(..., warm_start=...)``.

Why a second warm-start benchmark: on ``bench/warm_start.py``'s target (``knobs tune`` on all of digits, 30 epochs
with early stopping) every configuration converges; its good region is a plateau whose ranking changes with the
split, so even another seed's cold run of the same task predicts a cold run's trials with Spearman rho 0.14 and no
source can help (docs/benchmarks.md, "Own design points, and twenty-four seeds"). Here the target is a fixed
function: one real training per configuration (the problem's own rows, epochs and torch seed), its validation error
rate, in the 7-D LCBench space (learning rate over three decades, batch size, momentum, weight decay, dropout,
width, depth), where configurations differ by tens of points.

Per target and seed s (Bayes(seed=s) in every study, ``--trials`` each):
- related source: the same images, another subset (drawn with seed 100 + s), half the training and validation rows,
  half the epochs — an earlier, cheaper study of the same problem;
- unrelated source: the other data set (digits for a Fashion-MNIST target and back), seed 200 + s;
- cold, warm from the related source, warm from the unrelated one.
Scores: best error after k trials; the trial at which a warm run reaches the cold run's best of all its trials;
points = 100 x (cold's best - warm's best) at the end (negative: warm lost). Item 6's targets (issue 17): related
reaches cold's 40-trial best within 20 trials; unrelated loses at most 1 point against cold.

How much a source can say (the benchmark's own check): knobs' GP fitted on a source's trials predicts the cold
run's trials; Spearman rho between prediction and the cold run's errors. Reference: the cold run of the next
seed (the same function, other points).

Run: ``nice -n 5 .venv/bin/python bench/warm_start_real.py [--set dev|check] [--seeds 12] [--jobs 2]``; prints a
table, writes bench/results/warm_start_real_<set>.json, its last line one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _jobs import map_jobs  # noqa: E402
from problems_real import REAL_PROBLEMS, mlp_objective  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: target problem -> (images, training rows, validation rows, epochs, torch / subset seed, the other data set)
TARGETS = {"dev": {"lcbench_fashion": ("fashion14", 600, 600, 6, 12, "digits"),
                   "lcbench_digits": ("digits", 300, 500, 10, 11, "fashion14")},
           "check": {"lcbench_fashion_b": ("fashion14", 400, 600, 8, 13, "digits"),
                     "lcbench_digits_b": ("digits", 500, 500, 6, 14, "fashion14")}}


#: how Bayes models the source (``--variants``): class attributes set for the warm arms, and "history": a
#: ``bench/warm_start.py`` history variant (kind, horizon) on plain pooling. Measured in docs/benchmarks.md.
#: NOTE: "default" is Bayes as it is; the result files before session 16 ran it without source vetting, which
#: "no-vet" reproduces (and "vet-late" is today's default, as measured against them). "drop-design"
#: (``_design_on_drop = 8``), "own-design" and "vet-own" (``_own_design = 4``) and "first2" (``_sources_first = 2``)
#: were measured on commit b0c980d or before it, "noise-design" (``_drop_on_noise = 0.4``, ``_design_on_noise = 8``)
#: on 5cc555e, "greedy1" and "greedy3" (``_warm_greedy``) on b0e1f63, "first1" (``_sources_first = 1``) on 672fb1a,
#: and taken out with their ``Bayes`` switches. "no-fill" is today's default without the flat fill (``_flat_fill``,
#: on since session 22), which the files before it ran without.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "two-task": {"_two_task": True},
    "per-axis": {"_two_task": True, "_two_task_per_axis": True},
    "pooled": {"_pooled_matched": False},
    "drop10": {"_pooled_matched": False, "history": ("drop", 10)},
    "no-vet": {"_vet_sources": False},
    "vet": {"_vet_sources": True, "_vet_from": 5},
    "vet-late": {"_vet_sources": True, "_vet_from": 20},
    "vet-12": {"_vet_sources": True, "_vet_from": 12},
    "no-fill": {"_flat_fill": None},
}


@contextlib.contextmanager
def variant(name: str):
    """Bayes as ``VARIANTS[name]`` models a source, for the duration of the block."""
    from knobs.search import _bayes

    settings = dict(VARIANTS[name])
    history = settings.pop("history", None)
    saved = {k: getattr(_bayes.Bayes, k) for k in settings}
    saved_history = _bayes.model_history
    try:
        for k, v in settings.items():
            setattr(_bayes.Bayes, k, v)
        if history:
            import warm_start
            _bayes.model_history = warm_start.history_variant(*history)
        yield
    finally:
        for k, v in saved.items():
            setattr(_bayes.Bayes, k, v)
        _bayes.model_history = saved_history


def arm_name(arm: str, variant_name: str) -> str:
    return arm if variant_name == "default" else f"{arm}, {variant_name}"


def objectives(spec: tuple, seed: int) -> dict[str, Any]:
    """The target and its two sources for one seed (the target does not depend on the seed)."""
    data, n_train, n_val, epochs, problem_seed, other = spec
    return {"target": mlp_objective(data, n_train, n_val, epochs, problem_seed),
            "related": mlp_objective(data, n_train // 2, n_val // 2, max(1, epochs // 2), 100 + seed),
            "unrelated": mlp_objective(other, 300, 300, epochs, 200 + seed)}


def study_run(space, objective, seed: int, trials: int, url: str, warm_start: str | None = None) -> dict[str, Any]:
    """One study of ``trials`` Bayes trials, stored at ``url``: its configs and errors in order, and wall time."""
    import torch
    from threadpoolctl import threadpool_limits

    from knobs import Study
    from knobs.search import Bayes

    torch.set_num_threads(1)
    study = Study(space, sampler=Bayes(seed=seed), storage=url, name="search", warm_start=warm_start)
    start = time.perf_counter()
    with threadpool_limits(limits=1):
        study.optimize(lambda config, trial: objective(config), n_trials=trials)
    own = sorted((t for t in study.trials if t.number >= 0), key=lambda t: t.number)
    study.close()
    return {"configs": [t.config for t in own], "values": [t.value for t in own],
            "wall_s": round(time.perf_counter() - start, 1)}


def one_seed(task: tuple) -> dict[str, Any]:
    """Sources, cold and both warm runs (one pair per variant) of one target and seed."""
    name, spec, seed, trials, *rest = task
    variants = rest[0] if rest else ["default"]
    space = REAL_PROBLEMS[name].space()
    fns = objectives(spec, seed)
    out: dict[str, Any] = {"target": name, "seed": seed}
    with tempfile.TemporaryDirectory() as tmp:
        url = {arm: f"sqlite:///{tmp}/{arm}.db" for arm in ("related source", "unrelated source", "cold",
                                                          "related", "unrelated")}
        out["related source"] = study_run(space, fns["related"], seed, trials, url["related source"])
        out["unrelated source"] = study_run(space, fns["unrelated"], seed, trials, url["unrelated source"])
        out["cold"] = study_run(space, fns["target"], seed, trials, url["cold"])
        for v in variants:
            for arm in ("related", "unrelated"):
                with variant(v):
                    out[arm_name(arm, v)] = study_run(space, fns["target"], seed, trials, f"{url[arm]}.{v}",
                                                      warm_start=url[f"{arm} source"])
    return out


def best_path(values: list) -> list[float]:
    """Best error after each trial (a failed trial counts as not better)."""
    out, best = [], float("inf")
    for v in values:
        best = min(best, v) if v is not None else best
        out.append(best)
    return out


def reach(path: list[float], target: float) -> int | None:
    """The first trial (1-based) whose best is at least as good as ``target``."""
    return next((k + 1 for k, v in enumerate(path) if v <= target + 1e-12), None)


def predictive_rho(train: dict, test: dict, space) -> float:
    """Spearman rho between knobs' GP fitted on ``train``'s trials, predicting ``test``'s, and ``test``'s errors."""
    import numpy as np
    from scipy.stats import spearmanr

    from knobs.search._bayes import Bayes, _Coding
    from knobs.search._gp import transforms
    from knobs.search._gp.gp import posterior

    pairs = [(c, v) for c, v in zip(train["configs"], train["values"]) if v is not None]
    sampler = Bayes(seed=0)
    rng = sampler._generator()
    coding = _Coding(space)
    X = coding.encode(space.to_unit_many([c for c, _ in pairs]))
    model = sampler._fit(X, transforms.WARPS["power"](np.array([v for _, v in pairs])), coding, rng)
    kept = [(c, v) for c, v in zip(test["configs"], test["values"]) if v is not None]
    mean = posterior(model, coding.encode(space.to_unit_many([c for c, _ in kept])))[0]
    rho = spearmanr(mean, [v for _, v in kept]).statistic
    return float(rho) if rho == rho else 0.0


def warm_arms(row: dict) -> list[str]:
    """The warm arms a row holds: "related", "unrelated", and "<arm>, <variant>" for each other variant."""
    return [k for k in row if k.startswith(("related", "unrelated")) and not k.endswith("source")]


def cold_pairs(cells: dict[int, dict], trials: int) -> dict[str, float]:
    """Item 6's two counts for another cold run in place of the warm one: over every ordered pair of seeds (a, b),
    the share where cold run b reaches cold run a's best of all trials within 20, and where b ends more than 1 point
    behind a. Why: the floor a per-seed count stands on; two cold runs of the same target differ by this much."""
    pairs = [(a, b) for a in cells for b in cells if a != b]
    if not pairs:
        return {"within_20": 0.0, "below_minus_1": 0.0}
    return {"within_20": round(statistics.mean(cells[b]["cold"][1] <= cells[a]["cold"][2] + 1e-12 for a, b in pairs), 3)
            if trials >= 20 else 0.0,
            "below_minus_1": round(statistics.mean(100 * (cells[a]["cold"][2] - cells[b]["cold"][2]) < -1 for a, b in pairs), 3)}


def summarize(rows: list[dict], trials: int) -> dict[str, Any]:
    """Per target: per seed and mean scores, the targets of item 6, and the sources' predictive rho."""
    out: dict[str, Any] = {}
    for name in sorted({r["target"] for r in rows}):
        mine = sorted((r for r in rows if r["target"] == name), key=lambda r: r["seed"])
        space = REAL_PROBLEMS[name].space()
        seeds, cells = [r["seed"] for r in mine], {}
        for r in mine:
            cold = best_path(r["cold"]["values"])
            cell = {"cold": [cold[min(k, trials) - 1] for k in (10, 20, trials)]}
            for arm in warm_arms(r):
                path = best_path(r[arm]["values"])
                cell[arm] = [path[min(k, trials) - 1] for k in (10, 20, trials)]
                cell[f"{arm} reaches cold at"] = reach(path, cold[-1])
                cell[f"{arm} points vs cold"] = round(100 * (cold[-1] - path[-1]), 2)
            cells[r["seed"]] = cell
        by_seed = {r["seed"]: r for r in mine}
        rho = {arm: [predictive_rho(r[f"{arm} source"], r["cold"], space) for r in mine]
               for arm in ("related", "unrelated")}
        rho["cold, next seed"] = [predictive_rho(by_seed[seeds[(i + 1) % len(seeds)]]["cold"], r["cold"], space)
                                  for i, r in enumerate(mine)]
        arms = warm_arms(mine[0])
        mean = {arm: [round(statistics.mean(c[arm][i] for c in cells.values()), 4) for i in range(3)]
                for arm in ("cold", *arms)}
        out[name] = {
            "seeds": seeds, "per_seed": cells, "mean_best_at_10_20_end": mean,
            "within_20": {a: sum((c[f"{a} reaches cold at"] or trials + 1) <= 20 for c in cells.values()) for a in arms},
            "worst_points": {a: min(c[f"{a} points vs cold"] for c in cells.values()) for a in arms},
            "below_minus_1": {a: sum(c[f"{a} points vs cold"] < -1 for c in cells.values()) for a in arms},
            "another_cold_run": cold_pairs(cells, trials),
            "predictive_rho_mean": {k: round(statistics.mean(v), 3) for k, v in rho.items()},
        }
    return out


def format_table(summary: dict[str, Any], trials: int) -> str:
    """One row per target and arm: mean best error at 10 / 20 / all trials, and item 6's two counts."""
    lines = [f"| target | arm | mean best @10 / @20 / @{trials} | reaches cold's best within 20 | "
             "seeds more than 1 point behind cold (worst) |", "|---|---|---|---|---|"]
    for name, s in summary.items():
        n = len(s["seeds"])
        lines.append(f"| {name} ({n} seeds) | cold | " + " / ".join(f"{v:.4f}" for v in s["mean_best_at_10_20_end"]["cold"])
                     + " | | |")
        for arm in s["within_20"]:
            lines.append(f"| | {arm} | " + " / ".join(f"{v:.4f}" for v in s["mean_best_at_10_20_end"][arm])
                         + f" | {s['within_20'][arm]} of {n} | {s['below_minus_1'][arm]} ({s['worst_points'][arm]:+.2f}) |")
        if "another_cold_run" in s:
            floor = s["another_cold_run"]
            lines.append(f"| | another cold run (every other seed's, share of pairs) | | {floor['within_20']:.0%} | "
                         f"{floor['below_minus_1']:.0%} |")
        rho = s["predictive_rho_mean"]
        lines.append(f"| | rho of a GP on the related / unrelated source / the next seed's cold run | "
                     f"{rho['related']:.2f} / {rho['unrelated']:.2f} / {rho['cold, next seed']:.2f} | | |")
    return "\n".join(lines)


def keep_chances(row: dict, arm: str, counts=(8, 12, 16, 20)) -> list[tuple[float, bool]]:
    """``Bayes._vet_sources``'s keep chance for ``arm``'s source after the warm run's first n results, for each
    n in ``counts``, as the run's model would compute it (each study standardized and warped on its own), and
    whether RGPE's dilution test would drop the source (its median ranking loss above the 95th percentile of
    the run's own). Why: to see whether any keep-chance rule tells a failed source from a useful one."""
    import numpy as np

    from knobs.search._bayes import _Coding
    from knobs.search._gp import transforms
    from knobs.search._history import _standardized
    from knobs.search._source_vetting import ranking_loss_draws, win_chance

    space = REAL_PROBLEMS[row["target"]].space()
    coding, rng = _Coding(space), np.random.default_rng(0)
    source, run = row[f"{arm} source"], row[arm]
    X_source = coding.encode(space.to_unit_many(source["configs"]))
    X_run = coding.encode(space.to_unit_many(run["configs"]))
    out = []
    warp = transforms.WARPS["power"]
    y_source = warp(np.array(_standardized(source["values"])))
    for n in counts:
        y_run = warp(np.array(_standardized(run["values"][:n])))
        source_loss, own_loss = ranking_loss_draws(X_run[:n], y_run, X_source, y_source, coding.is_cat, rng)
        out.append((round(win_chance(source_loss, own_loss), 2),
                    bool(np.median(source_loss) > np.quantile(own_loss, 0.95))))
    return out


def keep_chance_table(rows: list[dict]) -> str:
    """Per target, arm and seed: the source's best, the run's best at 20 against cold's at 40 (points gained),
    and ``keep_chances`` (* where the dilution test drops the source)."""
    lines = ["| target | arm | seed | source's best | run @20 | cold @40 | points | keep chance @8 / 12 / 16 / 20 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["target"], r["seed"])):
        cold = min(v for v in r["cold"]["values"] if v is not None)
        for arm in ("related", "unrelated"):
            at20 = best_path(r[arm]["values"])[19]
            chances = " / ".join(f"{p:.2f}{'*' if drop else ''}" for p, drop in keep_chances(r, arm))
            lines.append(f"| {r['target']} | {arm} | {r['seed']} | {min(v for v in r[f'{arm} source']['values'] if v is not None):.3f} "
                         f"| {at20:.3f} | {cold:.3f} | {100 * (cold - at20):+.1f} | {chances} |")
    return "\n".join(lines)


def merge_rows(paths: list[Path], variants: list[str] | None = None) -> tuple[int, list[dict]]:
    """The runs of several result files joined by (target, seed): the cold runs must agree (the same
    code and seeds), each file adds its warm arms. ``variants`` None: the (target, seed) pairs every file
    holds, with every arm; else the pairs any file holds that have these variants' arms, with those alone
    (so files of other seeds add up: seeds 0-11 from two files, 12-23 from a third)."""
    files = [json.loads(Path(f).read_text()) for f in paths]
    if len({f["trials"] for f in files}) != 1:
        raise SystemExit(f"--merge: the files ran different --trials: {[f['trials'] for f in files]}")
    keyed = [{(r["target"], r["seed"]): r for r in f["rows"]} for f in files]
    keys = set.intersection(*(set(k) for k in keyed)) if variants is None else set.union(*(set(k) for k in keyed))
    rows = []
    for key in sorted(keys):
        row = None
        for other, path in zip(keyed, paths):
            if key not in other:
                continue
            if row is None:
                row = dict(other[key])
            elif other[key]["cold"]["values"] != row["cold"]["values"]:
                raise SystemExit(f"--merge: {path}'s cold run of {key} differs: not the same code or seeds")
            row |= {k: v for k, v in other[key].items() if k not in row}
        rows.append(row)
    if variants is not None:
        wanted = {arm_name(arm, v) for v in variants for arm in ("related", "unrelated")}
        rows = [{k: v for k, v in r.items() if k in wanted or k not in warm_arms(r)} for r in rows if wanted <= set(r)]
    return files[0]["trials"], rows


def paired_table(rows: list[dict], variant_name: str, trials: int, base: str = "default") -> str:
    """Per target and arm: the variant's best error minus the ``base`` variant's on the same seed, after
    10 / 20 / all trials: mean ± standard error (seeds where the variant is better / worse)."""
    lines = [f"| target (seeds) | arm | {variant_name} − {base} @10 | @20 | @{trials} |", "|---|---|---|---|---|"]
    for name in sorted({r["target"] for r in rows}):
        mine = [r for r in rows if r["target"] == name]
        for arm in ("related", "unrelated"):
            cells = []
            for k in (10, 20, trials):
                d = [best_path(r[arm_name(arm, variant_name)]["values"])[k - 1]
                     - best_path(r[arm_name(arm, base)]["values"])[k - 1] for r in mine]
                se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
                cells.append(f"{statistics.mean(d):+.4f} ± {se:.4f} ({sum(x < 0 for x in d)} / {sum(x > 0 for x in d)})")
            lines.append(f"| {name} ({len(mine)}) | {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=sorted(TARGETS), default="dev")
    parser.add_argument("--targets", nargs="+", help="some of the set's targets (default: all)")
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        help="how Bayes models the source in the warm arms (each variant: its own pair of arms; "
                             "default: default). With --merge: the runs holding these variants' arms, from any file")
    parser.add_argument("--keep-chance", action="store_true",
                        help="with --merge: per seed, the default warm runs' keep chance of their source (Bayes._vet_sources)")
    parser.add_argument("--paired", choices=sorted(VARIANTS),
                        help="with --merge: this variant against the default (or --against) on the same seeds")
    parser.add_argument("--against", choices=sorted(VARIANTS), default="default",
                        help="with --paired: the variant it is compared with (a file's arms of today's default may "
                             "carry the name they were measured under, as vet-late)")
    parser.add_argument("--out", type=Path, help="default: bench/results/warm_start_real_<set>.json")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="FILE",
                        help="train nothing: the table of these result files' runs, each (target, seed) that all "
                             "of them hold with every arm any holds, or see --variants (written only with --out)")
    args = parser.parse_args(argv)
    if args.merge:
        trials, rows = merge_rows(args.merge, args.variants)
        summary = summarize(rows, trials)
        print(format_table(summary, trials))
        if args.paired:
            print(paired_table(rows, args.paired, trials, args.against))
        if args.keep_chance:
            print(keep_chance_table(rows))
        if args.out:
            args.out.write_text(json.dumps({"merged": [str(f) for f in args.merge], "trials": trials,
                                            "summary": summary, "rows": rows}, indent=1))
        return summary
    targets = {n: s for n, s in TARGETS[args.set].items() if not args.targets or n in args.targets}
    if not targets:
        parser.error(f"--targets: none of {args.targets} is in the {args.set} set {sorted(TARGETS[args.set])}")
    tasks = [(n, spec, seed, args.trials, args.variants or ["default"]) for n, spec in targets.items()
             for seed in range(args.first_seed, args.first_seed + args.seeds)]
    rows = map_jobs(one_seed, tasks, args.jobs)
    summary = summarize(rows, args.trials)
    print(format_table(summary, args.trials))
    out = args.out or RESULTS / f"warm_start_real_{args.set}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"set": args.set, "trials": args.trials, "summary": summary, "rows": rows}, indent=1))
    headline = {"bench": "warm_start_real", "set": args.set, "trials": args.trials,
                **{n: {k: s[k] for k in ("mean_best_at_10_20_end", "within_20", "worst_points",
                                         "below_minus_1", "another_cold_run", "predictive_rho_mean")}
                   for n, s in summary.items()}}
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
