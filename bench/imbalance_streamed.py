"""Class imbalance on images read from disk: `knobs run` on a long-tailed CIFAR-10 folder that streams, with and
without `[balance]`.

The training folder of ``../shared/data/cifar10-jpg.tar.gz`` made long-tailed (Cui et al. 2019's "imbalance factor"):
class ``c`` (in name order) keeps ``round(--head × factor^(−c / 9))`` of its images, a seeded draw per seed, linked
into a folder of its own; the official test set is ``--test-per-class`` images of each class of the test folder
(balanced, so its accuracy is the balanced accuracy, the metric a long tail asks for). Every arm is the same
``knobs run``: ``data.memory = 1`` (MiB), so the images are decoded on access every epoch (``data.loading.memory.path
= "streamed"``, checked), knobs' ``convnet`` (16 channels, depth 2, batch norm) with ``lr`` searched (random, the same
seeded trials in every arm), early stopping on the validation loss, the top 2 ensembled. Arms:

- ``none``: no treatment;
- ``class_weight``: ``balance.class_weight = "balanced"`` (the loss weighs class ``c`` by ``n / (C n_c)``);
- ``oversample``: ``balance.sampler = "oversample"`` (each epoch a weighted draw in which every class is as frequent:
  the tail's files are read about ``n_max / n_c`` times per epoch).

    nice -n 5 .venv/bin/python bench/imbalance_streamed.py [--seeds 3] [--trials 4] [--epochs 12] [--out FILE]

It prints a line per run, then a table, and ends with one JSON object (``--out`` writes it too).
"""

from __future__ import annotations

import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from _seeded import arms_parser, emit

ARCHIVE = Path("/work/shared/data/cifar10-jpg.tar.gz")
ARMS = {"none": {}, "class_weight": {"balance.class_weight": "balanced"}, "oversample": {"balance.sampler": "oversample"}}
SHOWN = ("test_accuracy", "tail_recall", "head_recall")


def extract(into: Path) -> Path:
    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(into, filter="data")
    found = next(p for p in [into, *into.iterdir()] if (p / "train").is_dir())
    return found


def linked(source: Path, target: Path, per_class: dict[str, int], seed: int) -> Path:
    """``target/<class>/`` holding links to a seeded draw of ``per_class[class]`` images of ``source/<class>/``."""
    rng = np.random.default_rng(seed)
    for name, n in per_class.items():
        files = sorted((source / name).iterdir())
        (target / name).mkdir(parents=True)
        for i in sorted(rng.choice(len(files), size=n, replace=False)):
            (target / name / files[i].name).symlink_to(files[i])
    return target


def long_tail(classes: list[str], head: int, factor: float) -> dict[str, int]:
    return {name: int(round(head * factor ** (-c / (len(classes) - 1)))) for c, name in enumerate(classes)}


def one_run(arm: str, train: Path, test: Path, seed: int, args, runs: str) -> dict:
    from knobs.config import load_config
    from knobs.pipeline import Display, run

    overrides = {"name": f"{arm}-{seed}", "runs_dir": runs, "seed": seed, "data.source": str(train),
                 "data.test": str(test), "data.val": 0.15, "data.memory": 1, "model.family": "convnet",
                 "search.n_trials": args.trials, "search.sampler": "random", "search.pruner": "none",
                 "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "optimizer": "adam",
                                  "channels": 16, "depth": 2, "batch_size": 64},
                 "train.epochs": args.epochs, "train.patience": 4, "ensemble.top_k": 2,
                 "checks.overfit_tiny": False, **ARMS[arm]}
    start = time.perf_counter()
    result = run(load_config(None, overrides), display=Display(quiet=True))
    seconds = time.perf_counter() - start
    summary = result.summary
    assert summary["data"]["loading"]["memory"]["path"] == "streamed", summary["data"]["loading"]["memory"]
    recall = summary["test"]["per_class_recall"] if "per_class_recall" in summary["test"] else _recall(summary["test"])
    return {"test_accuracy": summary["test"]["accuracy"], "balanced_accuracy": summary["test"]["balanced_accuracy"],
            "macro_f1": summary["test"]["macro_f1"], "tail_recall": float(np.mean(recall[-3:])),
            "head_recall": float(np.mean(recall[:3])), "per_class_recall": [round(r, 4) for r in recall],
            "seconds": round(seconds, 1)}


def _recall(test: dict) -> list[float]:
    matrix = np.asarray(test["confusion_matrix"], dtype=float)
    return (np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)).tolist()


def main() -> dict:
    parser = arms_parser(__doc__, trials=4)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--head", type=int, default=400, help="images of the largest class")
    parser.add_argument("--factor", type=float, default=20.0, help="largest over smallest class")
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    args = parser.parse_args()
    start = time.perf_counter()
    per_seed: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    with tempfile.TemporaryDirectory() as scratch:
        root = extract(Path(scratch) / "cifar10")
        classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
        counts = long_tail(classes, args.head, args.factor)
        for seed in range(args.seeds):
            train = linked(root / "train", Path(scratch) / f"train-{seed}", counts, seed)
            test = linked(root / "test", Path(scratch) / f"test-{seed}", {c: args.test_per_class for c in classes},
                          1000 + seed)
            for arm in args.arms:
                got = one_run(arm, train, test, seed, args, str(Path(scratch) / "runs"))
                per_seed[arm].append(got)
                print(f"seed {seed} {arm}: " + ", ".join(f"{k} {got[k]:.4f}" for k in SHOWN) +
                      f", {got['seconds']:.1f} s", flush=True)
    means = {arm: {k: round(statistics.fmean(r[k] for r in rows), 4) for k in (*SHOWN, "macro_f1", "seconds")}
             for arm, rows in per_seed.items()}
    print(f"\n| arm | {' | '.join(SHOWN)} | macro_f1 | seconds |\n|---|{'---|' * (len(SHOWN) + 2)}")
    for arm, m in means.items():
        print(f"| {arm} | {' | '.join(f'{m[k]:.4f}' for k in SHOWN)} | {m['macro_f1']:.4f} | {m['seconds']:.1f} |")
    record = {"benchmark": "imbalance_streamed", "class_counts": counts, "trials": args.trials, "epochs": args.epochs,
              "seeds": args.seeds, "means": means, "per_seed": per_seed,
              "wall_s": round(time.perf_counter() - start, 1)}
    emit(record, args.out)
    return record


if __name__ == "__main__":
    main()
