"""Class-imbalance treatments on a 10:1 digits variant, judged on the sealed test split.

Design. scikit-learn's bundled digits (1797 8x8 images, 10 classes). Per seed, classes 0-4 keep
all their rows (~180 each) and classes 5-9 keep a random 18 rows each: every minority class is
10x rarer than every majority class (990 rows). The rows are split stratified (val 20%, test
25%), the test split is sealed in a ``knobs.data.Vault`` before anything else, features are
standardized with training statistics, and each treatment trains the same MLP (one hidden layer
of 64, Adam lr 1e-3, batch 32, 30 epochs, same seed) on the training split only:

    none            cross-entropy on the rows as they are
    class_weights   cross-entropy weighted n / (C * n_c) from the training counts
    oversample      WeightedRandomSampler drawing every class equally often
    undersample     random undersampling to the smallest class
    smote           SMOTE (k_neighbors=5) on the standardized training features
    focal           focal loss, gamma=2, no class weights
    focal_weighted  focal loss, gamma=2, alpha = the balanced class weights

The vault is opened once per seed, after every arm has trained, and all arms are measured on
those rows: balanced accuracy, macro-F1 (``knobs.metrics``) and the mean recall of the five
minority classes. A second, binary table (classes 5-9 against 0-4, the same 10:1 rows) compares
plain cross-entropy's argmax with a decision threshold tuned on validation for balanced accuracy
(``knobs.balance.Threshold``), applied unchanged to the test rows.

Run: ``.venv/bin/python bench/data_imbalance.py [--seeds 3]``. It prints the tables; the last
line is one JSON object with the figures (``run(seeds)`` returns the same dict).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from knobs.balance import BalanceOptions, Threshold, balance_training
from knobs.data import Dataset, Standardizer, Vault, load_builtin, split
from knobs.metrics import classification_metrics
from knobs.models import build_model
from knobs.train import Trainer
from _seeded import over_seeds, seeded_main

MINORITY = (5, 6, 7, 8, 9)
MINORITY_ROWS = 18  # ~1/10 of a digits class
EPOCHS, BATCH, LR, WIDTH = 30, 32, 1e-3, 64

ARMS: dict[str, BalanceOptions] = {
    "none": BalanceOptions(),
    "class_weights": BalanceOptions(class_weight="balanced"),
    "oversample": BalanceOptions(sampler="oversample"),
    "undersample": BalanceOptions(sampler="undersample"),
    "smote": BalanceOptions(sampler="smote", smote_k=5),
    "focal": BalanceOptions(loss="focal", focal_gamma=2.0),
    "focal_weighted": BalanceOptions(loss="focal", focal_gamma=2.0, class_weight="balanced"),
}


def imbalanced_digits(seed: int, binary: bool = False) -> Dataset:
    """All rows of digits 0-4 and ``MINORITY_ROWS`` random rows of each of 5-9 (10:1)."""
    ds = load_builtin("digits")
    rng = np.random.default_rng(seed)
    keep = np.concatenate([
        rng.choice(np.flatnonzero(ds.y == c), MINORITY_ROWS, replace=False) if c in MINORITY
        else np.flatnonzero(ds.y == c) for c in range(10)
    ])
    y = np.isin(ds.y[keep], MINORITY).astype(np.int64) if binary else ds.y[keep]
    return dataclasses.replace(ds, X=ds.X[keep], y=y, n_classes=2 if binary else 10,
                               class_names=None, name=f"digits-10to1-{'binary' if binary else 'ten'}")


def sealed_splits(ds: Dataset, seed: int, vault_dir: Path):
    """Standardized train and val, and the vault holding the (raw) test split plus the scaler."""
    splits = split(ds, val=0.2, test=0.25, seed=seed)
    vault = Vault.seal(vault_dir, *splits.test, meta={"seed": seed, "data": ds.name})
    splits = splits.without_test()
    scaler = Standardizer("feature").fit(splits.train[0])
    train = (scaler.transform(splits.train[0]), splits.train[1])
    val = (scaler.transform(splits.val[0]), splits.val[1])
    return train, val, vault, scaler


def make_trainer(loss: torch.nn.Module, seed: int) -> Trainer:
    return Trainer(loss=loss, optimizer="adam", lr=LR, epochs=EPOCHS, batch_size=BATCH, seed=seed, device="cpu")


def train_arm(options: BalanceOptions, train, val, n_classes: int, seed: int) -> torch.nn.Module:
    balanced = balance_training(options, train, n_classes, seed=seed)
    torch.manual_seed(seed)
    model = build_model("mlp", input_shape=(train[0].shape[1],), n_classes=n_classes, width=WIDTH, depth=1)
    make_trainer(balanced.loss, seed).fit(model, train=balanced.train_data(BATCH), val=val)
    return model


@torch.no_grad()
def probabilities(model: torch.nn.Module, X: np.ndarray) -> np.ndarray:
    model.eval()
    return model(torch.as_tensor(X, dtype=torch.float32)).double().softmax(dim=1).numpy()


def ten_class_seed(seed: int, tmp: Path) -> dict[str, dict]:
    """Every arm on one seed's data; the vault is opened once, after all arms trained."""
    train, val, vault, scaler = sealed_splits(imbalanced_digits(seed), seed, tmp / f"ten-{seed}")
    models = {arm: train_arm(options, train, val, 10, seed) for arm, options in ARMS.items()}
    X_test, y_test = vault.open(reason=f"bench data_imbalance, seed {seed}: all arms")
    X_test = scaler.transform(X_test)
    out = {}
    for arm, model in models.items():
        m = classification_metrics(y_test, probabilities(model, X_test))
        recall = [m["per_class_recall"][c] for c in MINORITY if m["per_class_recall"][c] is not None]
        out[arm] = {"balanced_accuracy": m["balanced_accuracy"], "macro_f1": m["macro_f1"],
                    "accuracy": m["accuracy"], "minority_recall": float(np.mean(recall))}
    return out


