"""Final metrics of one model on one split: the numbers that go into summary.json."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score, r2_score

__all__ = ["predict", "evaluate"]


@torch.no_grad()
def predict(model: torch.nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``X`` in eval mode, batched, on the model's device, returned on CPU."""
    model.eval()
    device = next(model.parameters()).device
    outputs = [model(X[i:i + batch_size].to(device)).float().cpu() for i in range(0, len(X), batch_size)]
    return torch.cat(outputs)


def evaluate(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, task: str, n_classes: int) -> dict:
    """Loss plus metrics that do not flatter (balanced accuracy, macro-F1, confusion matrix)."""
    out = predict(model, X)
    if task == "regression":
        pred = out.reshape(-1)
        target = y.float().reshape(-1)
        return {
            "loss": float(torch.nn.functional.mse_loss(pred, target)),
            "mae": float((pred - target).abs().mean()),
            "r2": float(r2_score(target.numpy(), pred.numpy())),
        }
    labels = y.long()
    pred = out.argmax(dim=1).numpy()
    truth = labels.numpy()
    return {
        "loss": float(torch.nn.functional.cross_entropy(out, labels)),
        "accuracy": float(np.mean(pred == truth)),
        "balanced_accuracy": float(balanced_accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, average="macro")),
        "confusion_matrix": confusion_matrix(truth, pred, labels=list(range(n_classes))).tolist(),
        "n": int(len(truth)),
    }
