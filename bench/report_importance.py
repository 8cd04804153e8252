"""What the report's and dashboard's parameter importance costs: ``knobs.report._importance.importances`` (PED-ANOVA)
on 100, 1,000 and 10,000 trials of a 7-parameter conditional space (log floats, integers, a choice and a parameter it
turns on), the median of ``--repeats`` calls.

Why: the dashboard recomputes it on every refresh of a study's page, up to the 10,000 trials of issue 16's target; a
timed assertion in the test suite flakes on a loaded machine, so the figure is measured here and the suite checks
only what the importance says.

Run: ``.venv/bin/python bench/report_importance.py [--repeats 5]``; prints a table, writes
bench/results/report_importance.json (or ``--out``), its last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np

from knobs.report._importance import importances
from knobs.space import Choice, Float, Int, Space

OUT = Path(__file__).resolve().parent / "results" / "report_importance.json"
SPACE = Space({"lr": Float(1e-5, 1e-1, log=True), "weight_decay": Float(1e-6, 1e-2, log=True),
               "width": Int(16, 1024, log=True), "depth": Int(1, 4), "dropout": Float(0.0, 0.5),
               "optimizer": Choice(["adam", "sgd", "adamw"]),
               "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"})}).to_json()
SIZES = (100, 1_000, 10_000)


def trials(n: int, seed: int = 0) -> tuple[list[dict], list[float]]:
    """``n`` random configurations and a noisy value decided by the learning rate."""
    rng = np.random.default_rng(seed)
    configs = Space.from_json(SPACE).sample(rng, n)
    return configs, [(math.log10(c["lr"]) + 3) ** 2 + float(rng.normal(0, 0.1)) for c in configs]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = []
    for n in args.sizes:
        configs, values = trials(n)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            imp = importances(configs, values, SPACE, "minimize")
            times.append(1000 * (time.perf_counter() - start))
        rows.append({"trials": n, "ms": round(statistics.median(times), 2), "first": next(iter(imp), None)})
    print(f"{'trials':>8} {'ms (median)':>12}  first")
    for r in rows:
        print(f"{r['trials']:>8} {r['ms']:>12.2f}  {r['first']}")
    result = {"bench": "report_importance", "repeats": args.repeats, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result) + "\n")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
