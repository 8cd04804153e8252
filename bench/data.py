"""Data discipline figures in one run: class imbalance (bench/data_imbalance.py) and augmentation
(bench/data_augment.py), each measured by its own script's ``run()``.

Run: ``.venv/bin/python bench/data.py [--seeds 3] [--device cpu]``. It prints both tables, writes
bench/results/data.json, and its last printed line is one JSON object:
``{"bench": "data", "imbalance": {...}, "augmentation": {...}}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data_augment  # noqa: E402
import data_imbalance  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "data.json"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where augmentation throughput is measured")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    imbalance = data_imbalance.run(seeds=args.seeds)
    print(data_imbalance.table(imbalance))
    augmentation = data_augment.run(seeds=args.seeds, device=args.device)
    print(data_augment.table(augmentation))
    result = {"bench": "data", "imbalance": imbalance, "augmentation": augmentation}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
