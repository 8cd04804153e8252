"""Overfit a tiny subset: a model that cannot memorize 32 samples cannot learn 30,000.

Why: with regularization off and a few dozen samples, any working model/loss/optimizer wiring
reaches near-zero training loss within a few hundred full-batch steps. Failing here points at a bug
(frozen or detached parameters, a bottleneck, a wrong loss or label wiring, a far too small or
large learning rate) for seconds of compute instead of a whole search.

Why the subset leaves out rows the untrained model cannot tell apart: a model memorizes only
inputs it can distinguish. A bag of embeddings averages its tokens, so a text of one unknown word
and a text of two are the same input to it; on small text sets (3,000 SST-2 rows, most words seen
once and so ``<unk>``) such rows turn up with opposite labels in a subset of 32, and a healthy
model fails the check at the loss floor ln 2 · 2 / 32 it cannot go below. Rows whose outputs at
initialization coincide with a row of another label already taken are passed over for the next
ones. A model that gives many rows one output (its output does not depend on its input: a wiring
bug the check exists for) keeps the plain pick, and fails as before.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from knobs.checks._common import (as_tensors, check_task, disable_dropout, label_range, labels, main_output,
                                  output_picker, pick, task_loss)
from knobs.checks._result import CheckResult
from knobs.errors import ConfigError
from knobs.train._batches import cast_inputs, input_dtype, model_output
from knobs.train._losses import (dense_targets, labelled_positions, predicted_classes, predicted_labels,
                                 with_float_targets)

__all__ = ["overfit_tiny", "MAX_PASSED_OVER", "OPTIMIZERS", "POOL", "SAME_OUTPUT"]

# The module namespace is the registry: names a config may use -> torch.optim classes.
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
#: Candidate rows per subset row, among which rows the model cannot tell apart are replaced.
POOL = 4
# NOTE: two rows count as one input to the model when their initial outputs are closer than 1e-4
# of the median distance between the pool's outputs: float sums in another order (a bag's tokens
# reordered) differ in the last bits, ~1e-7 of that distance, while distinct inputs of a random
# network sit at a sizeable fraction of it.
SAME_OUTPUT = 1e-4
# NOTE: a few rows of the same few unknown words are the data's doing; a model that gives a
# quarter of the rows another label's output is not telling its inputs apart, which the check
# must report rather than work around.
MAX_PASSED_OVER = 0.25
#: With a class per position (token tags, pixel classes) the subset holds thousands of positions, a few on a
#: boundary the inputs barely decide (a pixel of value ~0 under "x > 0"); memorized at the loss target, this share
#: of them right passes.
POSITION_ACCURACY = 0.99


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
    max_seconds: float | None = None,
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
        task: ``"classification"``, ``"regression"`` or ``"multilabel"`` (every label of every subset row right).
        seed: seeds the subset pick and the model.
        n_classes: the number of classes (default: the model's output width).
        loss: the training loss ``loss(outputs, targets)`` when it is not the task's own
            (label smoothing, a custom loss): the subset is trained with it, and a classifier
            passes once it classifies every subset row right (a custom loss has no known floor
            to compare with ``target_loss``); the reported losses stay the task's.
        max_seconds: a time box for the training (None: none). A 224-pixel backbone on a CPU takes
            minutes for 300 full-batch steps; past the box the check stops and reports a warning —
            inconclusive, not a failure — with how far it got.

    Returns:
        A ``CheckResult``; ``passed`` when the final loss is at most ``target_loss`` and (for
        classes) every subset sample is classified right. Measured: initial and final loss, steps
        to the target, subset accuracy, seconds.
    """
    check_task(task)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"overfit_tiny optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    X, y = np.asarray(X), labels(y, task)
    pool = pick(y, POOL * n_samples, seed=seed, stratify=task == "classification")
    torch.manual_seed(seed)
    model = disable_dropout(make_model()).train()
    rows, passed_over = _distinguishable(model, X, y, pool, n_samples, task)
    X, y = as_tensors(X[rows], y[rows], task)
    X = cast_inputs(X, input_dtype(model))
    # NOTE: regression loss is judged relative to the subset's variance, so the target is unitless.
    scale = max(float(y.var(unbiased=False)), 1e-12) if task == "regression" else 1.0
    start = time.perf_counter()
    deadline = None if max_seconds is None else start + max_seconds
    measured = _fit(model, X, y, task, n_classes, steps, lr, optimizer, target_loss * scale,
                    None if loss is None else with_float_targets(loss), deadline)
    measured.update(seconds=time.perf_counter() - start, n_samples=len(y), scale=scale, passed_over=passed_over,
                    max_seconds=max_seconds)
    if task == "regression":
        measured.update(target_mean=float(y.mean()), target_std=scale ** 0.5)
    return _verdict(measured, target_loss * scale, task, custom=loss is not None)


