"""Regression targets standardized with training statistics, and models that answer in real units.

Why: a network's last layer starts with outputs near 0 and unit scale, and the loss (MSE) scales
with the target's variance. On scikit-learn's diabetes (y from 25 to 346) raw targets put the
first losses near 29,000: learning rates that suit the features diverge, the preflight's
initial-loss check fails, and a search spends its trials finding the target's scale. Training on
(y − mean) / std of the *training* split fixes this and makes the validation loss scale-free
(MSE in units of the training variance, about 1 − R²).

Everything that leaves a run speaks the target's own units: a checkpoint records the mean and
std, and ``with_target`` wraps a loaded model so that its outputs are ``mean + std · f(x)`` — the
final evaluation, the ensemble and ``knobs predict`` need no other change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["TargetScale", "fit_target", "scale_target", "unscale_target", "with_target"]


def fit_target(y: Any, task: str) -> dict[str, Any] | None:
    """``{"mean", "std"}`` of the training targets for regression (lists, one per column, for several targets
    ``(n, K)``: each column on its own scale), None for classification.

    A constant target gets std 1 (nothing to scale; the model learns the constant)."""
    if task != "regression":
        return None
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        std = y.std(axis=0)
        std = np.where((std > 0) & np.isfinite(std), std, 1.0)
        return {"mean": y.mean(axis=0).tolist(), "std": std.tolist()}
    std = float(y.std())
    return {"mean": float(y.mean()), "std": std if std > 0 and np.isfinite(std) else 1.0}


def scale_target(y: torch.Tensor, target: dict[str, Any] | None) -> torch.Tensor:
    """Targets in training-standard units (unchanged without a target record)."""
    if target is None:
        return y
    mean, std = (torch.as_tensor(target[key], dtype=y.dtype) if isinstance(y, torch.Tensor) else
                 np.asarray(target[key]) for key in ("mean", "std"))
    return (y - mean) / std


def unscale_target(y: Any, target: dict[str, Any] | None) -> np.ndarray:
    """Targets or predictions back in the target's own units, as a NumPy array."""
    y = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    return y if target is None else y * np.asarray(target["std"]) + np.asarray(target["mean"])


class TargetScale(nn.Module):
    """``mean + std · model(x)``: a model trained on standardized targets, answering in real units (one mean and
    std per output for several targets)."""

    def __init__(self, model: nn.Module, mean: Any, std: Any) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.std + self.mean


def with_target(model: nn.Module, target: dict[str, float] | None) -> nn.Module:
    """``model`` itself without a target record, else wrapped in ``TargetScale`` (same device)."""
    if target is None:
        return model
    device = next(model.parameters()).device
    return TargetScale(model, target["mean"], target["std"]).to(device)
