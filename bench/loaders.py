"""Smoke checks of the loaders on real data: CIFAR-10 as JPEG folders, SST-2 as a TSV file.

Design. Both data sets come from ``/work/shared/data`` (see its README); nothing is downloaded and
nothing extracted stays behind (a temporary directory, removed at the end).

- CIFAR-10: the tarball is extracted; ``scan_image_folder`` reads the 50,000 training headers;
  ``load_image_folder`` decodes ``--per-class`` images of each class with 1 and with 2 threads
  (images per second); then ``knobs run`` trains a small ConvNet on that subset (random search,
  ``--trials`` trials, ``--epochs`` epochs, one torch thread, preflight data checks only) and the
  best checkpoint, with the run's ``preprocess.json``, is scored on 1,000 images of the official
  test folder (100 per class) decoded through ``Preprocessing.transform_files``.
- SST-2: ``load_text_csv`` reads ``train.tsv`` (67,349 rows), ``knobs run`` trains ``text_bag``
  on it (vocabulary fitted on its training split), and the best checkpoint is scored on
  ``dev.tsv`` (872 rows, column ``content``) through the saved preprocessing.

Run: ``.venv/bin/python bench/loaders.py [--per-class 500] [--trials 2] [--epochs 4]``. It prints
one line per step; the last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from knobs.config import load_config
from knobs.data import Preprocessing, load_image_folder, load_text_csv, scan_image_folder
from knobs.models import build_model
from knobs.pipeline import Display, run
from knobs.pipeline.trials._evaluate import outputs
from knobs.pipeline.model._build import split_params

DATA = Path("/work/shared/data")


def best_model(run_dir: Path) -> torch.nn.Module:
    state = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=False)
    extra = state["extra"]
    model = build_model(extra["family"], input_shape=tuple(extra["input_shape"]), n_classes=extra["n_classes"],
                        **split_params(extra["params"])[1])
    model.load_state_dict(state["model"])
    return model.eval()


def accuracy(model: torch.nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    probs = outputs(model, torch.as_tensor(X, dtype=torch.float32), "classification")
    return float(np.mean(probs.argmax(axis=1) == y))


def timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    print(f"{label}: {seconds:.1f} s", flush=True)
    return value, seconds


def cifar(tmp: Path, per_class: int, trials: int, epochs: int) -> dict:
    _, extract_s = timed("cifar: extract", lambda: tarfile.open(DATA / "cifar10-jpg.tar.gz").extractall(tmp, filter="data"))
    files, scan_s = timed("cifar: scan 50k headers", lambda: scan_image_folder(tmp / "train"))
    rates = {}
    for workers in (1, 2):
        ds, seconds = timed(f"cifar: decode {per_class}/class, {workers} thread(s)",
                            lambda: load_image_folder(tmp / "train", max_per_class=per_class, workers=workers))
        rates[workers] = round(len(ds) / seconds)
    cfg = load_config(None, {
        "name": "cifar", "runs_dir": str(tmp / "runs"), "data.source": str(tmp / "train"),
        "data.max_per_class": per_class, "model.family": "convnet", "search.n_trials": trials,
        "search.sampler": "random", "train.epochs": epochs, "train.patience": epochs,
        "checks.overfit_tiny": False, "checks.initial_loss": False,
        "search.space": {"lr": {"low": 1e-3, "high": 3e-3, "log": True}, "channels": 16, "depth": 2,
                         "head_width": 64, "batch_norm": True},
    })
    result, run_s = timed("cifar: knobs run", lambda: run(cfg, display=Display(quiet=True)))
    prep = Preprocessing.load(result.path / "preprocess.json")
    test = scan_image_folder(tmp / "test", max_per_class=100)
    official = accuracy(best_model(result.path), prep.transform_files(test.files), test.labels)
    print(f"cifar: vault test accuracy {result.summary['test']['accuracy']:.3f}, official test (1000) {official:.3f}")
    return {"train_files": len(files.files), "extract_s": round(extract_s, 1), "scan_s": round(scan_s, 1),
            "decode_images_per_s": rates, "subset": len(ds), "run_s": round(run_s, 1),
            "vault_test_accuracy": round(result.summary["test"]["accuracy"], 4),
            "official_test_accuracy_1000": round(official, 4), "preflight": _preflight(result.summary)}


def sst2(tmp: Path, trials: int, epochs: int) -> dict:
    ds, load_s = timed("sst2: load train.tsv", lambda: load_text_csv(DATA / "sst2" / "train.tsv", text_column="sentence"))
    cfg = load_config(None, {
        "name": "sst2", "runs_dir": str(tmp / "runs"), "data.source": str(DATA / "sst2" / "train.tsv"),
        "data.text_column": "sentence", "model.family": "text_bag", "search.n_trials": trials,
        "search.sampler": "random", "train.epochs": epochs, "train.patience": epochs, "train.batch_size": 256,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "embed_dim": 64, "width": 64, "depth": 1},
    })
    result, run_s = timed("sst2: knobs run", lambda: run(cfg, display=Display(quiet=True)))
    prep = Preprocessing.load(result.path / "preprocess.json")
    with open(DATA / "sst2" / "dev.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    texts = np.array([[r["content"]] for r in rows])
    labels = np.array([prep.record["class_names"].index(r["label"]) for r in rows])
    dev = accuracy(best_model(result.path), prep.transform(texts), labels)
    encoding = prep.record["encoding"]
    print(f"sst2: vault test accuracy {result.summary['test']['accuracy']:.3f}, dev {dev:.3f}, "
          f"vocab {len(prep.preprocessor.vocab_)}, length {prep.preprocessor.length_}")
    return {"rows": len(ds), "load_s": round(load_s, 1), "run_s": round(run_s, 1),
            "vocab": len(prep.preprocessor.vocab_), "length": prep.preprocessor.length_,
            "val_unknown_rate": encoding["val"]["unknown_rate"],
            "vault_test_accuracy": round(result.summary["test"]["accuracy"], 4), "dev_accuracy": round(dev, 4),
            "preflight": _preflight(result.summary)}


def _preflight(summary: dict) -> dict:
    return {r["name"]: r["passed"] for r in summary["preflight"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=500)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        figures = {"cifar10": cifar(Path(tmp), args.per_class, args.trials, args.epochs),
                   "sst2": sst2(Path(tmp), args.trials, args.epochs)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