def _distinguishable(model: nn.Module, X: np.ndarray, y: np.ndarray, pool: np.ndarray, n: int,
                     task: str) -> tuple[np.ndarray, int]:
    """The first ``n`` rows of ``pool`` (the pick's order) with no row of another label that the
    untrained model maps to the same output, and how many were passed over. The plain first ``n``
    when more than ``MAX_PASSED_OVER`` of them would be, or a class would go missing: then the
    model tells its inputs apart too little to blame the data."""
    plain = pool[:n]
    if task == "classification" and y.ndim != 1:  # a class per position: rows are not told apart by one label
        return plain, 0
    Xp, yp = as_tensors(X[pool], y[pool], task)
    Xp = cast_inputs(Xp, input_dtype(model))
    training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(Xp).detach().float().reshape(len(pool), -1)
    except Exception:  # NOTE: a model that fails here fails in the fit, with its own message
        return plain, 0
    finally:
        model.train(training)
    # NOTE: exact differences, not the matrix-product form (|a|² + |b|² − 2ab), whose rounding puts
    # identical rows ~1e-4 apart
    distance = torch.cdist(out, out, compute_mode="donot_use_mm_for_euclid_dist")
    apart = distance[~torch.eye(len(pool), dtype=torch.bool)]
    if len(pool) < 2 or not torch.isfinite(distance).all() or float(apart.median()) == 0.0:
        return plain, 0
    targets = yp.reshape(len(yp), -1)  # a row's label (or labels, or targets): rows differ where any differs
    conflict = (distance <= SAME_OUTPUT * float(apart.median())) & (targets[:, None] != targets[None, :]).any(-1)
    taken: list[int] = []
    for i in range(len(pool)):
        if len(taken) == n or i - len(taken) > MAX_PASSED_OVER * n:
            break
        if not conflict[i, taken].any():
            taken.append(i)
    passed_over = (taken[-1] + 1 - len(taken)) if taken else 0
    kept = {tuple(row) for row in targets[taken].tolist()}
    if passed_over > MAX_PASSED_OVER * n or kept != {tuple(row) for row in targets[:n].tolist()}:
        return plain, 0
    return pool[taken], passed_over


def _fit(model, X, y, task, n_classes, steps, lr, optimizer, target, custom=None, deadline=None) -> dict:
    """Full-batch training until ``target``; the measurements, including a stop reason."""
    params = [p for p in model.parameters() if p.requires_grad]
    if task == "classification":
        with torch.no_grad():
            label_range(y, main_output(model(X), model, X, "overfit_tiny"), n_classes)
    measured = {"initial_loss": None, "final_loss": None, "steps_to_target": None, "steps": 0,
                "accuracy": None, "stopped": None, "timed_out": False}
    if not params:
        measured["stopped"] = "the model has no trainable parameters (all requires_grad=False)"
        return _final(model, X, y, task, measured)
    opt = _optimizer(optimizer, params, lr)
    read_main = None  # how to read the main output when a custom loss takes more (found at the first step)
    for step in range(steps + 1):
        # NOTE: a custom loss takes what the model returned (an auxiliary head's output too), as the Trainer's does
        raw = model(X)
        if custom is not None and read_main is None:
            read_main = output_picker(raw, model, X, "overfit_tiny")
        outputs = model_output(raw, "overfit_tiny") if custom is None else read_main(raw)
        loss = task_loss(outputs, y, task) if custom is None else _mean(custom(raw, y))
        value = float(task_loss(outputs.detach(), y, task)) if custom is not None else loss.item()
        if step == 0:
            measured["initial_loss"] = value
            if task != "regression" and custom is None and outputs.ndim >= 2:
                measured["outputs_min"] = float(outputs.detach().min())  # ≥ 0: not logits (_not_logits)
                measured["outputs_max"] = float(outputs.detach().max())
        measured["stopped"] = _broken(loss, value, step)
        if measured["stopped"] is not None:
            break
        reached = _all_right(outputs, y, task) and (value <= target or (custom is not None and task != "regression"))
        if reached and measured["steps_to_target"] is None:
            measured["steps_to_target"] = step
        if step == steps or reached:
            break
        if deadline is not None and time.perf_counter() > deadline:
            measured["timed_out"] = True
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
    """Every subset row classified right (with a class per position, ``POSITION_ACCURACY`` of them)."""
    if task == "regression":
        return True
    if task == "multilabel":
        return bool((predicted_labels(outputs) == y.round()).all())
    rows, classes = labelled_positions(outputs, y)
    right = predicted_classes(rows) == classes
    return float(right.float().mean()) >= POSITION_ACCURACY if dense_targets(y) else bool(right.all())


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    kwargs = {"momentum": 0.9} if name == "sgd" else {}
    return OPTIMIZERS[name](params, lr=lr, weight_decay=0.0, **kwargs)


