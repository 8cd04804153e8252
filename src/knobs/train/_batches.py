"""The user's data as device minibatches: in-memory tensors by index permutation, or a DataLoader.

Why not a DataLoader for tensors: for data that fits in memory, moving it to the device once and
slicing a seeded random permutation there costs one ``randperm`` per epoch and one gather per step,
where a DataLoader adds collation and host-to-device copies to every step. The permutation comes
from a ``torch.Generator`` whose state is checkpointed, so a resumed run sees the same order.

Example:
    >>> X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> batches = TensorBatches(X, y, batch_size=4, generator=torch.Generator().manual_seed(0))
    >>> [len(yb) for xb, yb in batches]
    [4, 4, 2]
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from knobs.errors import DataError

__all__ = ["TensorBatches", "LoaderBatches", "as_tensors", "batch_bounds", "make_batches", "check_outputs"]


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each minibatch; a trailing batch of one example joins the previous one.

    NOTE: a batch of one breaks batch norm in training mode (variance of a single value), and
    dropping the example would make an epoch skip data, so it rides along with its neighbour.
    """
    bounds = [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def as_tensors(data: Any, name: str, task: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Check an ``(X, y)`` pair and return float inputs and task-typed targets.

    Raises:
        DataError: not a pair, empty, first dimensions differ, non-finite inputs, labels that are
            not integer class indices, or negative labels.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise DataError(f"{name}: expected (X, y) tensors or a DataLoader, got {type(data).__name__}")
    X, y = (torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a for a in data)
    if X.ndim == 0 or y.ndim == 0 or len(X) == 0:
        raise DataError(f"{name}: X and y must hold at least one example; got shapes {tuple(X.shape)} and {tuple(y.shape)}")
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{name}: X has shape {tuple(X.shape)} but y has shape {tuple(y.shape)}; "
            f"their first dimensions (the number of examples) must match"
        )
    X = X if X.is_floating_point() and X.dtype != torch.float64 else X.float()
    if not bool(torch.isfinite(X).all()):
        raise DataError(f"{name}: X contains NaN or infinite values; impute or drop them first")
    return X, _targets(y, name, task)


def _targets(y: torch.Tensor, name: str, task: str) -> torch.Tensor:
    if task == "regression":
        y = y.float()
        return y.unsqueeze(1) if y.ndim == 1 else y
    if y.is_floating_point() or y.is_complex():
        if not bool((y == y.round()).all()):
            raise DataError(f"{name}: classification labels must be integer class indices, got {y.dtype} values")
    if y.ndim != 1:
        raise DataError(f"{name}: classification labels must be 1-D class indices, got shape {tuple(y.shape)}")
    y = y.long()
    if int(y.min()) < 0:
        raise DataError(f"{name}: labels must be >= 0, found {int(y.min())}")
    return y


class TensorBatches:
    """Minibatches of device tensors in a random order drawn from ``generator``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                 generator: torch.Generator | None = None, shuffle: bool = True) -> None:
        self.X, self.y, self.generator, self.shuffle = X, y, generator, shuffle
        self.bounds = batch_bounds(len(X), batch_size)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        X, y = self.X, self.y
        if not self.shuffle:
            for a, b in self.bounds:
                yield X[a:b], y[a:b]
            return
        perm = torch.randperm(len(X), generator=self.generator, device=X.device)
        for a, b in self.bounds:
            idx = perm[a:b]
            yield X[idx], y[idx]


class LoaderBatches:
    """A DataLoader's batches moved to ``device`` (its own sampler decides the order)."""

    def __init__(self, loader: Any, device: torch.device, task: str) -> None:
        self.loader, self.device, self.task = loader, device, task
        self.generator = getattr(loader, "generator", None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        blocking = self.device.type == "cpu"
        for batch in self.loader:
            X, y = batch[0], batch[1]
            y = y.float().reshape(len(y), -1) if self.task == "regression" else y.long()
            yield X.to(self.device, non_blocking=not blocking), y.to(self.device, non_blocking=not blocking)


def make_batches(data: Any, name: str, *, task: str, device: torch.device, batch_size: int,
                 generator: torch.Generator | None, shuffle: bool):
    """``TensorBatches`` for an ``(X, y)`` pair (moved to ``device`` once), else ``LoaderBatches``."""
    if isinstance(data, torch.utils.data.DataLoader):
        return LoaderBatches(data, device, task)
    X, y = as_tensors(data, name, task)
    return TensorBatches(X.to(device), y.to(device), batch_size, generator, shuffle)


def check_outputs(model: torch.nn.Module, train: Any, val: Any, task: str) -> None:
    """One tiny forward pass in eval mode: the model takes X, and its outputs fit the targets.

    Only in-memory tensors are checked (a DataLoader is not read ahead of training).

    Raises:
        DataError: X of another shape than the model takes, train/val example shapes differ, or
            labels beyond the model's outputs.
    """
    if not isinstance(train, TensorBatches):
        return
    X, y = train.X, train.y
    tensors_val = val if isinstance(val, TensorBatches) else None
    if tensors_val is not None and tensors_val.X.shape[1:] != X.shape[1:]:
        raise DataError(f"val: X has example shape {tuple(tensors_val.X.shape[1:])} but train has {tuple(X.shape[1:])}")
    out = _probe(model, X[:2])
    if task == "regression":
        if out.shape[1:] != y.shape[1:]:
            raise DataError(f"train: the model outputs shape {tuple(out.shape[1:])} per example, y has {tuple(y.shape[1:])}")
        return
    top = max(int(t.y.max()) for t in (train, tensors_val) if t is not None)
    if out.ndim != 2 or top >= out.shape[1]:
        raise DataError(
            f"train: labels go up to {top} but the model outputs shape {tuple(out.shape[1:])}; "
            f"build it with n_classes >= {top + 1}"
        )


def _probe(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(X)
    except RuntimeError as err:
        raise DataError(f"train: the model cannot take inputs of shape {tuple(X.shape[1:])}: {err}") from None
    finally:
        model.train(was_training)
