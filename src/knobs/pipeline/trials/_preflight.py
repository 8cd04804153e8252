"""Preflight: the checks that cost seconds and save hours, run before the search starts."""

from __future__ import annotations

from typing import Any, Callable

import torch

from knobs.checks import CheckResult, check_batch_independence, check_initial_loss, overfit_tiny
from knobs.pipeline.inputs._data_checks import data_check_results, input_kind
from knobs.pipeline.inputs._prepared import PreparedData
from knobs.pipeline.inputs._streamed import in_memory_view

__all__ = ["input_kind", "run_preflight"]


def run_preflight(checks_cfg: Any, data: PreparedData, make_model: Callable[[], torch.nn.Module],
                  raw_splits: Any, images: bool = False) -> list[CheckResult]:
    """Run the enabled preflight checks on a reference model of the searched family.

    Args:
        checks_cfg: the [checks] section.
        data: standardized train/val tensors.
        make_model: zero-argument factory of a fresh reference model.
        raw_splits: the un-standardized train/val arrays, for the data checks (their regression
            targets are judged as trained: standardized with the training statistics) — unless
            ``data.data_checks`` holds their answers already (rows standardized in place).
        images: the rows are images (``Dataset.image_shape``): the data checks speak of pixels.
    """
    results: list[CheckResult] = []
    (X, y), raw_splits = in_memory_view(data, raw_splits)  # streamed data: its seeded samples
    if checks_cfg.data:
        found = data.data_checks  # rows standardized in place: answered before (inputs/_data_checks.py)
        results.extend(found if found is not None else data_check_results(data, raw_splits, images))
    inputs = input_kind(data, images)
    if checks_cfg.initial_loss:
        results.append(check_initial_loss(make_model, X, y, n_classes=data.n_classes, task=data.trainer_task, inputs=inputs))
    if checks_cfg.batch_independence and len(X) >= 3:
        results.append(check_batch_independence(make_model, X))
    if checks_cfg.overfit_tiny:
        results.append(overfit_tiny(make_model, X, y, task=data.trainer_task, max_seconds=checks_cfg.overfit_seconds))
    return results
