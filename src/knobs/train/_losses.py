"""Losses by task, and how a user's loss meets knobs' targets and a one-logit binary classifier's outputs.

Why in one place: validation, metrics, the checks, predictions and the training step must read a model's outputs
the same way — C logits, or one logit for two classes — and every loss must receive targets it can take.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from knobs.errors import ConfigError, DataError

__all__ = ["IGNORE_INDEX", "LOSSES", "FloatTargets", "TwoLogits", "check_loss_reads_logits", "class_probabilities",
           "classification_loss", "dense_targets", "one_channel", "labelled_positions", "label_probabilities", "multilabel_loss",
           "per_example", "predicted_classes", "predicted_labels", "regression_loss", "single_logit",
           "with_float_targets"]

#: The label of a position that has none (padding in a sequence, a void pixel): torch's ``ignore_index`` default.
IGNORE_INDEX = -100


def regression_loss(out: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """MSE of outputs against targets of the same shape: a model's ``(n,)`` (its last axis squeezed) for targets
    ``(n, 1)`` is read as ``(n, 1)``.

    NOTE: ``F.mse_loss`` broadcasts ``(n,)`` against ``(n, 1)`` into an ``(n, n)`` loss with only a UserWarning;
    from a DataLoader such a model trained on that (a validation MSE of 1,567 where 0.01 was reachable), in memory
    it was refused without saying why. Any other mismatch is one ``DataError``."""
    if out.shape != target.shape:
        if out.ndim == target.ndim - 1 and target.shape[-1] == 1 and out.shape == target.shape[:-1]:
            out = out.unsqueeze(-1)
        elif one_channel(out, target):  # a map of values (depth, a heat map): one output channel (n, 1, H, W)
            out = out.squeeze(1)
        else:
            raise DataError(f"regression: the model outputs shape {tuple(out.shape)} for targets of shape "
                            f"{tuple(target.shape)}; give it one output per target column (its last layer "
                            f"nn.Linear(..., {target.shape[-1] if target.ndim > 1 else 1}))")
    return F.mse_loss(out, target, reduction=reduction)


def one_channel(out: torch.Tensor, target: torch.Tensor) -> bool:
    """Whether ``out`` is ``target``'s shape with one channel on axis 1: a model's ``(n, 1, H, W)`` map of values for
    targets ``(n, H, W)`` (a depth map, a heat map), read as ``(n, H, W)``."""
    return out.ndim == target.ndim + 1 and target.ndim >= 2 and out.shape[1] == 1 and \
        out.shape[:1] + out.shape[2:] == target.shape


def single_logit(out: torch.Tensor) -> bool:
    """Whether ``out`` is one logit per row (or per position), a binary classifier's (``nn.Linear(d, 1)``,
    ``nn.Conv2d(c, 1, 1)``, as with BCE), not C logits on axis 1."""
    return out.ndim == 1 or (out.ndim >= 2 and out.shape[1] == 1)


def dense_targets(target: torch.Tensor) -> bool:
    """Whether ``target`` holds a class per position — ``(n, T)`` token tags, ``(n, H, W)`` pixel classes, with
    ``IGNORE_INDEX`` where a position has none — rather than one per row (``(n,)`` indices, ``(n, C)`` soft labels).
    The model then gives its C logits on axis 1: ``(n, C, T)``, ``(n, C, H, W)``, as ``nn.CrossEntropyLoss`` reads."""
    return target.ndim >= 2 and not target.is_floating_point()


def labelled_positions(out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position outputs and targets as rows: ``(N, C)`` (or ``(N, 1)``) logits and ``(N,)`` classes over the
    labelled positions (``IGNORE_INDEX`` dropped), so accuracy and the ``knobs.metrics`` read them as rows; per-row
    targets pass unchanged."""
    if not dense_targets(target):
        return out, target
    rows = out.movedim(1, -1).reshape(-1, out.shape[1]) if out.ndim > target.ndim else out.reshape(-1, 1)
    keep = target.reshape(-1) != IGNORE_INDEX
    return rows[keep], target.reshape(-1)[keep]


