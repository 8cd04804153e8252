"""Augmentation: test accuracy with and without it on tiny digits, and its throughput on a device.

(a) Accuracy. scikit-learn's bundled digits (1797 8x8 images, pixels scaled to [0, 1], 1
channel). Per seed: 20 random images per class train (200), another 20 per class validate (200),
the remaining 1397 are the test set, looked at once per arm after training. Every arm trains the
same ConvNet (``knobs.models.build_model("convnet", channels=16, depth=2, head_width=64)``, Adam
lr 3e-3, batch 32, up to 200 epochs, early stopping on validation loss with patience 40 and the
best weights restored, the same seed) with ``knobs.train.Trainer``; the augmentation is the
Trainer's ``batch_transform`` (``knobs.augment.ImageAugment``), applied to training batches only:

    none             no augmentation
    geometric        rotation ±10°, translation ±10%, random resized crop (area >= 0.8); p = 0.8 each
    mixup            mixup, alpha = 0.2
    cutmix           CutMix, alpha = 1.0
    geometric+mixup  both of the above

Settings are the papers' usual values, fixed before any run (none was tuned on these test sets).
Digits are not flip-invariant, so no flips.

(b) Throughput. Batches of 256 random 3x32x32 images in [0, 1] (CIFAR-sized; the cost of these
ops does not depend on the pixel values) through each step alone (p = 1) and through a typical
pipeline (flip, crop, rotation/translation, colour jitter, mixup), in images per second: the best
of 3 timings of at least 0.3 s each (CUDA synchronized). For scale, the same pipeline applied one
image at a time (how per-image transforms in DataLoader workers run) is timed too. The CPU figures
use one thread.

Run: ``.venv/bin/python bench/data_augment.py [--seeds 3] [--device cpu|cuda] [--skip-accuracy]``.
It prints the tables; the last line is one JSON object with the figures (``run(seeds)`` returns
the same dict).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from knobs.augment import ImageAugment
from knobs.data import load_builtin
from knobs.models import build_model
from knobs.train import EarlyStopping, Trainer

from _seeded import over_seeds  # noqa: E402 — bench/ is on the path (script directory)

PER_CLASS = 20
MODEL = {"channels": 16, "depth": 2, "head_width": 64}
TRAINING = {"optimizer": "adam", "lr": 3e-3, "batch_size": 32, "epochs": 200}
PATIENCE = 40
GEOMETRIC = {"rotation": 10, "translate": 0.1, "affine_p": 0.8, "crop_scale": 0.8, "crop_p": 0.8}
ARMS: dict[str, dict] = {
    "none": {},
    "geometric": GEOMETRIC,
    "mixup": {"mixup_alpha": 0.2},
    "cutmix": {"cutmix_alpha": 1.0},
    "geometric+mixup": {**GEOMETRIC, "mixup_alpha": 0.2},
}

BATCH, IMAGE = 256, (3, 32, 32)
STEPS: dict[str, dict] = {
    "hflip": {"hflip": 1.0},
    "vflip": {"vflip": 1.0},
    "crop": {"crop_scale": 0.5, "crop_p": 1.0},
    "rotation": {"rotation": 15, "affine_p": 1.0},
    "translation": {"translate": 0.1, "affine_p": 1.0},
    "brightness_contrast": {"brightness": 0.2, "contrast": 0.2, "color_p": 1.0},
    "color_jitter": {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05, "color_p": 1.0},
    "noise": {"noise": 0.05, "noise_p": 1.0},
    "mixup": {"mixup_alpha": 0.2},
    "cutmix": {"cutmix_alpha": 1.0},
}
TYPICAL = {"hflip": 0.5, "crop_scale": 0.6, "crop_p": 0.5, "rotation": 10, "translate": 0.1, "affine_p": 0.5,
           "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.05, "color_p": 0.8, "mixup_alpha": 0.2}


# ---- (a) accuracy -----------------------------------------------------------------------------

def digits_splits(seed: int) -> tuple[tuple, tuple, tuple]:
    """``PER_CLASS`` train and val images per class and the rest as test, as (N, 1, 8, 8) in [0, 1]."""
    ds = load_builtin("digits")
    X = torch.as_tensor(ds.X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    y = torch.as_tensor(ds.y, dtype=torch.long)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(ds.n_classes):
        rows = rng.permutation(np.flatnonzero(ds.y == c))
        train += rows[:PER_CLASS].tolist()
        val += rows[PER_CLASS:2 * PER_CLASS].tolist()
    test = np.setdiff1d(np.arange(len(y)), train + val)
    return (X[train], y[train]), (X[val], y[val]), (X[test], y[test])


def accuracy_arm(options: dict, seed: int, splits) -> dict:
    """Train one arm on one seed; its test accuracy and the epochs it ran."""
    train, val, test = splits
    torch.manual_seed(seed)
    model = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, **MODEL)
    augment = ImageAugment(options, n_classes=10) if options else None
    trainer = Trainer(**TRAINING, seed=seed, device="cpu", batch_transform=augment,
                      early_stopping=EarlyStopping(patience=PATIENCE, monitor="val_loss"))
    history = trainer.fit(model, train, val)
    return {"test_accuracy": trainer.evaluate(model, test)["accuracy"], "epochs": len(history.records),
            "best_epoch": history.best_epoch}


def accuracy(seeds: int) -> dict:
    """Every arm over ``seeds`` seeds: mean test accuracy, its sd, per seed, and the gain over none."""
    per_seed = []
    for seed in range(seeds):
        splits = digits_splits(seed)
        per_seed.append({arm: accuracy_arm(options, seed, splits) for arm, options in ARMS.items()})
    summary = {}
    for arm in ARMS:
        summary[arm] = {**over_seeds("test_accuracy", [s[arm]["test_accuracy"] for s in per_seed]),
                        "mean_epochs": round(statistics.mean(s[arm]["epochs"] for s in per_seed), 1)}
    base = summary["none"]["test_accuracy_per_seed"]
    for arm, entry in summary.items():
        entry["gain_vs_none"] = round(entry["test_accuracy"] - summary["none"]["test_accuracy"], 4)
        entry["seeds_beating_none"] = sum(a > b for a, b in zip(entry["test_accuracy_per_seed"], base))
    return summary


# ---- (b) throughput ---------------------------------------------------------------------------

def _images_per_second(fn, n_images: int, device: torch.device, min_seconds: float = 0.3) -> float:
    """Best of 3 timings of ``fn`` repeated for at least ``min_seconds``."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    fn()
    sync()
    best = 0.0
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, calls * n_images / elapsed)
    return best


