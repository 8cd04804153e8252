"""Batch independence: in eval mode, a row's outputs must depend on that row alone.

Why: a reshape or transpose over the batch axis (``x.view(x.size(1), -1)``, ``h.t().reshape(len(x), -1)``),
a softmax, mean or normalization over dim 0, or a layer written to read its batch's statistics, lets each
output see the other examples of its batch. Such a model still trains — it learns from the batch as a
whole — so nothing else flags it, yet its predictions change with whatever shares the batch, and its
validation score is not the score of one example at a time. Karpathy's "use backprop to chart
dependencies" finds it by the gradient of one row's output on the other rows; here the same question is
asked without gradients, so token ids and every input type work: row 0's outputs in one batch and in
another batch of the same size whose other rows differ. Batch norm in eval mode reads its running
statistics, so it is no mixing; dropout is off.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from knobs.checks._result import CheckResult
from knobs.errors import DataError
from knobs.train._batches import cast_inputs, input_dtype, model_output

__all__ = ["check_batch_independence", "TOLERANCE"]

#: A row's outputs may move this much, relative to their size, between the two batches: the rounding of a
#: batched matrix product in float32 stays orders of magnitude below it.
TOLERANCE = 1e-4


def check_batch_independence(make_model: Callable[[], nn.Module], X, *, rows: int = 8, seed: int = 0) -> CheckResult:
    """Compare row 0's outputs in two batches of ``rows`` rows that share only row 0.

    Args:
        make_model: builds a fresh model; torch is seeded with ``seed`` first.
        X: inputs the model accepts (at least 3 rows; ``2 * rows - 1`` are used when there are).
        rows: the batch size of the two batches.
        seed: seeds the model.

    Returns:
        A ``CheckResult`` ("batch_independence"): the largest change of row 0's outputs and their scale.

    Raises:
        DataError: fewer than 3 rows.
    """
    X = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    if len(X) < 3:
        raise DataError(f"check_batch_independence needs at least 3 rows, got {len(X)}")
    size = min(rows, (len(X) + 1) // 2)
    torch.manual_seed(seed)
    model = make_model().eval()
    X = cast_inputs(X[: 2 * size - 1], input_dtype(model))
    first = torch.cat([X[:1], X[1:size]])
    second = torch.cat([X[:1], X[size: 2 * size - 1]])
    with torch.no_grad():
        a = model_output(model(first), "check_batch_independence")[0].double()
        b = model_output(model(second), "check_batch_independence")[0].double()
    change, scale = float((a - b).abs().max()), float(a.abs().max())
    passed = bool(np.isfinite(change)) and change <= TOLERANCE * max(scale, 1.0)
    measured = {"rows": int(size), "change": change, "scale": scale}
    if passed:
        message = (f"row 0's outputs are the same whichever {size - 1} rows share its batch (largest change "
                   f"{change:.2g} of {scale:.3g})")
    else:
        message = (f"row 0's outputs change by {change:.3g} (of {scale:.3g}) when the other {size - 1} rows of its batch "
                   f"change, in eval mode: the model mixes examples across the batch — a reshape, view or transpose "
                   f"over the batch axis, or a softmax, mean or normalization over dim 0; each row's outputs must "
                   f"depend on that row alone")
    return CheckResult(name="batch_independence", passed=passed, severity="info" if passed else "error",
                       measured=measured, expected=f"a change of at most {TOLERANCE:g} of the outputs' size",
                       message=message)
