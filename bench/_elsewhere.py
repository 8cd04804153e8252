"""The command line of a before/after bench: ``--sizes``, ``--epochs``, and ``--before DIR`` to run
the same arms with another knobs source first on the path.

Why a subprocess: two versions of knobs cannot share one interpreter. The script is run again
with ``--arms-only`` (it prints its rows as JSON on the last line) and ``DIR`` (a ``src`` folder,
e.g. ``git archive <commit> src | tar -x -C /tmp/base``) on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import torch

__all__ = ["run_elsewhere", "before_after"]


def before_after(argv: list[str] | None, description: str, script: str, arm: Callable[[int, int], dict[str, Any]],
                 warm_up: int = 8) -> tuple[argparse.Namespace, dict] | None:
    """Parse the shared flags and run ``arm(population, epochs)`` per size, in one torch thread
    after a warm-up arm (imports, first torch calls): ``(args, {"after": rows[, "before": rows]})``;
    None when this is the ``--arms-only`` subprocess (its rows are printed)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--before", default=None, help="src folder of the knobs to compare with")
    parser.add_argument("--arms-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    arm(warm_up, 1)
    rows = {"after": [arm(p, args.epochs) for p in args.sizes]}
    if args.arms_only:
        print(json.dumps(rows["after"]))
        return None
    if args.before:
        rows["before"] = run_elsewhere(args.before, script, ["--epochs", str(args.epochs), "--sizes",
                                                             *map(str, args.sizes)])
    return args, rows


def write_figures(figures: dict[str, Any], path: Path) -> dict[str, Any]:
    """Write ``figures`` as JSON to ``path`` and print them as the last line."""
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))
    return figures


def run_elsewhere(src: str, script: str, args: list[str]) -> Any:
    """The JSON that ``script --arms-only *args`` prints last, run with ``src`` on the path."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, script, "--arms-only", *args], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
