"""Time `knobs run` (the default cycle on digits) and report its test accuracy.

Target (issue 2): under 2 minutes on 2 CPU cores after the install, test accuracy ≥ 0.97.
Usage: .venv/bin/python bench/run.py [--repeats 3]
Prints a table; the last line is one JSON object; writes bench/results/run.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "run.json"


def one_run(workdir: Path, index: int) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "knobs.cli", "run", "--name", f"bench-{index}", "--seed", str(index), "-q"],
                          cwd=workdir, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"knobs run failed:\n{proc.stderr}")
    summary = json.loads((workdir / "runs" / f"bench-{index}" / "summary.json").read_text())
    return {"seed": index, "final_model": summary["final_model"],
            "single_test_accuracy": summary["single"]["test"]["accuracy"], "wall_seconds": round(seconds, 1), "test_accuracy": summary["test"]["accuracy"],
            "test_loss": summary["test"]["log_loss"], "n_trials": summary["n_trials"],
            "total_epochs": summary["total_epochs"], "best_val_loss": summary["best_trial"]["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs with seeds 0..repeats-1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one_run(Path(tmp), i) for i in range(args.repeats)]
    print(f"{'seed':>4} {'wall s':>8} {'test acc':>9} {'single acc':>10} {'final':>9} {'test loss':>10} {'trials':>7} {'epochs':>7}")
    for r in rows:
        print(f"{r['seed']:>4} {r['wall_seconds']:>8.1f} {r['test_accuracy']:>9.4f} {r['single_test_accuracy']:>10.4f} "
              f"{r['final_model']:>9} {r['test_loss']:>10.4f} {r['n_trials']:>7} {r['total_epochs']:>7}")
    result = {"benchmark": "knobs run (default, digits)", "cpus": os.cpu_count(),
              "max_wall_seconds": max(r["wall_seconds"] for r in rows),
              "min_test_accuracy": min(r["test_accuracy"] for r in rows), "runs": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
