"""The Trainer on task types beyond one class per row, on real images: a class per pixel and several labels per row.

Why: ``Trainer`` takes a class per position (logits ``(n, C, H, W)`` against labels ``(n, H, W)``) and
``task="multilabel"`` (``(n, K)`` 0 / 1 targets); the tests check their arithmetic on small generated data, this
measures what they learn on real data against baselines that cannot do the task's job.

- **Segmentation of digits** (scikit-learn's 8 × 8 digits, offline): every pixel of ink (value ≥ 4) is labelled with
  its digit, the rest background (class 10): a pixel's class needs the whole image. A small fully convolutional net
  (three 3 × 3 convolutions, padding kept) against the best a pixel alone can do (ink → the most frequent digit).
- **Multi-label digits**: four labels per image — even, five or more, prime, has a closed loop (0, 6, 8, 9) — an MLP
  against one logistic regression per label (scikit-learn), on the same standardized pixels.

    .venv/bin/python bench/dense_tasks.py [--seeds 3] [--epochs 30] [--out bench/results/dense_tasks.json]

The last printed line is one JSON object with the figures (mean over seeds); ``--out`` writes it too.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, jaccard_score
from sklearn.model_selection import train_test_split
from torch import nn

from knobs.train import Trainer

from _seeded import emit

INK = 4.0
BACKGROUND = 10
LOOPS = (0, 6, 8, 9)
PRIMES = (2, 3, 5, 7)


def digits(seed: int):
    data = load_digits()
    images, classes = data.images.astype(np.float32), data.target
    return train_test_split(images, classes, test_size=0.3, random_state=seed, stratify=classes)


def pixel_labels(images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each ink pixel its digit, every other pixel background."""
    return np.where(images >= INK, classes[:, None, None], BACKGROUND).astype(np.int64)


def image_labels(classes: np.ndarray) -> np.ndarray:
    """Four labels per digit: even, five or more, prime, has a closed loop."""
    return np.stack([classes % 2 == 0, classes >= 5, np.isin(classes, PRIMES), np.isin(classes, LOOPS)],
                    axis=1).astype(np.float32)


def segmenter() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=2, dilation=2),
                         nn.ReLU(), nn.Conv2d(64, 64, 3, padding=4, dilation=4), nn.ReLU(), nn.Conv2d(64, 11, 1))


def segmentation(seed: int, epochs: int) -> dict:
    Xtr, Xte, ctr, cte = digits(seed)
    ytr, yte = pixel_labels(Xtr, ctr), pixel_labels(Xte, cte)
    scale = lambda X: torch.as_tensor(X[:, None] / 16.0)  # noqa: E731
    torch.manual_seed(seed)
    model = segmenter()
    trainer = Trainer(optimizer="adam", lr=3e-3, epochs=epochs, batch_size=64, seed=seed, metrics="mean_iou")
    start = time.perf_counter()
    trainer.fit(model, (scale(Xtr), torch.as_tensor(ytr)), 0.15)
    seconds = time.perf_counter() - start
    predicted = trainer.predict(model, scale(Xte)).argmax(1).numpy()
    ink_class = np.bincount(ctr).argmax()  # the best a pixel alone can say: ink or not
    alone = np.where(Xte >= INK, ink_class, BACKGROUND)
    iou = lambda p: float(jaccard_score(yte.reshape(-1), p.reshape(-1), average="macro"))  # noqa: E731
    return {"net_pixel_accuracy": float((predicted == yte).mean()), "net_mean_iou": iou(predicted),
            "pixel_alone_accuracy": float((alone == yte).mean()), "pixel_alone_mean_iou": iou(alone),
            "seconds": seconds}


def multilabel(seed: int, epochs: int) -> dict:
    Xtr, Xte, ctr, cte = digits(seed)
    Xtr, Xte = Xtr.reshape(len(Xtr), -1), Xte.reshape(len(Xte), -1)
    mean, std = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    Ytr, Yte = image_labels(ctr), image_labels(cte)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 4))
    trainer = Trainer(task="multilabel", optimizer="adam", lr=1e-3, epochs=epochs, batch_size=64, seed=seed,
                      metrics="macro_f1", early_stopping={"monitor": "macro_f1", "patience": 8})
    start = time.perf_counter()
    trainer.fit(model, (torch.as_tensor(Xtr), torch.as_tensor(Ytr)), 0.15)
    seconds = time.perf_counter() - start
    net = (trainer.predict(model, torch.as_tensor(Xte)).numpy() > 0).astype(int)
    linear = np.stack([LogisticRegression(max_iter=2000).fit(Xtr, Ytr[:, k]).predict(Xte) for k in range(4)], axis=1)
    truth = Yte.astype(int)
    return {"net_macro_f1": float(f1_score(truth, net, average="macro")),
            "net_subset_accuracy": float((net == truth).all(1).mean()),
            "logreg_macro_f1": float(f1_score(truth, linear, average="macro")),
            "logreg_subset_accuracy": float((linear == truth).all(1).mean()), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default=None, help="write the JSON figures here too")
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = {"segmentation": [segmentation(s, args.epochs) for s in range(args.seeds)],
            "multilabel": [multilabel(s, args.epochs) for s in range(args.seeds)]}
    means = {task: {key: statistics.mean(r[key] for r in rows) for key in rows[0]} for task, rows in runs.items()}
    seg, ml = means["segmentation"], means["multilabel"]
    print(f"digits, test split (30%), mean of {args.seeds} seeds, {args.epochs} epochs, one thread")
    print(f"{'task':<34}{'knobs Trainer':>16}{'baseline':>12}{'train s':>9}")
    print(f"{'segmentation: pixel accuracy':<34}{seg['net_pixel_accuracy']:>16.4f}{seg['pixel_alone_accuracy']:>12.4f}"
          f"{seg['seconds']:>9.1f}")
    print(f"{'segmentation: mean IoU':<34}{seg['net_mean_iou']:>16.4f}{seg['pixel_alone_mean_iou']:>12.4f}")
    print(f"{'multi-label: macro-F1':<34}{ml['net_macro_f1']:>16.4f}{ml['logreg_macro_f1']:>12.4f}{ml['seconds']:>9.1f}")
    print(f"{'multi-label: subset accuracy':<34}{ml['net_subset_accuracy']:>16.4f}{ml['logreg_subset_accuracy']:>12.4f}")
    emit({"seeds": args.seeds, "epochs": args.epochs, **means}, args.out)


if __name__ == "__main__":
    main()
