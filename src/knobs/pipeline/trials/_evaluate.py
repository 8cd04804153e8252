"""A model's outputs on one split: what ``knobs.metrics.split_metrics`` measures.

Outputs (class probabilities or regression predictions) are what a single model and an ensemble
of models have in common, so both are measured by the same code — ``knobs.metrics``, the one
metrics path of a run. This module only runs models; it computes no metric itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["predict", "outputs", "TestOutputs"]


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``X`` in eval mode, batched, on the model's device, returned on CPU."""
    model.eval()
    device = next(model.parameters()).device
    if hasattr(X, "loader"):  # streamed rows (knobs.data._stream): read batch by batch
        return torch.cat([model(xb.to(device)).float().cpu() for xb in X.loader(batch_size)])
    parts = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(parts)


def outputs(model: torch.nn.Module, X: torch.Tensor, task: str) -> np.ndarray:
    """Class probabilities (n, C) for classification, predictions (n,) for regression."""
    out = predict(model, X)
    if task != "classification":
        return out.reshape(-1).double().numpy()
    probs = out.double().softmax(dim=1).numpy()
    return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class TestOutputs:
    """What the final model answered on the test split, kept in memory from the vault's one opening
    to the worst-predicted rows view (``stages/_record_views.record_worst``).

    Attributes:
        rows: the test rows as the vault keeps them (encoded, not standardized).
        targets: class labels, or regression targets in their own units.
        outputs: class probabilities ``(n, C)`` or predictions ``(n,)``.
    """

    rows: np.ndarray
    targets: np.ndarray
    outputs: np.ndarray