def _final(model, X, y, task, measured: dict) -> dict:
    """Loss and subset accuracy of the model as it is now."""
    with torch.no_grad():
        outputs = main_output(model(X), model, X, "overfit_tiny")
        measured["final_loss"] = float(task_loss(outputs, y, task))
        if task == "multilabel":
            measured["accuracy"] = float((predicted_labels(outputs) == y.round()).float().mean())
        elif task == "classification":
            rows, classes = labelled_positions(outputs, y)
            measured["accuracy"] = float((predicted_classes(rows) == classes).float().mean())
            measured["per_position"] = dense_targets(y)
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


def _not_logits(measured: dict) -> str:
    """The cause when the untrained model's outputs were never negative under the cross-entropy: a final Softmax,
    Sigmoid or ReLU, whose probabilities (or clipped values) the loss reads as logits ("" otherwise)."""
    low, high = measured.get("outputs_min"), measured.get("outputs_max")
    if low is None or low < 0 or high <= low:  # NOTE: constant outputs (a zero-initialized model) are another fault
        return ""
    return ("not one of the untrained model's outputs was negative: it ends in a Softmax, Sigmoid or ReLU, and the "
            "cross-entropy reads its outputs as logits (probabilities cannot spread the classes apart, so the loss "
            "stalls above 0); return the last layer's outputs and take softmax only to read probabilities")


def _percent(accuracy: float) -> str:
    """An accuracy as a percentage that reads 100% only when it is: one wrong pixel in 2,048 is 99.95%."""
    return f"{accuracy:.0%}" if accuracy == 1.0 or accuracy < 0.99 else f"{accuracy:.2%}"


def _verdict(measured: dict, target: float, task: str, custom: bool = False) -> CheckResult:
    final, accuracy = measured["final_loss"], measured["accuracy"]
    by_accuracy = custom and task != "regression"
    passed = (measured["stopped"] is None and math.isfinite(final) and (by_accuracy or final <= target)
              and (task == "regression" or accuracy == 1.0
                   or (measured.get("per_position") and accuracy >= POSITION_ACCURACY)))
    loss_name = {"classification": "cross-entropy", "multilabel": "binary cross-entropy"}.get(task, "MSE")
    found = (f"{loss_name} {measured['initial_loss']:.4g} -> {final:.4g} in {measured['steps']} "
             f"steps on {measured['n_samples']} samples"
             + (f", {'labels right' if task == 'multilabel' else 'subset accuracy'} {_percent(accuracy)}"
                if accuracy is not None else "")
             + (f" ({measured['passed_over']} row(s) passed over: the untrained model gives them the output of "
                f"a row of another label, so no model of this kind can tell them apart)"
                if measured.get("passed_over") else ""))
    timed_out = not passed and measured.get("timed_out")
    if passed:
        message = f"{found}: the model can memorize a tiny subset"
    elif timed_out:
        message = (f"{found}; stopped by its {measured['max_seconds']:g} s time box before the target: inconclusive, "
                   f"not a failure; raise checks.overfit_seconds to let it finish")
    else:
        cause = measured["stopped"] or _not_logits(measured) or (
            "training did not reach the target: look for frozen or detached parameters, a too narrow layer, a wrong "
            "loss or label wiring, or a learning rate far too small or large")
        message = f"{found}; {cause}{_target_hint(measured)}"
    expected = ("subset accuracy 100% (trained with the given loss)" if by_accuracy else
                f"{loss_name} <= {target:.4g}" + ("" if task == "regression" else " and every label right"
                                                  if task == "multilabel" else
                                                  f" and {POSITION_ACCURACY:.0%} of the positions right"
                                                  if measured.get("per_position") else " and accuracy 100%"))
    severity = "info" if passed else ("warning" if timed_out else "error")
    return CheckResult(name="overfit_tiny", passed=passed, severity=severity,
                       measured=measured, expected=expected, message=message)
