"""Oversampling by drawing: a ``WeightedRandomSampler`` that shows every class equally often.

Why draw instead of copying rows: the training arrays stay as they are, each epoch sees a fresh
draw (a minority row appears about ``n_max / n_c`` times, not a fixed number of copies), and the
epoch length stays ``n`` so the schedule and early stopping keep their meaning. Buda et al. (2018)
found oversampling to full balance the best remedy for CNNs in almost every setting.

Example:
    >>> sampler = oversample_sampler([0, 0, 0, 1], n_classes=2, seed=0)
    >>> sampler.weights.tolist()
    [0.16666666666666666, 0.16666666666666666, 0.16666666666666666, 0.5]
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from knobs.balance._weights import class_counts
from knobs.errors import ConfigError

__all__ = ["oversample_sampler", "sampler_loader"]


def oversample_sampler(y, n_classes: int | None = None, seed: int = 0,
                       num_samples: int | None = None) -> WeightedRandomSampler:
    """A sampler drawing rows with replacement so that each class is drawn equally often.

    Args:
        y: the training labels.
        n_classes: ``C`` (default: the largest label + 1).
        seed: seeds the sampler's own ``torch.Generator`` (its ``.generator``).
        num_samples: draws per epoch; default ``len(y)``.

    Raises:
        DataError: labels outside ``0..C-1``.
        ConfigError: ``num_samples`` not a positive integer.
    """
    counts = class_counts(y, n_classes)
    n = len(np.asarray(y)) if num_samples is None else num_samples
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}")
    present = counts > 0
    # NOTE: row weight 1 / (C_present * n_c): each present class holds total probability 1/C_present;
    # an absent class has no rows to draw and must not dilute the others.
    per_class = np.where(present, 1.0 / np.maximum(counts, 1) / present.sum(), 0.0)
    weights = torch.as_tensor(per_class[np.asarray(y, dtype=np.int64)], dtype=torch.float64)
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(weights, int(n), replacement=True, generator=generator)


def sampler_loader(X, y, sampler: WeightedRandomSampler, batch_size: int) -> DataLoader:
    """A DataLoader over ``(X, y)`` in the sampler's order, for ``Trainer.fit(train=...)``.

    The loader shares the sampler's generator, so the trainer's checkpoint (which saves the
    loader's generator state) resumes the same draws.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    X = torch.as_tensor(np.asarray(X))
    # NOTE: the loader's batches reach the model as they are; float64 rows would not fit a
    # float32 model (the in-memory path casts them the same way).
    X = X.float() if X.dtype == torch.float64 else X
    dataset = TensorDataset(X, torch.as_tensor(np.asarray(y)))
    # NOTE: a last batch of one row breaks batch norm in training mode; drop it (one row of a
    # random draw is lost per epoch, not a fixed row).
    drop_last = len(sampler) % batch_size == 1 and len(sampler) > 1
    return DataLoader(dataset, batch_size=int(batch_size), sampler=sampler, drop_last=drop_last,
                      generator=sampler.generator)
