"""The data checks of a run's train and validation rows as they were before standardization.

Why in the inputs layer, run while the data is prepared: the checks read the encoded rows before
standardization (their scale, constant columns, duplicates across splits), and a run in split
mode standardizes those rows in place (``prepare(in_place=True)``) — holding both would keep a
second copy of every training row through the search, all to answer the same questions twice
(preflight and the autopilot's diagnosis). So the answers are computed once, here, and kept on
``PreparedData.data_checks``; the rows themselves are let go.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from knobs.checks import CheckResult, check_data
from knobs.pipeline.inputs._target import scale_target

__all__ = ["input_kind", "data_check_results"]


def input_kind(data: Any, images: bool = False) -> str:
    """What the checks call the inputs of ``data`` (``PreparedData``): token ids have no scale to
    check, and constant pixels (blank borders) are normal."""
    if data.texts is not None:
        return "tokens"
    return "pixels" if images or len(data.input_shape) == 3 else "features"


def data_check_results(data: Any, raw_splits: Any, images: bool = False) -> list[CheckResult]:
    """``knobs.checks.check_data`` over the raw ``(train, val)`` pairs, judged as ``data`` trains on
    them: shaped as its input, regression targets standardized with its statistics, the scale
    check after its standardizer."""
    shaped = tuple((Xs.reshape((len(Xs), *data.input_shape)),
                    scale_target(np.asarray(ys, dtype=np.float64), data.target)) for Xs, ys in raw_splits)
    n_classes = data.n_classes if data.trainer_task == "classification" else None
    return check_data(shaped, n_classes=n_classes, task=data.trainer_task, standardizer=data.scaler,
                      inputs=input_kind(data, images))
