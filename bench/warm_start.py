"""Warm starts on real trainings: the digits MLP search of ``knobs tune`` cold, and warm-started from
a related and from an unrelated earlier run.

Why: an earlier study of a related problem knows where the good region is; ``search.warm_start``
feeds its trials to Bayes (never stored as this run's). Targets (issue 17, item 6): warm-started from
a related study (another subset of the same data, fewer epochs) reach the cold start's 40-trial score
in at most 20 trials; from an unrelated one, lose at most 1 point against cold.

Per seed s (every run: the default MLP space, Bayes, search.metric val_loss, no ensemble):
- related source: digits, ``data.rows`` 600 drawn with seed 100 + s (another subset), 10 epochs;
- unrelated source: breast_cancer (binary tables), seed 200 + s;
- cold: digits (every row), seed s, ``--epochs`` epochs; warm-related and warm-unrelated: the same
  run with ``search.warm_start`` naming a source's run directory.
Score: the best validation loss after k trials; trials to reach: the first k at which a warm run's
best is at least as good as the cold run's after all of its trials. Points: the validation accuracy
(in percentage points) of the best trial by validation loss, warm minus cold.

Run: ``nice -n 10 .venv/bin/python bench/warm_start.py [--seeds 3] [--trials 40]``; prints a table,
writes bench/results/warm_start.json, and its last line is one JSON object.

Variants of how long the source counts (measured, not kept; docs/benchmarks.md): ``--history drop10`` feeds
the source only until the run has 10 finished trials of its own; ``--history shrink20`` multiplies the
source's standardized losses by 1 - n/20 (n: the run's finished trials), dropping them at 20;
``--history agree05`` from the run's 5th finished trial multiplies them by how well the source ranks the
run's own trials (``agreement``), dropping them when it does not. With
``--only-seeds 2 --related-only`` a variant runs the related arm of one seed, to set against the table.

The model of the source (docs/benchmarks.md "A two-task GP"): ``--model two-task`` gives every point
its study as one more input with its own fitted lengthscale (``knobs.search._two_task``), ``--model
pooled`` fits one GP on both studies' standardized losses; ``--model per-axis`` is two-task with the
sources first corrected by a GP on the run's residuals (``_two_task.source_bias``, docs/benchmarks.md
"Agreement per axis"); ``--model pooled-matched`` pools with this run's losses matched to the sources' level
(``_two_task.matched_pool``, ``Bayes``'s default since the six seeds of "Level matching"; ``--model pooled``
is plain pooling, as the earlier tables ran it); the default is ``Bayes``'s own. (``--sources-first K``, the
sources' K best configs first, and ``--own-design K [--own-design-offset O]``, K points of the run's own Sobol design
on its trials 1, 3, 5, ...: docs/benchmarks.md "Level matching and the sources' best first" and "Own design points";
taken out with the two ``Bayes`` switches, the code at commit b0c980d.) ``--vet-sources`` /
``--no-vet-sources``: each suggestion keeps a source with RGPE's ranking weight, or always (``Bayes._vet_sources``;
``--vet-from N``: from the run's N-th result on;
docs/benchmarks.md "Sources weighed by how they rank the run"). A target where the sources' worth
shows more clearly: ``bench/warm_start_real.py``. With
``--related-only`` / ``--unrelated-only`` only that warm arm runs (after its source); the cold runs are
deterministic, so they are read from bench/results/warm_start.json (the full table's run) to report
where the arm reaches the cold start's final best and its points against it; seeds past those are run
cold with ``--cold-only --out FILE`` first (the warm arms then read them from ``FILE``). ``--runs-dir DIR``
keeps every run and reuses a finished one, so the sources train once for all arms and a rerun of the same
commands only rebuilds the results file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from knobs import Study
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.trial import TrialState

RESULTS = Path(__file__).resolve().parent / "results" / "warm_start.json"


def tune(runs_dir: Path, name: str, seed: int, trials: int, **keys) -> tuple[Path, dict]:
    """One ``knobs tune`` run, or the finished run of that name already in ``runs_dir`` (``--runs-dir``:
    the runs are deterministic, so a source trained for one arm serves the next)."""
    cfg = load_config(None, {"name": name, "runs_dir": str(runs_dir), "seed": seed, "search.sampler": "bayes",
                             "search.n_trials": trials, "search.metric": "val_loss", "ensemble.enabled": False,
                             **keys})
    start = time.perf_counter()
    path = runs_dir / name
    if not _finished(path, trials):
        path = run(cfg, display=Display(quiet=True), final_test=False).path
    wall = time.perf_counter() - start
    study = Study.load(f"sqlite:///{path / 'study.db'}", warm_start=keys.get("search.warm_start"))
    trials_ = sorted((t for t in study.trials if t.number >= 0), key=lambda t: t.number)
    best, best_path, study_path = None, [], path  # after each trial: (best val_loss, its val_accuracy)
    for t in trials_:
        if t.state == TrialState.COMPLETE and (best is None or t.value < best[0]):
            best = (t.value, t.attrs.get("val_accuracy"))
        best_path.append(best)
    return study_path, {"name": name, "path": best_path, "fed": len(study.warm_trials), "wall_s": round(wall, 1)}


def _finished(path: Path, trials: int) -> bool:
    if not (path / "study.db").is_file():
        return False
    study = Study.load(f"sqlite:///{path / 'study.db'}")
    return sum(t.state.finished for t in study.trials if t.number >= 0) >= trials


def history_variant(kind: str, horizon: int):
    """``model_history`` with the source's trials dropped (``drop``) or shrunk towards the mean
    (``shrink``) as the run's own finished trials reach ``horizon``, or (``agree``) from then on
    weighted by how well they rank the run's own trials."""
    from knobs.search import _history as H

    plain = H.model_history

    def history(trials, direction, space, needed):
        own = [t for t in trials if t.attrs.get(H.WARM_START) is None]
        n_own = sum(t.state.finished for t in own)
        weight = max(0.0, 1.0 - n_own / horizon)
        if len(own) == len(trials) or (kind == "drop" and n_own < horizon):
            return plain(trials, direction, space, needed)
        if kind == "agree":
            weight = agreement(own, [t for t in trials if t.attrs.get(H.WARM_START) is not None],
                               direction, space, needed) if n_own >= horizon else 1.0
        if kind == "drop" or weight == 0.0:
            return plain(own, direction, space, needed)
        out = plain(trials, direction, space, needed)
        k = len(H._study_history(own, direction, space, needed))  # the run's own come first
        return out[:k] + [(config, weight * z) for config, z in out[k:]]
    return history


