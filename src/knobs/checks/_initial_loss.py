"""Initial loss: before any training, a classifier should be maximally unsure.

Why ln C: a freshly initialized network with small final-layer weights outputs near-equal logits,
so the cross-entropy of every sample is about ``-ln(1/C) = ln C`` (2.303 for 10 classes). A much
larger loss means confident wrong guesses at step 0 (final layer initialized too large, inputs
unstandardized); a much smaller one means the answer is visible before learning (a label leak).
For regression the model predicts about zero, so the initial MSE is about the target variance
(plus the squared mean when the target is not centred).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from knobs.checks._common import as_tensors, check_task, disable_dropout, label_range, labels, main_output, pick, task_loss
from knobs.checks._result import CheckResult
from knobs.errors import ConfigError
from knobs.train._batches import cast_inputs, input_dtype
from knobs.train._losses import class_probabilities, labelled_positions

__all__ = ["check_initial_loss", "PRIOR_SHARE"]

#: A model's mean prediction scoring below this share of ln C is taken to start at the class priors (by design);
#: above it, the start is judged against ln C as before.
PRIOR_SHARE = 0.9


def check_initial_loss(
    make_model: Callable[[], nn.Module],
    X,
    y,
    *,
    n_classes: int | None = None,
    task: str = "classification",
    seeds: Sequence[int] = (0, 1, 2),
    tolerance: float = 0.5,
    n_samples: int = 512,
    inputs: str = "features",
) -> CheckResult:
    """Compare the untrained model's loss with its expected value.

    Args:
        make_model: builds a fresh model; torch is seeded with each seed before each call.
        X, y: inputs the model accepts and their labels or targets.
        n_classes: the number of classes (default: the model's output width).
        task: ``"classification"`` (expect ln C), ``"regression"`` (expect Var(y)) or ``"multilabel"`` (expect ln 2
            per label).
        seeds: one fresh model per seed; the mean loss is judged.
        tolerance: passes when ``|mean / expected - 1| <= tolerance``.
        n_samples: rows used (a seeded, class-balanced pick), to keep the check fast.
        inputs: ``"features"``, ``"pixels"`` or ``"tokens"``: what a failure's advice names besides
            the output layer (standardize features, scale pixels; token ids have no scale).

    Returns:
        A ``CheckResult`` with the per-seed losses, their mean, the expected value and the ratio.

    Example:
        >>> check_initial_loss(lambda: nn.Linear(64, 10), X, y).passed   # doctest: +SKIP
        True
    """
    check_task(task)
    if inputs not in _INPUT_ADVICE:
        raise ConfigError(f"check_initial_loss: inputs must be one of {', '.join(_INPUT_ADVICE)}, got {inputs!r}")
    y = labels(y, task)
    rows = pick(y, n_samples, seed=0, stratify=task == "classification")
    X, y = as_tensors(np.asarray(X)[rows], np.asarray(y)[rows], task)
    if not seeds:
        raise ConfigError("check_initial_loss needs at least one seed")
    outputs = [_initial_outputs(make_model, X, seed) for seed in seeds]
    expected, label = _expected(task, y, outputs[0], n_classes)
    losses = [float(task_loss(out, y, task)) for out in outputs]
    mean = float(np.mean(losses))
    ratio = mean / expected
    passed = math.isfinite(mean) and abs(ratio - 1) <= tolerance
    measured = {"losses": losses, "seeds": list(seeds), "mean": mean, "expected": expected,
                "ratio": ratio, "n_samples": len(y)}
    return CheckResult(
        name="initial_loss", passed=passed,
        severity="info" if passed else ("error" if not math.isfinite(mean) else "warning"),
        measured=measured, expected=f"within {tolerance:.0%} of {label}",
        message=_message(task, mean, ratio, label, losses, passed, inputs),
    )


def _expected(task, y: torch.Tensor, outputs: torch.Tensor, n_classes) -> tuple[float, str]:
    """The loss an untrained model should have, and how to say it.

    NOTE: ln C for a model that starts unsure; but a model whose output bias starts at the class priors
    (log p_c: Karpathy's "init well", the focal-loss paper's prior for rare classes) starts at the cross-entropy
    of those priors, below ln C on imbalanced data, and was warned of a label leak. A leak shows in each row's
    outputs, not in their mean: so when the model's mean prediction alone already scores clearly below ln C,
    that is the expectation."""
    if task == "classification":
        n_classes = label_range(y, outputs, n_classes)
        uniform = math.log(n_classes)
        rows, classes = labelled_positions(outputs, y)  # a class per position: each labelled one a row
        mean = class_probabilities(rows.double()).mean(0).clamp_min(1e-12)
        prior = float(-mean.log()[classes].mean())
        if prior < PRIOR_SHARE * uniform:
            return prior, (f"{prior:.3f}, the cross-entropy of the model's mean prediction (its output bias starts "
                           f"near the class priors; ln {n_classes} = {uniform:.3f} for an unsure start)")
        return uniform, f"ln {n_classes} = {uniform:.3f}"
    if task == "multilabel":  # each label's logit: ln 2 when unsure, or the BCE of its mean prediction
        uniform = math.log(2)
        mean = torch.sigmoid(outputs.double()).mean(0).clamp(1e-12, 1 - 1e-12)
        prior = float(-(y * mean.log() + (1 - y) * (1 - mean).log()).mean())
        if prior < PRIOR_SHARE * uniform:
            return prior, (f"{prior:.3f}, the binary cross-entropy of the model's mean prediction per label (its "
                           f"output biases start near the label frequencies; ln 2 = {uniform:.3f} for an unsure start)")
        return uniform, f"ln 2 = {uniform:.3f} per label"
    # NOTE: floored so a constant target reports a huge ratio instead of dividing by zero.
    variance = max(float(y.var(unbiased=False)), 1e-12)
    return variance, f"Var(y) = {variance:.4g}"


def _initial_outputs(make_model, X: torch.Tensor, seed: int) -> torch.Tensor:
    """The outputs of a fresh model built after seeding (train mode, dropout off)."""
    torch.manual_seed(seed)
    model = disable_dropout(make_model()).train()
    X = cast_inputs(X, input_dtype(model))
    with torch.no_grad():
        return main_output(model(X), model, X, "check_initial_loss")


_INPUT_ADVICE = {"features": "or the inputs are not standardized",
                 "pixels": "or the pixels are not scaled (to [0, 1], or standardized)",
                 "tokens": "or the embeddings start too large (token ids themselves have no scale)"}


def _message(task, mean, ratio, label, losses, passed, inputs="features") -> str:
    seeds = ", ".join(f"{value:.3f}" for value in losses)
    found = f"initial loss {mean:.4g} (per seed: {seeds}) vs {label}: ratio {ratio:.3g}"
    if passed:
        return f"{found}; the untrained model is as unsure as it should be"
    if not math.isfinite(mean):
        return f"{found}; the loss is not finite before training: check the inputs and the init"
    if ratio < 1:
        return (f"{found}; the loss is below its chance level before any training: the labels may "
                f"leak into the inputs, or the output bias already encodes the answer")
    if task != "regression":
        return (f"{found}; the untrained model is confidently wrong: the final layer's initial "
                f"weights are too large (scale them down or zero them) {_INPUT_ADVICE[inputs]}")
    return (f"{found}; the untrained predictions are far from the targets: standardize the target "
            f"or initialize the output bias to mean(y), and check the final layer's init scale")
