"""Bayes's suggestions on a few spaces, written to a file, to compare two versions of knobs bit for bit.

Usage (one run per source tree, then compare the files):
    git archive <commit> src | tar -x -C /tmp/base
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/bayes_suggestions.py /tmp/old.json
    PYTHONPATH=src .venv/bin/python bench/bayes_suggestions.py /tmp/new.json
    .venv/bin/python bench/bayes_suggestions.py --diff /tmp/old.json /tmp/new.json   # which runs part, where

Why: a change meant to matter only on some spaces (docs/benchmarks.md, "An inactive category is its own
state": only where a conditional choice has an odd number of options) must leave every other run's
suggestions exactly as they were, which a score table cannot show. Each (space, seed, batch) run asks
Bayes for 40 trials, one at a time (batch 1) or 3 at a time with the last of each batch left RUNNING over
the next ask (the kriging believer's running-trial and pick paths). Spaces: the synthetic problems
branin, mixed, conditional, hartmann6 (their own objectives); the spaces of model_choice_digits and
mlp_solver_cancer (the bench's conditional choices, both 2 options) with a cheap deterministic stand-in
objective (the sampler sees only the history); and ``odd_control``, a space with a 3-option conditional
choice, where the two versions should differ (so the comparison is not vacuous).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from problems import PROBLEMS  # noqa: E402
from problems_real import REAL_PROBLEMS  # noqa: E402

from knobs.search import Bayes  # noqa: E402
from knobs.space import Choice, Float, Space  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

OWN_OBJECTIVE = ["branin", "mixed", "conditional", "hartmann6"]
STAND_IN = ["model_choice_digits", "mlp_solver_cancer"]
TRIALS = 40


def stand_in(config: dict) -> float:
    """Deterministic, cheap, and different for every config."""
    h = zlib.crc32(json.dumps(config, sort_keys=True, default=str).encode()) / 2**32
    return sum((v if isinstance(v, (int, float)) else len(str(v))) ** 0.5 % 1.0
               for v in config.values()) + 0.1 * h


ODD_SPACE = Space({"opt": Choice(["a", "b"]), "act": Choice(["x", "y", "z"], when={"opt": "a"}),
                   "lr": Float(0.0, 1.0), "wd": Float(0.0, 1.0)})


def odd_objective(c: dict) -> float:
    return ((c["lr"] - 0.3) ** 2 + (c["wd"] - 0.6) ** 2
            + {"x": 0.1, "y": 0.2, "z": 0.0}.get(c.get("act"), 0.05))


def spaces() -> dict:
    problems = {**PROBLEMS, **REAL_PROBLEMS}
    out = {name: (problems[name].space(), problems[name].objective) for name in OWN_OBJECTIVE}
    out.update({name: (problems[name].space(), stand_in) for name in STAND_IN})
    out["odd_control"] = (ODD_SPACE, odd_objective)
    return out


def run(space: Space, objective, seed: int, batch: int) -> list[str]:
    sampler, trials, running = Bayes(seed=seed), [], None
    while len(trials) < TRIALS:
        configs = sampler.suggest(space, trials + ([running] if running else []), batch)
        if running:
            trials.append(FrozenTrial(len(trials), running.config, TrialState.COMPLETE,
                                      objective(running.config)))
            running = None
        for c in configs[:-1] if batch > 1 else configs:
            trials.append(FrozenTrial(len(trials), c, TrialState.COMPLETE, objective(c)))
        if batch > 1:
            running = FrozenTrial(len(trials), configs[-1], TrialState.RUNNING, None)
    return [repr(sorted(t.config.items())) for t in trials]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="write the suggestions here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--diff", nargs=2, metavar=("OLD", "NEW"), help="compare two outputs")
    args = parser.parse_args()
    if args.diff:
        a, b = (json.loads(Path(p).read_text()) for p in args.diff)
        for key in a:
            part = next((i for i, (x, y) in enumerate(zip(a[key], b[key])) if x != y), None)
            print(f"{key:34s} {'identical' if part is None else f'first differs at trial {part}'}")
        return
    out = {f"{name}/seed{seed}/batch{batch}": run(space, objective, seed, batch)
           for name, (space, objective) in spaces().items()
           for seed in range(args.seeds) for batch in (1, 3)}
    Path(args.out).write_text(json.dumps(out, indent=0))


if __name__ == "__main__":
    main()