def throughput(device: str = "cpu") -> dict:
    """Images per second of each step, the typical pipeline, and that pipeline image by image."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(BATCH, *IMAGE, generator=g).to(dev)
    y = torch.randint(0, 10, (BATCH,), generator=g).to(dev)
    out = {}
    for name, options in {**STEPS, "typical_pipeline": TYPICAL}.items():
        augment = ImageAugment(options, n_classes=10, seed=0)
        out[name] = round(_images_per_second(lambda: augment(x, y), BATCH, dev))
    one_by_one = ImageAugment(TYPICAL, n_classes=10, seed=0)
    few = 32  # per-image calls are slow: time 32 images and scale

    def per_image() -> None:
        for i in range(few):
            one_by_one(x[i:i + 1], y[i:i + 1])

    out["typical_pipeline_per_image_calls"] = round(_images_per_second(per_image, few, dev))
    return out


# ---- the run ----------------------------------------------------------------------------------

def run(seeds: int = 3, device: str = "cpu", skip_accuracy: bool = False) -> dict:
    """(a) over ``seeds`` seeds on the CPU and (b) on ``device``; returns the figures."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    result: dict = {"bench": "data_augment", "seeds": seeds, "device": device,
                    "data": f"digits, {PER_CLASS} train + {PER_CLASS} val images per class, rest test",
                    "loop": "knobs.train.Trainer with batch_transform=ImageAugment"}
    if not skip_accuracy:
        result["accuracy"] = accuracy(seeds)
        none = result["accuracy"]["none"]["test_accuracy"]
        best = max(result["accuracy"], key=lambda arm: result["accuracy"][arm]["test_accuracy"])
        result["best_arm"], result["best_gain_vs_none"] = best, round(result["accuracy"][best]["test_accuracy"] - none, 4)
    if device == "cpu":
        result["cpu_threads"] = torch.get_num_threads()
    elif torch.cuda.is_available():
        result["gpu"] = torch.cuda.get_device_name(torch.device(device))
    result["throughput_images_per_s"] = throughput(device)
    result["batch"] = f"{BATCH} x {'x'.join(map(str, IMAGE))}"
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def table(result: dict) -> str:
    lines = []
    if "accuracy" in result:
        lines += [f"digits, {PER_CLASS} images per class, test accuracy, mean over {result['seeds']} seeds",
                  f"{'augmentation':16s} {'test acc':>9s} {'± sd':>7s} {'gain':>7s} {'beats none':>11s} {'epochs':>7s}"]
        for arm, v in result["accuracy"].items():
            lines.append(f"{arm:16s} {v['test_accuracy']:9.4f} {v['test_accuracy_sd']:7.4f} {v['gain_vs_none']:+7.4f} "
                         f"{v['seeds_beating_none']:>6d}/{result['seeds']:<4d} {v['mean_epochs']:7.1f}")
        lines.append("")
    lines += [f"throughput on {result['device']}, batches of {result['batch']}",
              f"{'step':34s} {'images/s':>12s}"]
    for name, value in result["throughput_images_per_s"].items():
        lines.append(f"{name:34s} {value:12,d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="where (b) runs: cpu, cuda or cuda:N")
    parser.add_argument("--skip-accuracy", action="store_true", help="only (b), e.g. on a GPU machine")
    args = parser.parse_args(argv)
    result = run(seeds=args.seeds, device=args.device, skip_accuracy=args.skip_accuracy)
    print(table(result))
    print(f"({result['wall_s']} s)")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
