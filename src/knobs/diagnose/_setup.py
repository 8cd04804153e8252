"""What a diagnosis checks, read from what the user trains: the settings and the data.

Why from the user's own objects: a diagnosis of another setup than the one trained (other
optimizer, learning rate, loss or batches) answers the wrong question. So the settings come from a
``knobs.train.Trainer`` (or a mapping of its keyword arguments) with the Trainer's defaults when
nothing is given, and the data from ``(X, y)`` tensors or the DataLoaders the user trains on: the
watched runs train on the loaders themselves (their batch size, sampler and augmentation), and the
checks read their rows into memory (up to ``MAX_LOADER_ROWS``).

Example:
    >>> s = settings_of(None, {})             # the Trainer's default setup
    >>> (s.optimizer, s.lr, s.batch_size)
    ('adam', 0.001, 64)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from knobs.checks._common import as_tensors
from knobs.diagnose._evidence import Settings
from knobs.errors import ConfigError, DataError
from knobs.train import Trainer
from knobs.train._optimizers import optimizer_recipe
from knobs.train._batches import (MAX_LOADER_ROWS, BatchKeys, check_weights, dataset_loader, epoch_batches, loader_rows,
                                  unpack)

__all__ = ["EPOCHS", "MAX_LOADER_ROWS", "input_kind", "pair", "read_data", "settings_of", "steps_per_epoch"]

#: Epochs of the watched run when none are given: enough for the loss curve to show its shape
#: (the rules look at thirds of the run), short enough for a diagnosis to take seconds. A longer
#: schedule is followed for these first epochs (the LR the run really sees), not squeezed in.
EPOCHS = 20

# The Trainer's keyword arguments a diagnosis trains with besides the named settings; callbacks,
# early stopping and checkpoints are left out: the diagnosis watches a fixed number of epochs.
_OPTIONS = ("l1", "clip_grad_norm", "clip_grad_value", "batch_transform", "batch_keys", "channels_last",
            "eval_batch_size", "steps_per_epoch", "accumulate")
_NAMED = ("task", "optimizer", "lr", "batch_size", "epochs", "weight_decay", "optimizer_options", "loss",
          "schedule", "seed", "device")
_FORMS = "an (X, y) pair, (X, y, sample_weight), {'x': X, 'y': y} of tensors or arrays, or a DataLoader"


def settings_of(trainer: Any, given: dict[str, Any], n_classes: int | None = None) -> Settings:
    """The settings to diagnose: the trainer's (default: ``Trainer()``'s), each overridden by a
    keyword given explicitly (``given``: the non-None ones).

    Raises:
        ConfigError: a trainer that is neither a ``Trainer`` nor a mapping of its arguments.
    """
    base = _trainer(trainer)
    value = {name: given.get(name, getattr(base, name)) for name in _NAMED}
    # NOTE: a trainer's schedule spans its own epochs whatever the diagnosis watches; with no
    # trainer, explicit epochs are the whole training diagnosed.
    planned = base.epochs if trainer is not None or "epochs" not in given else None
    epochs = given["epochs"] if "epochs" in given else min(base.epochs, EPOCHS) if _is_int(base.epochs) else base.epochs
    if isinstance(value["optimizer"], torch.optim.Optimizer):
        # NOTE: the runs train copies of the model at several learning rates: each builds its own of that kind
        factory, lr, weight_decay = optimizer_recipe(value["optimizer"])
        value.update(optimizer=factory, lr=given.get("lr", lr), weight_decay=given.get("weight_decay", weight_decay))
    lrs = torch.optim.lr_scheduler
    if isinstance(value["schedule"], (lrs.LRScheduler, lrs.ReduceLROnPlateau)):
        name = type(value["schedule"]).__name__
        raise ConfigError(f"diagnose: the schedule is a {name} built on one optimizer, and each diagnosis run trains "
                          f"its own copy of the model; give its class with its arguments: "
                          f"functools.partial(torch.optim.lr_scheduler.{name}, ...)")
    return Settings(task=value["task"], optimizer=value["optimizer"], lr=value["lr"],
                    batch_size=value["batch_size"], epochs=epochs, weight_decay=value["weight_decay"],
                    optimizer_options=value["optimizer_options"], n_classes=n_classes,
                    seed=0 if value["seed"] is None else value["seed"], device=value["device"], loss=value["loss"],
                    schedule=value["schedule"], precision=base.precision,
                    options={k: getattr(base, k) for k in _OPTIONS}, planned_epochs=planned)


def _trainer(trainer: Any) -> Trainer:
    if trainer is None:
        return Trainer()
    if isinstance(trainer, Trainer):
        return trainer
    if isinstance(trainer, Mapping):
        try:
            return Trainer(**trainer)
        except TypeError as error:
            raise ConfigError(f"diagnose: trainer settings {sorted(trainer)} are not all Trainer arguments "
                              f"({error}); pass the keywords Trainer(...) takes, e.g. {{'optimizer': 'sgd', "
                              f"'lr': 0.01}}") from None
    raise ConfigError(f"diagnose: trainer must be a knobs.train.Trainer or a mapping of its arguments, got "
                      f"{type(trainer).__name__}; e.g. diagnose(model, train, val, trainer=Trainer(lr=1e-3))")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_data(train: Any, val: Any, s: Settings) -> tuple[tuple, tuple]:
    """The tensors the checks read; when either split is a DataLoader, ``s.loaders`` is set to
    what the training runs read (the loaders as given) and ``s.batch_size`` to the loader's."""
    keys = BatchKeys.of((s.options or {}).get("batch_keys"))
    # NOTE: a torch Dataset as it is (a TensorDataset, a random_split Subset) is read as the Trainer reads it
    if isinstance(train, Dataset):
        train = dataset_loader(train, s.batch_size, torch.Generator().manual_seed(s.seed or 0), shuffle=True)
    if isinstance(val, Dataset):
        val = dataset_loader(val, s.batch_size)
    loaders = isinstance(train, DataLoader) or isinstance(val, DataLoader)
    train_t, val_t = pair(train, "train", s.task, keys), pair(val, "val", s.task, keys)[:2]
    if loaders:
        s.loaders = (train, val)
        if isinstance(train, DataLoader) and train.batch_size:
            s.batch_size = train.batch_size
    return train_t, val_t


