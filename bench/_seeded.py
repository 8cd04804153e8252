"""The command line every seeded data benchmark shares: ``--seeds N``, then a table, then one JSON line.

Each script keeps its own ``run(seeds=...) -> dict`` and ``table(result) -> str``; this is only
the wrapper that makes them look and end alike (the last printed line is the JSON object).
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Callable, Sequence


def seeded_main(doc: str, run: Callable[..., dict], table: Callable[[dict], str],
                argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(seeds=args.seeds)
    print(table(result))
    if "wall_s" in result:
        print(f"({result['wall_s']} s)")
    print(json.dumps(result))
    return result


def over_seeds(name: str, values: Sequence[float]) -> dict[str, float | list[float]]:
    """``{name: mean, name_sd: sample sd (0 for one seed), name_per_seed: [...]}``, rounded to 4
    places: how every seeded benchmark reports a figure."""
    values = list(values)
    return {name: round(statistics.fmean(values), 4),
            f"{name}_sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            f"{name}_per_seed": [round(v, 4) for v in values]}


def emit(record: dict, out: str | None = None) -> None:
    """Print ``record`` as the benchmark's last line, one JSON object, and write it to ``out`` too when given."""
    line = json.dumps(record)
    print(line)
    if out:
        with open(out, "w") as handle:
            handle.write(line + "\n")


def compare_arms(arms: dict[str, Callable[..., tuple[dict[str, dict], float]]], task: Callable[[int], tuple],
                 seeds: int, shown: Sequence[str]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Run every arm on each seed's task, print a line per result, return ``(means, per_seed)`` by result name.

    ``task(seed)`` gives ``(train, test)``; ``arms[name](train, test, seed, runs_dir)`` gives ``({result name:
    metrics}, seconds)`` — one arm may report several results of one fit (a run's final model scored two ways);
    ``shown`` are the metrics kept. Runs go to a temporary directory, deleted at the end."""
    import tempfile

    per_seed: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as runs:
        for seed in range(seeds):
            train, test = task(seed)
            for arm, fit in arms.items():
                results, seconds = fit(train, test, seed, runs)
                for name, metrics in results.items():
                    per_seed.setdefault(name, []).append({**{k: metrics[k] for k in shown}, "seconds": seconds})
                    print(f"seed {seed} {name}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in shown) +
                          f", {seconds:.1f} s", flush=True)
    means = {name: {k: statistics.mean(r[k] for r in rows) for k in (*shown, "seconds")}
             for name, rows in per_seed.items()}
    print(f"\n| model | {' | '.join(shown)} | seconds |\n|---|{'---|' * (len(shown) + 1)}")
    for name, m in means.items():
        print(f"| {name} | {' | '.join(f'{m[k]:.4f}' for k in shown)} | {m['seconds']:.1f} |")
    return means, per_seed


def arms_parser(doc: str, trials: int = 12) -> argparse.ArgumentParser:
    """The command line of a benchmark of ``compare_arms``: ``--seeds``, ``--trials`` (of each knobs run), ``--out``
    (its JSON); a script adds its own options to it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=trials)
    parser.add_argument("--out", default=None)
    return parser
