"""Small pieces the model checks share: tensors from arrays, a stratified pick, the task's loss."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from knobs.data import validate_labels
from knobs.errors import ConfigError, DataError
from knobs.train._batches import (check_position_outputs, class_targets, model_output, multilabel_targets,
                                  named_logits)
from knobs.train._losses import IGNORE_INDEX, classification_loss, dense_targets, multilabel_loss, one_channel

__all__ = ["TASKS", "as_tensors", "check_task", "disable_dropout", "label_range", "labels", "main_output", "output_picker", "pick",
           "task_loss"]

TASKS = ("classification", "regression", "multilabel")
DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
           nn.FeatureAlphaDropout)


def check_task(task: str) -> None:
    """Refuse a task the checks do not know."""
    if task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS}, got {task!r}")


def as_tensors(X, y, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Float32 inputs (integer ones as int64: token ids stay ids; each model call casts them as the model reads
    them, ``knobs.train._batches.cast_inputs``) and int64 labels (classification) or float32 targets (regression)."""
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    X = X.float() if X.is_floating_point() or X.dtype == torch.bool else X.long()
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    if len(X) != len(y) or len(X) == 0:
        raise DataError(f"X and y must be non-empty with one target per row; got X {tuple(X.shape)} "
                        f"and y {tuple(y.shape)}")
    if task == "multilabel":
        return X, multilabel_targets(y, "the checks")
    return X, (class_targets(y, "the checks") if task == "classification" else y.float())


def labels(y, task: str) -> np.ndarray:
    """The targets as a NumPy array the checks pick rows from: class indices for classification (a label
    column ``(n, 1)`` and one-hot rows read as their indices; soft labels refused, naming the fix)."""
    if task == "multilabel":
        return multilabel_targets(torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y),
                                  "the checks").numpy()
    if task != "classification":
        return np.asarray(y)
    return class_targets(torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y), "the checks").numpy()


def pick(y: np.ndarray, n: int, seed: int, stratify: bool) -> np.ndarray:
    """Indices of ``n`` rows; for classes, dealt round-robin so every class appears."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    if n >= len(y):
        return order
    if not stratify or y.ndim != 1:  # NOTE: a class per position (token tags, pixel classes): rows drawn at random
        return order[:n]
    # NOTE: rank each row within its class (in shuffled order), then take the lowest ranks: the
    # first row of every class, then the second of every class, and so on.
    labels = y[order]
    rank = np.empty(len(order), dtype=np.int64)
    for label in np.unique(labels):
        members = labels == label
        rank[members] = np.arange(members.sum())
    return order[np.argsort(rank, kind="stable")[:n]]


def label_range(y: torch.Tensor, outputs: torch.Tensor, n_classes: int | None) -> int:
    """The class count, checked against the model's output width and the labels (with a class per position, the
    labelled positions' against the logits on axis 1)."""
    dense = dense_targets(y)
    if dense:  # logits per position on axis 1, as the Trainer checks them
        check_position_outputs(outputs, y, [y])
    width = outputs.shape[1] if outputs.ndim == (y.ndim + 1 if dense else 2) else None
    y = y[y != IGNORE_INDEX] if dense else y
    if width == 1 and n_classes in (None, 2):  # one logit: a binary classifier (labels 0 / 1)
        validate_labels(y.numpy(), 2)
        return 2
    if n_classes is None:
        if width is None:
            shape = "(n, C, ...) logits, C on axis 1 for a class per position," if dense else "(n, C) logits"
            raise ConfigError(f"a classifier must output {shape} got {tuple(outputs.shape)}")
        n_classes = width
    if width != n_classes:
        raise ConfigError(f"the model outputs shape {tuple(outputs.shape)} but the data has "
                          f"{n_classes} classes; the last layer needs {n_classes} outputs")
    validate_labels(y.numpy(), n_classes)
    return n_classes


def task_loss(outputs: torch.Tensor, target: torch.Tensor, task: str) -> torch.Tensor:
    """Cross-entropy for classes, each label's binary cross-entropy for multi-label targets, MSE for regression (a
    trailing output axis of 1 is dropped)."""
    if task == "classification":
        return classification_loss(outputs, target)  # cross-entropy; a one-logit binary classifier's BCE
    if task == "multilabel":
        return multilabel_loss(outputs, target)
    if one_channel(outputs, target):  # a map of values (n, 1, H, W) for targets (n, H, W)
        outputs = outputs.squeeze(1)
    elif outputs.ndim == target.ndim + 1 and outputs.shape[-1] == 1:
        outputs = outputs.squeeze(-1)
    if outputs.shape != target.shape:
        raise ConfigError(f"regression outputs of shape {tuple(outputs.shape)} do not match "
                          f"targets of shape {tuple(target.shape)}")
    return F.mse_loss(outputs, target)


def disable_dropout(model: nn.Module) -> nn.Module:
    """Set every dropout layer's p to 0 (the model stays in train mode for batch norm)."""
    for module in model.modules():
        if isinstance(module, DROPOUT):
            module.p = 0.0
    return model


def output_picker(out, model: nn.Module, X: torch.Tensor, where: str) -> Callable[[Any], torch.Tensor]:
    """How to read the model's main output from what it returned in training mode (``out``): a function of
    such a return value, found once so a training loop need not look again.

    NOTE: the checks run the model in training mode (batch norm on batch statistics, as the first step
    sees it), where some models return more than their logits — Inception's auxiliary head, a tuple in
    training and one tensor in eval mode — which ``Trainer(loss=...)`` trains. Such a model is read
    through the item of the training output that has the eval output's shape; any other non-tensor
    output is ``model_output``'s one message."""
    if isinstance(out, torch.Tensor):
        return lambda o: o
    if named_logits(out) is not None:  # a Hugging Face-style output: its logits by name
        return lambda o: model_output(o, where)
    training = model.training
    try:
        with torch.no_grad():
            reference = model.eval()(X)
    finally:
        model.train(training)
    if isinstance(reference, torch.Tensor):
        if isinstance(out, (dict, tuple, list)):
            keys = out.keys() if isinstance(out, dict) else range(len(out))
            for key in keys:
                if isinstance(out[key], torch.Tensor) and out[key].shape == reference.shape:
                    return lambda o, key=key: o[key]
        elif isinstance(getattr(out, "logits", None), torch.Tensor) and out.logits.shape == reference.shape:
            return lambda o: o.logits
    return model_output(out, where)  # raises, naming what it returned


def main_output(out, model: nn.Module, X: torch.Tensor, where: str) -> torch.Tensor:
    """The model's main output from what it returned in training mode (``output_picker``'s, read once)."""
    return output_picker(out, model, X, where)(out)
