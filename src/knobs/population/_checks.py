"""The loop settings population mode checks before any work (the members' own are checked by
``_members``): what early stopping watches, the precision, and the model's input and output sizes.
"""

from __future__ import annotations

from typing import Any

import torch

from knobs.errors import ConfigError
from knobs.train import EarlyStopping
from knobs.train._batches import TensorBatches
from knobs.train._device import Precision, resolve_precision

__all__ = ["check_loop", "check_precision", "model_shapes"]


def check_loop(settings: dict[str, Any], *, has_val: bool) -> tuple[str, str]:
    """(monitor, mode); early stopping's own checks when ``patience`` is set."""
    patience, monitor = settings["patience"], settings["monitor"]
    if patience is None and not has_val and isinstance(monitor, str) and monitor.startswith("val"):
        monitor = "train_loss"  # as the Trainer: without validation data, the training loss is watched
    stopper = EarlyStopping(patience=0 if patience is None else patience, min_delta=settings["min_delta"],
                            monitor=monitor)
    stopper.check(has_val=has_val)
    if settings["on_epoch"] is not None and not callable(settings["on_epoch"]):
        raise ConfigError(f"on_epoch: expected a callable on_epoch(index, record), got {settings['on_epoch']!r}")
    size = settings["eval_batch_size"]
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise ConfigError(f"eval_batch_size: expected an integer >= 1, got {size!r}")
    return monitor, stopper.mode_


def check_precision(precision: Any, device: torch.device) -> Precision:
    """The resolved precision; fp16 is refused (its loss scale would have to be per member)."""
    resolved = resolve_precision(precision, device)
    if resolved.scaled:
        raise ConfigError("precision: 'fp16' needs a loss scale per member; population mode takes 'auto', "
                          "'fp32' or 'bf16'")
    return resolved


def model_shapes(train: Any, val: Any, input_shape: Any, n_classes: Any, task: str) -> tuple[tuple[int, ...], int]:
    """The model's input shape and output count: given, or read off in-memory data."""
    if not isinstance(train, TensorBatches):
        if input_shape is None or n_classes is None:
            raise ConfigError("input_shape, n_classes: a DataLoader is not read ahead; pass both "
                              "(e.g. input_shape=(64,), n_classes=10)")
        return tuple(input_shape), int(n_classes)
    shape = tuple(input_shape) if input_shape is not None else tuple(train.X.shape[1:])
    if n_classes is not None:
        return shape, int(n_classes)
    if task == "regression":
        return shape, int(train.y.shape[1])
    return shape, max(int(b.y.max()) for b in (train, val) if isinstance(b, TensorBatches)) + 1
