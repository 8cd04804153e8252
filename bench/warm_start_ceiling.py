"""What a warm start can do at best on bench/warm_start_real.py's targets: the source is another cold run of the
target itself (the same images, rows and epochs; seed s's run warm-started from the stored cold run of the next
seed), the most related a source can be.

Why: item 6 (issue 17) asks a run warm-started from a related study (another subset, fewer epochs) to reach the
cold start's 40-trial best within 20 trials. bench/warm_start_real.py's related source (half the rows, half the
epochs) gets there on 40% of seeds. Whether the gap to "most seeds" is the source's (what half the data and
epochs can say about the target) or the sampler's (how ``Bayes`` uses any source) is read off this ceiling: a
source that is the target's own function with 40 of its points known. If even it reaches cold's 40-trial best
within 20 trials on few seeds, no related source can do better with this sampler; if on most, the sampler can
use a source that good, and the gap is what a cheaper study does not know.

Reads the cold runs stored by bench/warm_start_real.py (``--runs FILE ...``: configs and errors of every seed),
trains only the warm runs: ``PYTHONPATH=src nice -n 5 .venv/bin/python bench/warm_start_ceiling.py --runs
bench/results/warm_start_real_dev_vet_fast.json ... --trials 20 --jobs 2``. Prints per target the seeds within 20
trials (beside the stored related and unrelated arms of the same seeds, and what rerunning the source's best
configuration alone reaches) and writes bench/results/warm_start_ceiling_<set>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _jobs import map_jobs  # noqa: E402
from problems_real import REAL_PROBLEMS  # noqa: E402
from warm_start_real import (RESULTS, TARGETS, VARIANTS, best_path, merge_rows, objectives,  # noqa: E402
                             study_run, variant)


def _replay(configs: list[dict[str, Any]]) -> Any:
    """A sampler that suggests ``configs`` in order (a stored run written back as a study of its own)."""
    from knobs.search import Sampler

    class Replay(Sampler):
        def suggest(self, space: Any, trials: Any, n: int = 1, **_: Any) -> list[dict[str, Any]]:
            return [dict(c) for c in configs[len(trials):len(trials) + n]]

    return Replay()


def stored_study(space: Any, run: dict[str, Any], url: str) -> None:
    """A study at ``url`` holding ``run``'s configs and errors as its trials, in order (a failed trial as
    failed). Not through ``Study.ask_fixed``: a warm start leaves fixed trials out."""
    from knobs import Study

    study = Study(space, sampler=_replay(run["configs"]), storage=url, name="search")
    for value in run["values"]:
        trial = study.ask()
        if value is None:
            study.tell(trial, state="failed")
        else:
            study.tell(trial, value)
    study.close()


def one_seed(task: tuple) -> dict[str, Any]:
    """The warm run of ``seed`` on ``target`` from ``source`` (another seed's stored cold run)."""
    target, seed, source, trials, variant_name = task
    spec = {**TARGETS["dev"], **TARGETS["check"]}[target]
    space = REAL_PROBLEMS[target].space()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/source.db"
        stored_study(space, source, url)
        with variant(variant_name):
            run = study_run(space, objectives(spec, seed)["target"], seed, trials, f"sqlite:///{tmp}/warm.db",
                            warm_start=url)
    return {"target": target, "seed": seed, "same task": run, "source best": best_path(source["values"])[-1]}


def summarize(rows: list[dict], stored: dict[tuple, dict], trials: int) -> dict[str, Any]:
    """Per target: mean best at 10 / ``trials`` and the seeds within ``trials`` trials of cold's best, for the
    same-task source and the stored arms of the same seeds; cold's mean best; and the seeds where rerunning the
    same-task source's best configuration alone would reach cold's best (the target is one fixed function)."""
    out: dict[str, Any] = {}
    for target in sorted({r["target"] for r in rows}):
        mine = [r for r in rows if r["target"] == target]
        cells: dict[str, list] = {"same task": [], "related": [], "unrelated": []}
        cold_bests, replay = [], 0
        for r in mine:
            kept = stored[(target, r["seed"])]
            cold_best = best_path(kept["cold"]["values"])[-1]
            cold_bests.append(cold_best)
            replay += r["source best"] <= cold_best + 1e-12
            for arm in cells:
                run = r["same task"] if arm == "same task" else kept[arm]
                path = best_path(run["values"][:trials])
                cells[arm].append((path[min(10, trials) - 1], path[-1], path[-1] <= cold_best + 1e-12))
        out[target] = {"seeds": len(mine), "cold_mean_best": round(statistics.mean(cold_bests), 4),
                       "replay_within": replay, **{
            arm: {"mean_best_at_10": round(statistics.mean(c[0] for c in v), 4),
                  f"mean_best_at_{trials}": round(statistics.mean(c[1] for c in v), 4),
                  "within": sum(c[2] for c in v)} for arm, v in cells.items()}}
    return out


def format_table(summary: dict[str, Any], trials: int) -> str:
    lines = [f"| target (seeds) | source | mean best @10 / @{trials} | reaches cold's 40-trial best within {trials} |",
             "|---|---|---|---|"]
    for target, s in summary.items():
        for arm in ("same task", "related", "unrelated"):
            a = s[arm]
            lines.append(f"| {target} ({s['seeds']}) | {arm} | {a['mean_best_at_10']:.4f} / "
                         f"{a[f'mean_best_at_{trials}']:.4f} | {a['within']} of {s['seeds']} |")
        lines.append(f"| {target} ({s['seeds']}) | cold (mean best of all its trials) / the same-task source's best "
                     f"config rerun | {s['cold_mean_best']:.4f} | {s['replay_within']} of {s['seeds']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=Path, nargs="+", required=True,
                        help="bench/warm_start_real.py result files (their cold runs are the sources and references)")
    parser.add_argument("--targets", nargs="+", help="some of the files' targets (default: all)")
    parser.add_argument("--seeds", type=int, help="the first N seeds of each target (default: all stored)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default",
                        help="how Bayes models the source (bench/warm_start_real.py's VARIANTS)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    _, rows = merge_rows(args.runs, ["default"])
    stored = {(r["target"], r["seed"]): r for r in rows}
    tasks = []
    for target in sorted({t for t, _ in stored}):
        if args.targets and target not in args.targets:
            continue
        seeds = sorted(s for t, s in stored if t == target)
        for i, seed in enumerate(seeds[:args.seeds]):
            source = stored[(target, seeds[(i + 1) % len(seeds)])]["cold"]
            tasks.append((target, seed, source, args.trials, args.variant))
    if not tasks:
        parser.error("no stored runs of those targets")
    rows_out = map_jobs(one_seed, tasks, args.jobs)
    summary = summarize(rows_out, stored, args.trials)
    print(format_table(summary, args.trials))
    split = "check" if all(t in TARGETS["check"] for t, *_ in tasks) else "dev"
    out = args.out or RESULTS / f"warm_start_ceiling_{split}.json"
    out.write_text(json.dumps({"runs": [str(p) for p in args.runs], "trials": args.trials, "variant": args.variant,
                               "summary": summary,
                               "rows": rows_out}, separators=(",", ":")))
    headline = {"bench": "warm_start_ceiling", "trials": args.trials, "variant": args.variant, **summary}
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
