"""The curve pruner in ``knobs run``: against no pruning and ASHA on real searches (digits, Fashion-MNIST, SST-2).

Every arm runs the real pipeline (``knobs tune``: data, vault, preflight, the study with its
TrialObjective and early stopping) with the same random sampler and seed, so the arms propose the
same configurations in the same order; only ``search.pruner`` differs (as in bench/prune.py).
Figures per data set, seed and arm: training epochs over all trials (a pruned trial counts the
epochs it ran), the best validation accuracy among completed trials, wall time.

Data: ``digits`` (scikit-learn's 1,797 images); ``fashion``: a seeded 6,000-image subset of
Fashion-MNIST's training set (Debian package ``dataset-fashion-mnist``), flattened to 784 pixels,
given to the run as an ``.npz`` (``data.kind = "arrays"``); ``sst2``: a seeded subset of SST-2's
``train.tsv`` (``data.rows``; shared/data/README.md) through the ``text_bag`` family and its default space.
With ``--test``, each arm is a whole ``knobs run`` (ensemble off): the best trial's test accuracy too.

Run: ``.venv/bin/python bench/prune_curve_run.py [--data digits fashion sst2] [--seeds 2] [--trials 40]
[--fashion-rows 6000] [--sst2-rows 3000] [--test]``.
Prints a table, writes bench/results/prune_curve_run_<data>.json; its last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prune import one_arm  # noqa: E402  (the same arm as bench/prune.py, on other data)

RESULTS = Path(__file__).resolve().parent / "results"
FASHION = Path("/usr/share/datasets/fashion-mnist")
SST2 = Path("/work/shared/data/sst2/train.tsv")  # as bench/loaders.py
ARMS = ("none", "asha", "curve")


def fashion_npz(folder: Path, rows: int = 6000) -> Path:
    """A seeded subset of Fashion-MNIST's training images as X (pixels / 255) and y, in an .npz."""
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    pick = np.random.default_rng(0).choice(len(labels), rows, replace=False)
    path = folder / f"fashion{rows}.npz"
    np.savez(path, X=images[pick].astype(np.float32) / 255.0, y=labels[pick].astype(np.int64))
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["digits", "fashion"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--fashion-rows", type=int, default=6000)
    parser.add_argument("--sst2-rows", type=int, default=3000)
    parser.add_argument("--test", action="store_true", help="whole `knobs run`s: the test accuracy too")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = {"digits": {}}
        if "fashion" in args.data:
            sources["fashion"] = {"data.source": str(fashion_npz(Path(tmp), args.fashion_rows)), "data.kind": "arrays"}
        if "sst2" in args.data:
            sources["sst2"] = {"data.source": str(SST2), "data.text_column": "sentence", "data.rows": args.sst2_rows,
                               "model.family": "text_bag"}
        for data in args.data:
            for seed in range(args.seeds):
                for pruner in ARMS:
                    rows.append(one_arm(pruner, seed, args.trials, Path(tmp), sources[data], data, args.test))
                    r = rows[-1]
                    test = f"  test acc {r['test_accuracy']:.4f}" if "test_accuracy" in r else ""
                    print(f"{data:8s} seed {seed}  {pruner:5s}  epochs {r['epochs']:5d}  best val acc "
                          f"{r['best_val_accuracy']:.4f}{test}  complete {r['complete']:3d}  pruned {r['pruned']:3d}  "
                          f"{r['wall_s']:6.1f} s", flush=True)
    headline = {"bench": "prune_curve_run", "seeds": args.seeds, "trials": args.trials}
    for data in args.data:
        for pruner in ARMS:
            sel = [r for r in rows if r["data"] == data and r["pruner"] == pruner]
            headline[f"{data}/{pruner}"] = {
                "epochs": statistics.mean(r["epochs"] for r in sel),
                "best_val_accuracy": round(statistics.mean(r["best_val_accuracy"] for r in sel), 4),
                "wall_s": round(statistics.mean(r["wall_s"] for r in sel), 1),
                **({"test_accuracy": round(statistics.mean(r["test_accuracy"] for r in sel), 4)} if args.test else {})}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"prune_curve_run_{'_'.join(args.data)}.json").write_text(
        json.dumps({"headline": headline, "rows": rows}, indent=1))
    print(json.dumps(headline))
    return headline


if __name__ == "__main__":
    main()
