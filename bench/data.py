"""Data discipline figures in one run: class imbalance (bench/data_imbalance.py), image
augmentation (bench/data_augment.py), text EDA in `knobs run` (bench/data_text_eda.py) and k-fold
cross-validation in `knobs run` (bench/data_kfold.py), each measured by its own script's ``run()``.

Run: ``.venv/bin/python bench/data.py [--seeds 3] [--kfold-seeds 10] [--device cpu]``. The k-fold
comparison costs seconds per seed, so it takes its own, larger seed count. It prints the tables,
writes bench/results/data.json, and its last printed line is one JSON object:
``{"bench": "data", "imbalance": {...}, "augmentation": {...}, "text_eda": {...}, "kfold": {...}}``.
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
import data_kfold  # noqa: E402
import data_text_eda  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "data.json"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--kfold-seeds", type=int, default=10, help="seeds of the k-fold comparison")
    parser.add_argument("--device", default="cpu", help="where augmentation throughput is measured")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    imbalance = data_imbalance.run(seeds=args.seeds)
    print(data_imbalance.table(imbalance))
    augmentation = data_augment.run(seeds=args.seeds, device=args.device)
    print(data_augment.table(augmentation))
    text_eda = data_text_eda.run(seeds=args.seeds)
    print(data_text_eda.table(text_eda))
    kfold = data_kfold.run(seeds=args.kfold_seeds)
    print(data_kfold.table(kfold))
    result = {"bench": "data", "imbalance": imbalance, "augmentation": augmentation, "text_eda": text_eda,
              "kfold": kfold}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
