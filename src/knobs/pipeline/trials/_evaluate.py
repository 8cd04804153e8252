"""Final metrics on one split: the numbers that go into summary.json.

Metrics are computed from outputs (class probabilities or regression predictions), so a single
model and an ensemble of models are measured by the same code.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, log_loss, r2_score

__all__ = ["predict", "outputs", "metrics"]


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``X`` in eval mode, batched, on the model's device, returned on CPU."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(parts)


def outputs(model: torch.nn.Module, X: torch.Tensor, task: str) -> np.ndarray:
    """Class probabilities (n, C) for classification, predictions (n,) for regression."""
    out = predict(model, X)
    if task != "classification":
        return out.reshape(-1).double().numpy()
    probs = out.double().softmax(dim=1).numpy()
    return probs / probs.sum(axis=1, keepdims=True)


def metrics(out: np.ndarray, y: np.ndarray, task: str, n_classes: int) -> dict:
    """Loss plus metrics that do not flatter (balanced accuracy, macro-F1, confusion matrix)."""
    y = np.asarray(y)
    if task == "regression":
        residual = out - y
        return {"loss": float(np.mean(residual ** 2)), "mae": float(np.mean(np.abs(residual))),
                "r2": float(r2_score(y, out)), "n": int(len(y))}
    pred = out.argmax(axis=1)
    classes = list(range(n_classes))
    return {
        "loss": float(log_loss(y, np.clip(out, 1e-12, 1.0), labels=classes)),
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", labels=classes, zero_division=0)),
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "n": int(len(y)),
    }
