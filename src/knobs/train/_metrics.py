"""Losses by task and one pass of evaluation over device minibatches.

Why sums on the device: each batch adds its loss sum and correct count to device tensors, and the
host reads them once at the end: no per-batch synchronization with the accelerator.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F

__all__ = ["TASKS", "LOSSES", "measure"]

TASKS = ("classification", "regression")
LOSSES: dict[str, Callable[..., torch.Tensor]] = {"classification": F.cross_entropy, "regression": F.mse_loss}


def measure(model: torch.nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], task: str,
            precision: Any) -> tuple[float, float | None]:
    """Mean loss (and accuracy for classification) of ``model`` in eval mode; its mode is restored."""
    was_training = model.training
    model.eval()
    sums, hits, count = [], [], 0
    try:
        with torch.no_grad():
            for xb, yb in batches:
                with precision.autocast():
                    out = model(xb)
                out = out.float()
                sums.append(LOSSES[task](out, yb, reduction="sum"))
                if task == "classification":
                    hits.append((out.argmax(dim=1) == yb).sum())
                count += yb.numel()
    finally:
        model.train(was_training)
    loss = float(torch.stack(sums).sum()) / count
    accuracy = float(torch.stack(hits).sum()) / count if hits else None
    return loss, accuracy