def per_example(per: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One loss per example from a loss per element (``reduction="none"``): the mean over its labelled positions
    (a padded position's 0 does not dilute a short sequence's loss)."""
    if per.ndim <= 1:
        return per
    n = len(per)
    if dense_targets(target) and per.shape == target.shape:
        keep = (target != IGNORE_INDEX).reshape(n, -1)
        return per.reshape(n, -1).sum(1) / keep.sum(1).clamp_min(1)
    return per.reshape(n, -1).mean(1)


def classification_loss(out: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of C logits against class indices (or class probabilities); for one logit per row, a binary
    classifier's, the binary cross-entropy on it (labels 0 / 1), as ``nn.BCEWithLogitsLoss`` computes it.

    Per-position targets (``dense_targets``: token tags, pixel classes) take the cross-entropy at each labelled
    position; ``IGNORE_INDEX`` positions count in no sum or mean.

    NOTE: a one-logit binary classifier was refused ("build it with n_classes >= 2"), and the cross-entropy of a
    single logit is 0 whatever it says."""
    if single_logit(out) and not target.is_floating_point() and out.numel() == target.numel():
        # NOTE: a DataLoader's labels are not read ahead (check_outputs): a class above 1 would train as a target of 2
        if bool((target > 1).any()):
            raise DataError(f"the model gives one output per row, a binary classifier's logit, but a label is "
                            f"{int(target.max())}; one logit is for labels 0 / 1 — for C classes give the model C outputs")
        z = out.reshape(target.shape)
        if target.ndim == 1:
            return F.binary_cross_entropy_with_logits(z, target.to(out.dtype), reduction=reduction)
        keep = (target != IGNORE_INDEX).to(out.dtype)
        per = F.binary_cross_entropy_with_logits(z, target.clamp_min(0).to(out.dtype), reduction="none") * keep
        return per if reduction == "none" else per.sum() if reduction == "sum" else per.sum() / keep.sum().clamp_min(1)
    return F.cross_entropy(out, target, reduction=reduction)


def predicted_classes(out: torch.Tensor) -> torch.Tensor:
    """The class each row's (or position's) outputs choose: the largest logit on axis 1, or for one logit whether
    it is above 0."""
    if single_logit(out):
        return ((out.squeeze(1) if out.ndim > 1 else out) > 0).long()
    return out.argmax(dim=1)


def class_probabilities(out: torch.Tensor) -> torch.Tensor:
    """Class probabilities on axis 1: the softmax of C logits, or ``[1 − p, p]`` with p the sigmoid of one."""
    if single_logit(out):
        p = torch.sigmoid(out.squeeze(1) if out.ndim > 1 else out)
        return torch.stack([1 - p, p], dim=1)
    return out.softmax(dim=1)


def multilabel_loss(out: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Multi-label (several classes per row, ``task="multilabel"``): the binary cross-entropy of one logit per label
    against targets of 0 / 1 (or probabilities, in training), as ``nn.BCEWithLogitsLoss`` computes it; the mean is
    over every row's every label."""
    if out.shape != target.shape:
        raise DataError(f"multi-label: the model outputs shape {tuple(out.shape)} for targets of shape "
                        f"{tuple(target.shape)}; give it one logit per label (its last layer "
                        f"nn.Linear(..., {target.shape[-1] if target.ndim > 1 else 1}))")
    return F.binary_cross_entropy_with_logits(out, target.to(out.dtype), reduction=reduction)


def predicted_labels(out: torch.Tensor) -> torch.Tensor:
    """A multi-label model's labels: 1 where a label's logit is above 0 (probability above 0.5)."""
    return (out > 0).long()


def label_probabilities(out: torch.Tensor) -> torch.Tensor:
    """A multi-label model's probability of each label, independently: the sigmoid of its logit."""
    return torch.sigmoid(out)


LOSSES: dict[str, Callable[..., torch.Tensor]] = {"classification": classification_loss, "regression": regression_loss,
                                                  "multilabel": multilabel_loss}


class FloatTargets:
    """torch's binary cross-entropy losses given knobs' class indices: the targets cast to the outputs' dtype and
    shaped as them (``nn.BCEWithLogitsLoss`` refuses int64 labels ``(n,)`` against logits ``(n, 1)``), or, against C
    logits, one-hot rows of their classes (a sigmoid per class)."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if isinstance(out, torch.Tensor) and target.numel() == out.numel():
            target = target.to(out.dtype).reshape(out.shape)
        elif isinstance(out, torch.Tensor) and out.ndim == 2 and target.ndim == 1 and not target.is_floating_point():
            # NOTE: C logits, one sigmoid each (a one-vs-rest classifier): its class as a one-hot row; torch said
            # "Target size ([64]) must be the same as input size ([64, 3])"
            target = F.one_hot(target, out.shape[1]).to(out.dtype)
        return self.loss(out, target)


def check_loss_reads_logits(loss: Any, task: str) -> None:
    """Refuse ``nn.BCELoss`` for a classifier: it reads probabilities (a final Sigmoid's), while validation,
    metrics and predictions read a binary classifier's one output as a logit (its class: logit > 0).

    Raises:
        ConfigError: naming the fix, ``nn.BCEWithLogitsLoss`` without the Sigmoid (torch's own advice: the
            numerically stable form, and the only one mixed precision takes)."""
    if task in ("classification", "multilabel") and isinstance(loss, torch.nn.BCELoss):
        what = "a multi-label model's outputs as logits (a label: logit > 0)" if task == "multilabel" else \
            "a binary classifier's one output as a logit (its class: logit > 0)"
        raise ConfigError(f"loss: nn.BCELoss reads probabilities (after a final Sigmoid), and knobs reads {what}; "
                          f"drop the model's final Sigmoid and use nn.BCEWithLogitsLoss or the default loss (the "
                          f"numerically stable form)")


class TwoLogits:
    """A loss of C logits (``nn.CrossEntropyLoss`` with class weights, knobs' ``FocalLoss``) given a one-logit binary
    classifier's outputs: the logit z read as the two logits ``[0, z]``, whose softmax is ``[1 − σ(z), σ(z)]`` — the
    same model, so class weights and focal terms apply to it unchanged (they failed: "weight tensor should be defined
    for all 1 classes")."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def __call__(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if isinstance(out, torch.Tensor) and single_logit(out) and not target.is_floating_point():
            z = out.reshape(-1, 1) if out.ndim == 1 else out  # (n, 1) or per position (n, 1, ...)
            out = torch.cat([torch.zeros_like(z), z], dim=1)
        return self.loss(out, target)


def with_float_targets(loss: Any) -> Any:
    """``loss`` made to take knobs' targets and a one-logit model's outputs: torch's binary cross-entropy modules get
    float targets (``FloatTargets``), its cross-entropy and knobs' focal loss two logits (``TwoLogits``)."""
    if isinstance(loss, (torch.nn.BCEWithLogitsLoss, torch.nn.BCELoss)):
        return FloatTargets(loss)
    # NOTE: a loss of C logits says so with ``reads_class_logits`` (knobs' FocalLoss: the layer above, not imported)
    if isinstance(loss, torch.nn.CrossEntropyLoss) or getattr(loss, "reads_class_logits", False):
        return TwoLogits(loss)
    return loss
