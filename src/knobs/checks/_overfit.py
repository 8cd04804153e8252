"""Overfit a tiny subset: a model that cannot memorize 32 samples cannot learn 30,000.

Why: with regularization off and a few dozen samples, any working model/loss/optimizer wiring
reaches near-zero training loss within a few hundred full-batch steps. Failing here points at a bug
(frozen or detached parameters, a bottleneck, a wrong loss or label wiring, a far too small or
large learning rate) for seconds of compute instead of a whole search.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from knobs.checks._common import as_tensors, check_task, disable_dropout, label_range, pick, task_loss
from knobs.checks._result import CheckResult
from knobs.errors import ConfigError

__all__ = ["overfit_tiny", "OPTIMIZERS"]

# The module namespace is the registry: names a config may use -> torch.optim classes.
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}


def overfit_tiny(
    make_model: Callable[[], nn.Module],
    X,
    y,
    *,
    n_samples: int = 32,
    steps: int = 300,
    lr: float = 1e-2,
    optimizer: str = "adam",
    target_loss: float = 0.05,
    task: str = "classification",
    seed: int = 0,
    n_classes: int | None = None,
    loss: Callable | None = None,
) -> CheckResult:
    """Train a fresh model on ``n_samples`` rows, full batch, regularization off, to near-zero loss.

    Dropout layers get ``p = 0`` and weight decay is 0; batch norm stays in train mode. Training
    stops as soon as the target is met.

    Args:
        make_model: builds a fresh model; torch is seeded with ``seed`` first.
        X, y: the data; ``n_samples`` rows are picked (every class represented).
        n_samples: the subset size.
        steps: the most optimizer steps.
        lr: the learning rate.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum 0.9) or ``"rmsprop"``.
        target_loss: the loss to reach: cross-entropy for classes; for regression, MSE / Var(y).
        task: ``"classification"`` or ``"regression"``.
        seed: seeds the subset pick and the model.
        n_classes: the number of classes (default: the model's output width).
        loss: the training loss ``loss(outputs, targets)`` when it is not the task's own
            (label smoothing, a custom loss): the subset is trained with it, and a classifier
            passes once it classifies every subset row right (a custom loss has no known floor
            to compare with ``target_loss``); the reported losses stay the task's.

    Returns:
        A ``CheckResult``; ``passed`` when the final loss is at most ``target_loss`` and (for
        classes) every subset sample is classified right. Measured: initial and final loss, steps
        to the target, subset accuracy, seconds.
    """
    check_task(task)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"overfit_tiny optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    rows = pick(np.asarray(y), n_samples, seed=seed, stratify=task == "classification")
    X, y = as_tensors(np.asarray(X)[rows], np.asarray(y)[rows], task)
    torch.manual_seed(seed)
    model = disable_dropout(make_model()).train()
    # NOTE: regression loss is judged relative to the subset's variance, so the target is unitless.
    scale = 1.0 if task == "classification" else max(float(y.var(unbiased=False)), 1e-12)
    start = time.perf_counter()
    measured = _fit(model, X, y, task, n_classes, steps, lr, optimizer, target_loss * scale, loss)
    measured.update(seconds=time.perf_counter() - start, n_samples=len(y), scale=scale)
    if task == "regression":
        measured.update(target_mean=float(y.mean()), target_std=scale ** 0.5)
    return _verdict(measured, target_loss * scale, task, custom=loss is not None)


def _fit(model, X, y, task, n_classes, steps, lr, optimizer, target, custom=None) -> dict:
    """Full-batch training until ``target``; the measurements, including a stop reason."""
    params = [p for p in model.parameters() if p.requires_grad]
    if task == "classification":
        with torch.no_grad():
            label_range(y, model(X), n_classes)
    measured = {"initial_loss": None, "final_loss": None, "steps_to_target": None, "steps": 0,
                "accuracy": None, "stopped": None}
    if not params:
        measured["stopped"] = "the model has no trainable parameters (all requires_grad=False)"
        return _final(model, X, y, task, measured)
    opt = _optimizer(optimizer, params, lr)
    for step in range(steps + 1):
        outputs = model(X)
        loss = task_loss(outputs, y, task) if custom is None else _mean(custom(outputs, y))
        value = float(task_loss(outputs.detach(), y, task)) if custom is not None else loss.item()
        if step == 0:
            measured["initial_loss"] = value
        measured["stopped"] = _broken(loss, value, step)
        if measured["stopped"] is not None:
            break
        reached = _all_right(outputs, y, task) and (value <= target or (custom is not None and task != "regression"))
        if reached and measured["steps_to_target"] is None:
            measured["steps_to_target"] = step
        if step == steps or reached:
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        measured["steps"] = step + 1
    return _final(model, X, y, task, measured)


def _mean(loss: torch.Tensor) -> torch.Tensor:
    """A custom loss's per-example values (reduction="none") averaged to one number."""
    return loss.mean() if loss.ndim else loss


def _broken(loss: torch.Tensor, value: float, step: int) -> str | None:
    """Why training cannot go on, or None."""
    if not math.isfinite(value):
        return f"the loss became {value} at step {step}: lower the learning rate"
    if not loss.requires_grad:
        return "the loss does not depend on any trainable parameter (a detached graph)"
    return None


def _all_right(outputs: torch.Tensor, y: torch.Tensor, task: str) -> bool:
    return task == "regression" or bool((outputs.argmax(dim=1) == y).all())


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    return OPTIMIZERS[name](params, lr=lr, weight_decay=0.0, **kwargs)


def _final(model, X, y, task, measured: dict) -> dict:
    """Loss and subset accuracy of the model as it is now."""
    with torch.no_grad():
        outputs = model(X)
        measured["final_loss"] = float(task_loss(outputs, y, task))
        if task == "classification":
            measured["accuracy"] = float((outputs.argmax(dim=1) == y).float().mean())
    if measured["initial_loss"] is None:
        measured["initial_loss"] = measured["final_loss"]
    return measured


def _target_hint(measured: dict) -> str:
    """For regression: point at a target far from mean 0 / std 1, the usual reason it is slow."""
    mean, std = measured.get("target_mean"), measured.get("target_std")
    if mean is None or (abs(mean) <= 3 and 0.1 <= std <= 10):
        return ""
    return (f". The target has mean {mean:.4g} and std {std:.4g}: standardize it (or start the "
            f"output bias at its mean) so a few hundred steps can reach it")


def _verdict(measured: dict, target: float, task: str, custom: bool = False) -> CheckResult:
    final, accuracy = measured["final_loss"], measured["accuracy"]
    by_accuracy = custom and task == "classification"
    passed = (measured["stopped"] is None and math.isfinite(final) and (by_accuracy or final <= target)
              and (task == "regression" or accuracy == 1.0))
    loss_name = "cross-entropy" if task == "classification" else "MSE"
    found = (f"{loss_name} {measured['initial_loss']:.4g} -> {final:.4g} in {measured['steps']} "
             f"steps on {measured['n_samples']} samples"
             + (f", subset accuracy {accuracy:.0%}" if accuracy is not None else ""))
    if passed:
        message = f"{found}: the model can memorize a tiny subset"
    else:
        cause = measured["stopped"] or ("training did not reach the target: look for frozen or "
                                        "detached parameters, a too narrow layer, a wrong loss or "
                                        "label wiring, or a learning rate far too small or large")
        message = f"{found}; {cause}{_target_hint(measured)}"
    expected = ("subset accuracy 100% (trained with the given loss)" if by_accuracy else
                f"{loss_name} <= {target:.4g}" + (" and accuracy 100%" if task == "classification" else ""))
    return CheckResult(name="overfit_tiny", passed=passed, severity="info" if passed else "error",
                       measured=measured, expected=expected, message=message)
