"""A model's outputs on one split: what ``knobs.metrics.split_metrics`` measures.

Outputs (class probabilities or regression predictions) are what a single model and an ensemble
of models have in common, so both are measured by the same code — ``knobs.metrics``, the one
metrics path of a run. This module only runs models; it computes no metric itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from knobs.errors import DataError
from knobs.train._losses import class_probabilities

__all__ = ["predict", "outputs", "outputs_on", "TestOutputs"]


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``X`` in eval mode, batched, on the model's device, returned on CPU.

    Raises:
        DataError: streamed rows left out when read (``bad_files = "skip"``): use ``outputs_on``,
            which leaves their targets out too.
    """
    out, left_out = _predict_read(model, X, batch_size)
    if left_out:
        raise DataError(f"{len(left_out)} streamed rows could not be read and were left out, so the outputs would "
                        f"not line up with the rows; read them with outputs_on(models, X, y, task)")
    return out


@torch.no_grad()
def _predict_read(model: torch.nn.Module, X, batch_size: int = 1024) -> tuple[torch.Tensor, list[int]]:
    """``predict``'s outputs of the rows read, and the positions left out (streamed rows whose
    source could not read them; none for tensors)."""
    model.eval()
    device = next(model.parameters()).device
    if hasattr(X, "loader"):  # streamed rows (knobs.data._stream): read batch by batch
        loader = X.loader(batch_size)
        parts = [model(xb.to(device)).float().cpu() for xb in loader]
        return (torch.cat(parts) if parts else torch.zeros(0)), loader.left_out
    parts = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(parts), []


def outputs(model: torch.nn.Module, X: torch.Tensor, task: str) -> np.ndarray:
    """Class probabilities (n, C) for classification, predictions (n,) for regression."""
    return _as_outputs(predict(model, X), task)


def outputs_on(models: Sequence[torch.nn.Module | None], X, y: np.ndarray, task: str
               ) -> tuple[list[np.ndarray | None], np.ndarray, np.ndarray | None]:
    """Each model's ``outputs`` (None for a None model) on the rows of ``X`` that were read, their
    targets, and which rows those are (a boolean mask over ``X``; None when all were read).

    Why: a streamed image whose file fails to decode under ``bad_files = "skip"`` is left out of
    its batch; its target must go too, or every later output is scored against the row after it.
    A row left out by any pass is left out of all of them, so the models are compared on one set."""
    passes = [None if m is None else _predict_read(m, X) for m in models]
    left = sorted({i for p in passes if p is not None for i in p[1]})
    if not left:
        return [None if p is None else _as_outputs(p[0], task) for p in passes], y, None
    kept = np.ones(len(y), dtype=bool)
    kept[left] = False
    outs = []
    for p in passes:
        if p is None:
            outs.append(None)
            continue
        read = np.ones(len(y), dtype=bool)
        read[p[1]] = False
        outs.append(_as_outputs(p[0], task)[kept[read]])
    return outs, np.asarray(y)[kept], kept


def average_outputs(outs: Sequence[np.ndarray], weights: Any, task: str) -> np.ndarray:
    """Members' outputs weighted into the ensemble's: class probabilities (``knobs.ensemble.average``), a multi-label
    run's label probabilities (``average_labels``) or a segmentation's probability maps ``(n, C, H, W)``."""
    from knobs.ensemble import average, average_labels

    if task == "segmentation":
        shares = np.asarray(weights, np.float64) / np.sum(weights)
        return np.tensordot(shares.astype(np.float32), np.stack(outs), axes=1)
    return (average_labels if task == "multilabel" else average)(outs, weights)


def _as_outputs(out: torch.Tensor, task: str) -> np.ndarray:
    if task == "multilabel":
        return torch.sigmoid(out.double()).numpy()
    if task == "segmentation":  # a probability per class and pixel: float32 (float64 maps doubled a large test set)
        return torch.softmax(out.float(), dim=1).numpy()
    if task != "classification":  # a regression's values: (n,), or (n, K) for K targets
        return (out if out.ndim == 2 and out.shape[1] > 1 else out.reshape(-1)).double().numpy()
    probs = class_probabilities(out.double()).numpy()  # a one-logit binary model's [1 - p, p] too
    return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class TestOutputs:
    """What the final model answered on the test split, kept in memory from the vault's one opening
    to the worst-predicted rows view (``stages/_record_views.record_worst``).

    Attributes:
        rows: the test rows as the vault keeps them (encoded, not standardized).
        targets: class labels, ``(n, K)`` 0 / 1 label rows, or regression targets in their own units.
        outputs: class probabilities ``(n, C)``, label probabilities ``(n, K)`` or predictions ``(n,)``.
    """

    rows: np.ndarray
    targets: np.ndarray
    outputs: np.ndarray
