"""Preflight: the checks that cost seconds and save hours, run before the search starts."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from knobs.checks import CheckResult, check_data, check_initial_loss, overfit_tiny
from knobs.pipeline.inputs._prepared import PreparedData
from knobs.pipeline.inputs._streamed import in_memory_view
from knobs.pipeline.inputs._target import scale_target

__all__ = ["input_kind", "run_preflight"]


def input_kind(data: PreparedData, images: bool = False) -> str:
    """What the checks call the inputs: token ids have no scale to check, and constant pixels
    (blank borders) are normal."""
    if data.texts is not None:
        return "tokens"
    return "pixels" if images or len(data.input_shape) == 3 else "features"


def run_preflight(checks_cfg: Any, data: PreparedData, make_model: Callable[[], torch.nn.Module],
                  raw_splits: Any, images: bool = False) -> list[CheckResult]:
    """Run the enabled preflight checks on a reference model of the searched family.

    Args:
        checks_cfg: the [checks] section.
        data: standardized train/val tensors.
        make_model: zero-argument factory of a fresh reference model.
        raw_splits: the un-standardized train/val arrays, for the data checks (their regression
            targets are judged as trained: standardized with the training statistics).
        images: the rows are images (``Dataset.image_shape``): the data checks speak of pixels.
    """
    results: list[CheckResult] = []
    (X, y), raw_splits = in_memory_view(data, raw_splits)  # streamed data: its seeded samples
    inputs = input_kind(data, images)
    if checks_cfg.data:
        # NOTE: the targets as the models see them (a run standardizes regression targets).
        shaped = tuple((Xs.reshape((len(Xs), *data.input_shape)),
                        scale_target(np.asarray(ys, dtype=np.float64), data.target)) for Xs, ys in raw_splits)
        n_classes = data.n_classes if data.task == "classification" else None
        results.extend(check_data(shaped, n_classes=n_classes, task=data.task, standardizer=data.scaler, inputs=inputs))
    if checks_cfg.initial_loss:
        results.append(check_initial_loss(make_model, X, y, n_classes=data.n_classes, task=data.task, inputs=inputs))
    if checks_cfg.overfit_tiny:
        results.append(overfit_tiny(make_model, X, y, task=data.task, max_seconds=checks_cfg.overfit_seconds))
    return results
