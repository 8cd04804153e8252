"""``fit(model, train, val=0.2)``: a share of the training rows held out for validation, as Keras'
``validation_split`` — but drawn at random (seeded) and stratified by class, where Keras takes the last rows
unshuffled (a file sorted by label validates on one class).

Example:
    >>> import torch
    >>> X, y = torch.randn(100, 3), torch.arange(100) % 2
    >>> (Xt, yt), (Xv, yv) = hold_out((X, y), 0.2, task="classification", seed=0)
    >>> len(yt), len(yv), int(yv.sum())
    (80, 20, 10)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from knobs.errors import ConfigError
from knobs.train._batches import BatchKeys, unpack

__all__ = ["hold_out"]


def hold_out(train: Any, fraction: Any, *, task: str, seed: int, keys: BatchKeys = BatchKeys()) -> tuple[Any, Any]:
    """``(train, val)``: ``fraction`` of ``train``'s rows drawn for validation, the rest to train on.

    In-memory ``(X, y)`` / ``(X, y, w)`` / a mapping give ``(X, y[, w])`` tuples, stratified by class when each
    class has two rows; a map-style torch ``Dataset`` gives two ``Subset`` s of it.

    Raises:
        ConfigError: a fraction outside (0, 1), or a DataLoader (its batches cannot be split into rows)."""
    if isinstance(fraction, bool) or not isinstance(fraction, float) or not 0 < fraction < 1:
        raise ConfigError(f"val: a share of the training rows to hold out is a fraction in (0, 1), e.g. 0.2; got "
                          f"{fraction!r}")
    if isinstance(train, torch.utils.data.DataLoader):
        raise ConfigError("val: a fraction holds out rows of in-memory data or of a torch Dataset; a DataLoader gives "
                          "batches: split its dataset (torch.utils.data.random_split) and pass a DataLoader of each, "
                          "or pass the Dataset itself")
    if isinstance(train, torch.utils.data.IterableDataset):
        raise ConfigError("val: a fraction holds out rows, and a stream (IterableDataset) has no rows to draw from; "
                          "pass a validation stream of its own")
    if isinstance(train, torch.utils.data.Dataset):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
        cut = max(1, round(fraction * len(train)))
        return torch.utils.data.Subset(train, order[cut:]), torch.utils.data.Subset(train, order[:cut])
    X, y, w = unpack(train, "train", keys) if isinstance(train, (Mapping, tuple, list)) else (train, None, None)
    if y is None:
        raise ConfigError(f"val: a fraction holds out rows of (X, y) data; train is a {type(train).__name__}")
    X, y = (a if isinstance(a, (torch.Tensor, np.ndarray)) else np.asarray(a) for a in (X, y))
    rows = np.arange(len(y))
    kept, held = train_test_split(rows, test_size=fraction, random_state=seed, stratify=_strata(y, task))
    take = (lambda a, i: a[torch.as_tensor(i)] if isinstance(a, torch.Tensor) else np.asarray(a)[i])
    parts = [(take(X, i), take(y, i)) + (() if w is None else (take(w, i),)) for i in (kept, held)]
    return parts[0], parts[1]


def _strata(y: Any, task: str) -> np.ndarray | None:
    """The classes to stratify by: 1-D class labels of which every class has two rows; None otherwise."""
    labels = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if task != "classification" or labels.ndim != 1 or labels.dtype.kind not in "iubU":
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None
