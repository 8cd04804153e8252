"""Data made ready for trials: split, the test split sealed away, standardized with train stats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from knobs.data import Dataset, Splits, Standardizer
from knobs.errors import ConfigError

__all__ = ["PreparedData", "prepare"]


@dataclass
class PreparedData:
    """Train and validation tensors (the test split is not here: it lives in the vault)."""

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, ...]
    n_classes: int
    task: str
    scaler: Standardizer

    def to_model_input(self, X: np.ndarray) -> torch.Tensor:
        """Standardize raw features with the training statistics and shape them for the model."""
        return _as_input(self.scaler.transform(_reshape(X, self.input_shape)), self.input_shape)


def prepare(dataset: Dataset, splits: Splits, family: str, standardize: str) -> PreparedData:
    """Fit the scaler on train only, then transform train and val with it."""
    input_shape = _input_shape(dataset, family)
    scaler = Standardizer(mode=_scaler_mode(standardize, family)).fit(_reshape(splits.train[0], input_shape))

    def tensors(X: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return _as_input(scaler.transform(_reshape(X, input_shape)), input_shape), _labels(y, dataset)

    return PreparedData(
        train=tensors(*splits.train),
        val=tensors(*splits.val),
        input_shape=input_shape,
        n_classes=int(dataset.n_classes or 1),
        task=dataset.task,
        scaler=scaler,
    )


def _input_shape(dataset: Dataset, family: str) -> tuple[int, ...]:
    if family == "convnet":
        if dataset.image_shape is None:
            raise ConfigError(
                f"model.family 'convnet' needs image data; {dataset.source} has flat features "
                f"{tuple(dataset.X.shape[1:])}: use family = \"mlp\""
            )
        return tuple(dataset.image_shape)
    return (int(np.prod(dataset.X.shape[1:])),)


def _scaler_mode(standardize: str, family: str) -> str:
    return "channel" if (family == "convnet" and standardize == "feature") else standardize


def _reshape(X: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    return X.reshape((len(X), *input_shape))


def _as_input(X: Any, input_shape: tuple[int, ...]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape((-1, *input_shape))


def _labels(y: np.ndarray, dataset: Dataset) -> torch.Tensor:
    dtype = torch.long if dataset.task == "classification" else torch.float32
    return torch.as_tensor(y).to(dtype)