def agreement(own, source, direction, space, needed) -> float:
    """How well the source ranks this run's own trials (RGPE's idea, Feurer et al. 2018, reduced to
    nearest neighbours): Kendall's tau between each own trial's loss and the loss of the source trial
    nearest to it in the unit cube; 0 when they disagree or are unrelated."""
    import numpy as np
    from scipy.stats import kendalltau

    from knobs.search import _history as H

    mine = H._study_history(own, direction, space, needed)
    theirs = H._study_history(source, direction, space, needed)
    if len(mine) < 3 or not theirs:
        return 1.0
    u_theirs = space.to_unit_many([c for c, _ in theirs])
    nearest = [theirs[int(np.argmin(((u_theirs - space.to_unit(c)) ** 2).sum(axis=1)))][1] for c, _ in mine]
    tau = kendalltau([loss for _, loss in mine], nearest).statistic
    return max(0.0, float(tau)) if tau == tau else 0.0


def at(path: list, k: int) -> tuple[float, float]:
    return path[min(k, len(path)) - 1]


def trials_to_reach(path: list, target: float) -> int | None:
    return next((k + 1 for k, best in enumerate(path) if best is not None and best[0] <= target), None)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--history", choices=("drop10", "shrink20", "agree05"), help="a variant of how long the source counts")
    parser.add_argument("--only-seeds", type=int, nargs="+", help="these seeds instead of 0 .. seeds-1")
    parser.add_argument("--related-only", action="store_true", help="the related arm alone (no cold, no unrelated)")
    parser.add_argument("--unrelated-only", action="store_true", help="the unrelated arm alone (no cold, no related)")
    parser.add_argument("--model", choices=("pooled", "pooled-matched", "two-task", "per-axis"),
                        help="how Bayes models the source (default: its own)")
    parser.add_argument("--vet-sources", action=argparse.BooleanOptionalAction, default=None,
                        help="keep a source per suggestion with RGPE's ranking weight, or never drop it "
                             "(Bayes._vet_sources; default: its own)")
    parser.add_argument("--vet-from", type=int, default=None, metavar="N",
                        help="with --vet-sources: weigh sources from the run's N-th result on (Bayes._vet_from)")
    parser.add_argument("--cold-only", action="store_true", help="the cold run alone, kept in --out for the warm arms")
    parser.add_argument("--runs-dir", type=Path, help="keep the runs here and reuse finished ones (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="with --cold-only / --related-only / --unrelated-only: merge the "
                        "results into this JSON file (its cold runs are read too)")
    args = parser.parse_args(argv)
    if args.history and args.model in ("two-task", "per-axis"):
        parser.error(f"--history variants reweight the pooled model's history; leave out --model {args.model}")
    torch.set_num_threads(1)
    if args.history and not args.model:
        args.model = "pooled"  # the variants reweighted plain pooling (measured before matching was the default)
    from knobs.search._bayes import Bayes  # the switches below are its class attributes

    if args.model:
        Bayes._two_task = args.model in ("two-task", "per-axis")
        Bayes._two_task_per_axis = args.model == "per-axis"
        Bayes._pooled_matched = args.model == "pooled-matched"
    if args.vet_sources is not None:
        Bayes._vet_sources = args.vet_sources
    if args.vet_from is not None:
        Bayes._vet_from = args.vet_from
    if args.history:
        from knobs.search import _bayes
        _bayes.model_history = history_variant(args.history[:-2], int(args.history[-2:]))
    if args.related_only or args.unrelated_only or args.cold_only:
        return warm_arm(args, "related" if args.related_only else "unrelated" if args.unrelated_only else "cold")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        for seed in args.only_seeds or range(args.seeds):
            related, _ = tune(runs, f"source-related-{seed}", 100 + seed, args.trials, **{"data.rows": 600, "train.epochs": 10})
            unrelated, _ = tune(runs, f"source-unrelated-{seed}", 200 + seed, args.trials,
                                **{"data.source": "breast_cancer", "train.epochs": args.epochs})
            row = {"seed": seed}
            for arm, source in (("cold", None), ("related", related), ("unrelated", unrelated)):
                keys = {"train.epochs": args.epochs} | ({"search.warm_start": str(source)} if source else {})
                _, row[arm] = tune(runs, f"{arm}-{seed}", seed, args.trials, **keys)
            cold = at(row["cold"]["path"], args.trials)
            for arm in ("related", "unrelated"):
                path = row[arm]["path"]
                row[arm]["to_reach_cold"] = trials_to_reach(path, cold[0])
                row[arm]["loss_gap_20"] = at(path, 20)[0] - cold[0]
                row[arm]["points_vs_cold_20"] = 100 * (at(path, 20)[1] - cold[1])
                row[arm]["points_vs_cold_40"] = 100 * (at(path, args.trials)[1] - cold[1])
            rows.append(row)
            print(f"seed {seed}: cold best val_loss {cold[0]:.4f} (acc {cold[1]:.4f}); "
                  + "; ".join(f"{arm}: fed {row[arm]['fed']}, reaches it at trial {row[arm]['to_reach_cold']}, "
                              f"best at 20 {at(row[arm]['path'], 20)[0]:.4f} ({row[arm]['points_vs_cold_20']:+.2f} pts), "
                              f"at {args.trials} {at(row[arm]['path'], args.trials)[0]:.4f} "
                              f"({row[arm]['points_vs_cold_40']:+.2f} pts)" for arm in ("related", "unrelated")),
                  flush=True)
    headline: dict = {"bench": "warm_start", "seeds": args.seeds, "trials": args.trials, "epochs": args.epochs,
                      "cold_best": [round(at(r["cold"]["path"], args.trials)[0], 4) for r in rows]}
    for arm in ("related", "unrelated"):
        reach = [r[arm]["to_reach_cold"] for r in rows]
        headline[arm] = {
            "trials_to_reach_cold": reach,
            "reached_within_20": sum(k is not None and k <= 20 for k in reach),
            "best_at_20": [round(at(r[arm]["path"], 20)[0], 4) for r in rows],
            "best_at_end": [round(at(r[arm]["path"], args.trials)[0], 4) for r in rows],
            "points_vs_cold_at_20": [round(r[arm]["points_vs_cold_20"], 2) for r in rows],
            "points_vs_cold_at_end": [round(r[arm]["points_vs_cold_40"], 2) for r in rows],
            "points_vs_cold_at_end_mean": round(statistics.mean(r[arm]["points_vs_cold_40"] for r in rows), 2),
            "fed": [r[arm]["fed"] for r in rows],
            "wall_s": [r[arm]["wall_s"] for r in rows],
        }
    headline["cold_wall_s"] = [r["cold"]["wall_s"] for r in rows]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"headline": headline, "rows": rows}, indent=1))
    print(json.dumps(headline))
    return headline