def steps_per_epoch(train: tuple, s: Settings) -> int:
    """Optimizer steps in one epoch of the watched run: a loader without ``len`` (a stream) counts as
    the trainer's ``steps_per_epoch`` says, else as the rows the checks read (a lower bound then)."""
    accumulate = (s.options or {}).get("accumulate") or 1  # batches per optimizer step
    if s.loaders is not None and isinstance(s.loaders[0], DataLoader):
        counted = epoch_batches(s.loaders[0]) or (s.options or {}).get("steps_per_epoch")
        if counted:
            return math.ceil(counted / accumulate)
    return math.ceil(len(train[1]) / s.batch_size / accumulate)


def pair(data: Any, name: str, task: str, keys: BatchKeys = BatchKeys()) -> tuple[torch.Tensor, ...]:
    """``(X, y)`` or ``(X, y, w)`` tensors from any form ``Trainer`` reads (a DataLoader: its
    first ``MAX_LOADER_ROWS`` rows)."""
    if isinstance(data, DataLoader):
        data = loader_rows(data, f"diagnose: {name}", keys)
    try:
        X, y, w = unpack(data, f"diagnose: {name}", keys) if isinstance(data, (Mapping, tuple, list)) else (data, None, None)
    except DataError as error:
        raise DataError(f"{error}; diagnose takes {_FORMS}") from None
    if y is None:
        raise DataError(f"diagnose: {name} must be {_FORMS}, got {type(data).__name__}")
    if isinstance(X, tuple) and len(X) > 1 and all(isinstance(x, (torch.Tensor, np.ndarray)) for x in X):
        raise DataError(f"diagnose: {name} holds {len(X)} inputs ((X1, X2, ...), y); diagnosis takes models of one "
                        f"input: {_FORMS}")
    try:
        X, y = as_tensors(X, y, task)
        return (X, y) if w is None else (X, y, check_weights(w, len(y), f"diagnose: {name}"))
    except DataError as error:
        raise DataError(f"diagnose: {name}: {error}") from None


def input_kind(model: nn.Module, X: torch.Tensor) -> str:
    """``"tokens"`` (ids into an embedding table), ``"pixels"`` (images ``(n, C, H, W)``) or
    ``"features"``: the data checks speak of each in its own terms (token ids have no scale)."""
    embeds = any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules())
    if embeds and X.ndim == 2 and bool((X >= 0).all()) and bool((X == X.round()).all()):
        return "tokens"
    return "pixels" if X.ndim == 4 else "features"
