"""``TorchMember``: a network (a trial's model, a snapshot, averaged weights) as an ensemble member.

Why eval mode and float64 softmax: members must be deterministic (dropout off, batch norm on its
running statistics) for validation-chosen weights to mean anything on test, and the softmax is
taken in float64 so that rows sum to 1 to machine precision, as scikit-learn members' do.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(4, 3)
    >>> TorchMember(net).predict_proba(torch.randn(5, 4)).shape
    (5, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from knobs.errors import ConfigError, DataError
from knobs.train._batches import cast_inputs, input_dtype, model_output
from knobs.train._losses import class_probabilities

__all__ = ["TorchMember"]


class TorchMember:
    """Class probabilities from a classifier producing logits ``(n_samples, n_classes)``.

    Args:
        model: the network; used on the device its parameters are on, never moved.
        name: the member's name in reports; default the model's class name.
        batch_size: rows per forward pass.
    """

    def __init__(self, model: nn.Module, name: str | None = None, batch_size: int = 1024) -> None:
        self.model = model
        self.name = name or type(model).__name__
        self.batch_size = batch_size

    @torch.no_grad()
    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n_samples, n_classes)`` softmax probabilities in eval mode (the model's mode is restored)."""
        self._check()
        param = next(self.model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = input_dtype(self.model)
        X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
        if X.ndim < 2 or len(X) == 0:
            raise DataError(f"{self.name}: X must have shape (n_samples, ...) with n_samples >= 1, "
                            f"got {tuple(X.shape)}")
        was_training = self.model.training
        self.model.eval()
        try:
            logits = torch.cat([model_output(self.model(cast_inputs(X[i:i + self.batch_size], dtype).to(device)),
                                             self.name).detach().double().cpu()
                                for i in range(0, len(X), self.batch_size)])
        finally:
            self.model.train(was_training)
        return self._probabilities(logits)

    def _check(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise ConfigError(f"TorchMember model must be a torch.nn.Module, got {type(self.model).__name__}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"{self.name}: batch_size must be an integer >= 1, got {self.batch_size!r}")

    def _probabilities(self, logits: torch.Tensor) -> np.ndarray:
        if logits.ndim != 2 or logits.shape[1] < 1:
            raise DataError(f"{self.name}: the model outputs shape {tuple(logits.shape)}; a classifier member must "
                            "output logits (n_samples, n_classes), or one logit (n_samples, 1) for two classes")
        if not bool(torch.isfinite(logits).all()):
            raise DataError(f"{self.name}: the model outputs NaN or infinite logits")
        return class_probabilities(logits).numpy()  # a one-logit binary classifier's [1 - p, p] too