def binary_seed(seed: int, tmp: Path) -> dict[str, dict]:
    """Plain cross-entropy on the binary 10:1 task: argmax vs a threshold tuned on validation."""
    train, val, vault, scaler = sealed_splits(imbalanced_digits(seed, binary=True), seed, tmp / f"bin-{seed}")
    model = train_arm(BalanceOptions(), train, val, 2, seed)
    threshold = Threshold("balanced_accuracy").fit(val[1], probabilities(model, val[0]))
    X_test, y_test = vault.open(reason=f"bench data_imbalance binary, seed {seed}")
    proba = probabilities(model, scaler.transform(X_test))
    out = {}
    for arm, cut in (("argmax", None), ("tuned_threshold", threshold.threshold_)):
        m = classification_metrics(y_test, proba, threshold=cut)
        out[arm] = {"balanced_accuracy": m["balanced_accuracy"], "macro_f1": m["macro_f1"],
                    "minority_recall": m["per_class_recall"][1], "threshold": m["threshold"]}
    return out


def run(seeds: int = 3) -> dict:
    """Both tables over ``seeds`` seeds; returns the figures (means and per-seed values)."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        ten = [ten_class_seed(seed, Path(tmp)) for seed in range(seeds)]
        binary = [binary_seed(seed, Path(tmp)) for seed in range(seeds)]
    result = {"bench": "data_imbalance", "seeds": seeds, "ratio": "10:1",
              "data": f"digits, classes 0-4 all rows, classes 5-9 {MINORITY_ROWS} rows each",
              "ten_class": _summarize(ten), "binary": _summarize(binary)}
    none = result["ten_class"]["none"]
    result["gain_balanced_accuracy_vs_none"] = {
        arm: round(v["balanced_accuracy"] - none["balanced_accuracy"], 4)
        for arm, v in result["ten_class"].items() if arm != "none"}
    result["seeds_where_beats_none"] = {
        arm: sum(a > b for a, b in zip(v["balanced_accuracy_per_seed"], none["balanced_accuracy_per_seed"]))
        for arm, v in result["ten_class"].items() if arm != "none"}
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def _summarize(per_seed: list[dict[str, dict]]) -> dict[str, dict]:
    summary = {}
    for arm in per_seed[0]:
        rows = [seed_result[arm] for seed_result in per_seed]
        entry = {name: round(statistics.mean(r[name] for r in rows), 4) for name in ("macro_f1", "minority_recall")}
        entry.update(over_seeds("balanced_accuracy", [r["balanced_accuracy"] for r in rows]))
        if "threshold" in rows[0]:
            entry["threshold_per_seed"] = [round(r["threshold"], 4) for r in rows]
        summary[arm] = entry
    return summary


def table(result: dict) -> str:
    lines = [f"10:1 digits ({result['data']}), sealed test split, mean over {result['seeds']} seeds",
             f"{'treatment':16s} {'bal. acc':>9s} {'± sd':>7s} {'macro-F1':>9s} {'minority recall':>16s} {'gain':>7s}"]
    none = result["ten_class"]["none"]["balanced_accuracy"]
    for arm, v in result["ten_class"].items():
        lines.append(f"{arm:16s} {v['balanced_accuracy']:9.4f} {v['balanced_accuracy_sd']:7.4f} "
                     f"{v['macro_f1']:9.4f} {v['minority_recall']:16.4f} {v['balanced_accuracy'] - none:+7.4f}")
    lines += ["", "binary 10:1 (digits 5-9 vs 0-4), plain cross-entropy",
              f"{'decision':16s} {'bal. acc':>9s} {'± sd':>7s} {'macro-F1':>9s} {'minority recall':>16s}"]
    for arm, v in result["binary"].items():
        lines.append(f"{arm:16s} {v['balanced_accuracy']:9.4f} {v['balanced_accuracy_sd']:7.4f} "
                     f"{v['macro_f1']:9.4f} {v['minority_recall']:16.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    return seeded_main(__doc__, run, table, argv)


if __name__ == "__main__":
    main()