SOURCES = {"related": (100, {"data.rows": 600, "train.epochs": 10}),
           "unrelated": (200, {"data.source": "breast_cancer"})}


def warm_arm(args, arm: str) -> dict:
    """One warm arm alone per seed (after its source): its best after 10 / 20 / all trials, and
    against the stored cold run of that seed (bench/results/warm_start.json, or ``--out``'s cold runs)
    where it reaches the cold start's final best and its points there. ``arm == "cold"``: the cold
    run alone, its path (best val_loss and its accuracy after each trial) kept in ``--out``."""
    stored = {r["seed"]: r["cold"]["path"] for r in json.loads(RESULTS.read_text())["rows"]} if RESULTS.exists() else {}
    merged = json.loads(args.out.read_text()) if args.out and args.out.exists() else {}
    stored |= {int(seed): path for seed, path in merged.get("cold", {}).items()}
    label = (f"{args.model or 'default'}"
             + {None: "", True: ", vet", False: ", no vet"}[args.vet_sources]
             + (f" from {args.vet_from}" if args.vet_from is not None else ""))
    out = {"bench": f"warm_start --{arm}-only", "history": args.history, "model": label, "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        runs = args.runs_dir or Path(tmp)
        for seed in args.only_seeds or range(args.seeds):
            if arm == "cold":
                _, row = tune(runs, f"cold-{seed}", seed, args.trials, **{"train.epochs": args.epochs})
                merged.setdefault("cold", {})[str(seed)] = row["path"]
                out[f"seed {seed}"] = {"best_at_10_20_end": [round(at(row["path"], k)[0], 4) for k in (10, 20, args.trials)],
                                       "wall_s": row["wall_s"]}
                print(f"seed {seed}: cold {out[f'seed {seed}']}", flush=True)
                continue
            offset, source_keys = SOURCES[arm]
            source, _ = tune(runs, f"source-{arm}-{seed}", offset + seed, args.trials,
                             **({"train.epochs": args.epochs} | source_keys))
            name = f"{arm}-{seed}" + (f"-{label.replace(', ', '-').replace(' ', '')}" if args.runs_dir else "")
            _, row = tune(runs, name, seed, args.trials,
                          **{"train.epochs": args.epochs, "search.warm_start": str(source)})
            result = {"best_at_10_20_end": [round(at(row["path"], k)[0], 4) for k in (10, 20, args.trials)],
                      "path": [b[0] if b else None for b in row["path"]], "wall_s": row["wall_s"]}
            if seed in stored and len(stored[seed]) == args.trials:
                cold = at(stored[seed], args.trials)
                result["to_reach_cold"] = trials_to_reach(row["path"], cold[0])
                result["points_vs_cold_end"] = round(100 * (at(row["path"], args.trials)[1] - cold[1]), 2)
            out[f"seed {seed}"] = result
            merged.setdefault(f"{label} {arm}", {})[f"seed {seed}"] = result
            print(f"seed {seed}: " + ", ".join(f"{k} {v}" for k, v in result.items() if k != "path"), flush=True)
            if args.out:  # after every seed, so a stopped run keeps what it measured
                args.out.write_text(json.dumps(merged, indent=1))
    if args.out:
        args.out.write_text(json.dumps(merged, indent=1))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
