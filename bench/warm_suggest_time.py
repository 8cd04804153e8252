"""What weighing warm-start sources costs per suggestion: ``Bayes.suggest`` in the 7-D LCBench space with a 40-trial
source, at 20 / 40 / 80 trials of the run's own, source vetting on (the default) and off (``Bayes._vet_sources``):
the median of ``--repeats`` consecutive suggestions of one sampler, a trial more each time (as in a run, where each
fit starts from the last one's).

Why: from the run's 20th result every suggestion fits another GP (the run alone, from its last fit; the source's is
fitted once a run) and draws 256 joint samples of the source's posterior at the run's points
(``knobs.search._source_vetting``); item 3 of issue 17 asks for at most 100 ms per suggestion at 100 trials in 7-D.

Run: ``.venv/bin/python bench/warm_suggest_time.py [--repeats 5]``; prints a table, writes
bench/results/warm_suggest_time.json (or ``--out``), its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from problems_real import REAL_PROBLEMS  # noqa: E402

from knobs.search import Bayes  # noqa: E402
from knobs.search._history import WARM_START  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "warm_suggest_time.json"


def loss(config: dict) -> float:
    """A smooth stand-in for a training's error: best at lr 1e-2, batch 64, little dropout."""
    return (math.log10(config["lr"]) + 2) ** 2 + 0.3 * (math.log2(config["batch_size"]) - 6) ** 2 / 4 + config["dropout"]


def history(space, n_source: int, n_own: int, seed: int) -> list[FrozenTrial]:
    configs = space.sample(seed, n_source + n_own)
    fed = [FrozenTrial(-1 - i, c, TrialState.COMPLETE, 1.5 * loss(c) + 0.2, attrs={WARM_START: "source"})
           for i, c in enumerate(configs[:n_source])]
    return fed + [FrozenTrial(i, c, TrialState.COMPLETE, loss(c)) for i, c in enumerate(configs[n_source:])]


class Unvetted(Bayes):
    _vet_sources = False


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    space = REAL_PROBLEMS["lcbench_digits"].space()
    rows = []
    for n_own in (20, 40, 80):
        trials = history(space, 40, n_own + args.repeats, seed=n_own)
        cell = {"own_trials": n_own}
        for name, cls in (("vetted", Bayes), ("unvetted", Unvetted)):
            sampler, times = cls(seed=0), []
            for k in range(args.repeats + 1):  # one run's consecutive suggestions, a trial more each time
                start = time.perf_counter()
                sampler.suggest(space, trials[:40 + n_own + k])
                times.append(1000 * (time.perf_counter() - start))
            cell[f"{name}_ms"] = round(statistics.median(times[1:]), 1)  # the first has no earlier fit to start from
        rows.append(cell)
    print("| run's own trials (+ 40 source) | vetted ms | unvetted ms |\n|---|---|---|")
    for c in rows:
        print(f"| {c['own_trials']} | {c['vetted_ms']} | {c['unvetted_ms']} |")
    out = {"bench": "warm_suggest_time", "repeats": args.repeats, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
