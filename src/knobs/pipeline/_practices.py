"""The optional practices of a run — class imbalance, augmentation, transfer — from the config.

Each is checked once before anything is written (``check_practices``: bad options stop the run
with the key named) and applied per trial (``trial_practices``: the training rows or sampler,
the loss, the batch transform, the pretrained model and its per-layer LR groups).

Why one module: the three meet in the same two places (the inputs of a run, the trainer of a
trial) and each needs the same pieces — the config section, the prepared data, the trial's
parameters — so keeping them together keeps ``_cycle`` and ``_objective`` about the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from knobs.errors import ConfigError

__all__ = ["AUGMENT_PREFIX", "check_practices", "trial_practices", "TrialPractices", "pretrained_model"]

AUGMENT_PREFIX = "augment."


@dataclass
class TrialPractices:
    """What one trial's Trainer gets beyond the [train] section."""

    train: Any
    loss: Any = None
    batch_transform: Any = None
    callbacks: list = field(default_factory=list)


def check_practices(cfg: Any, data: Any, space: Any, fixed: dict[str, Any]) -> dict[str, Any]:
    """Validate [balance], [augment] and [transfer] against the data; return the fixed values
    (a transfer run fixes the source model's hyperparameters, so checkpoints record them).

    Side effect: ``data.balanced`` holds the treated training split (SMOTE rows, sampler, loss).
    """
    names = set(space.names) | set(fixed)
    if cfg.balance.active():
        from knobs.balance import BalanceOptions, balance_training

        options = BalanceOptions(**cfg.balance.model_dump()).check(data.n_classes if data.task == "classification" else None)
        X, y = data.train
        data.balanced = balance_training(options, (X, y), data.n_classes, seed=cfg.seed)
    _check_augment(cfg, data, names)
    if cfg.transfer is not None:
        fixed = _check_transfer(cfg, data, space, fixed)
    return fixed


def _check_augment(cfg: Any, data: Any, names: set) -> None:
    searched = {n[len(AUGMENT_PREFIX):] for n in names if n.startswith(AUGMENT_PREFIX)}
    if not cfg.augment and not searched:
        return
    from knobs.augment import IMAGE_OPTIONS, ImageAugment

    unknown = sorted(searched - set(IMAGE_OPTIONS))
    if unknown:
        raise ConfigError(f"search.space.{AUGMENT_PREFIX}{unknown[0]}: not an augmentation option; "
                          f"expected one of {sorted(IMAGE_OPTIONS)}")
    if len(data.input_shape) != 3:
        raise ConfigError(f"augment: image augmentation needs image data (channels, height, width); this "
                          f"run's inputs have shape {list(data.input_shape)}")
    ImageAugment(dict(cfg.augment), n_classes=data.n_classes if data.task == "classification" else None,
                 task=data.task).check()


def _check_transfer(cfg: Any, data: Any, space: Any, fixed: dict[str, Any]) -> dict[str, Any]:
    from knobs.models import hyperparameters
    from knobs.transfer import load_source, parse_transfer

    tcfg = parse_transfer(cfg.transfer)
    if tcfg.source is None:
        raise ConfigError("transfer.source: give the path of a knobs checkpoint to start from "
                          "(e.g. runs/<name>/checkpoints/best.pt)")
    source = load_source(tcfg.source)
    if source.family != cfg.model.family:
        raise ConfigError(f"transfer.source: the checkpoint holds a {source.family!r} model but model.family is "
                          f"{cfg.model.family!r}; set model.family = {source.family!r}")
    if tuple(source.input_shape) != tuple(data.input_shape):
        raise ConfigError(f"transfer.source: the checkpoint's model takes inputs of shape {list(source.input_shape)}, "
                          f"this data has {list(data.input_shape)}")
    architecture = set(hyperparameters(cfg.model.family))
    searched = sorted(architecture & (set(space.names) | set(fixed)))
    if searched:
        raise ConfigError(f"search.space.{searched[0]}: a transfer run keeps the source model's architecture; "
                          f"remove architecture keys from the space")
    return {**fixed, **{k: v for k, v in source.hparams.items() if k in architecture}}


def pretrained_model(cfg: Any, n_classes: int) -> tuple[torch.nn.Module, list[dict]]:
    """The source model with a new head for ``n_classes``, frozen as [transfer] says, and its LR groups."""
    from knobs.transfer import apply_transfer

    return apply_transfer(None, cfg.transfer, n_classes)


def trial_practices(cfg: Any, data: Any, params: dict[str, Any], seed: int, groups: list | None) -> TrialPractices:
    """The training data, loss, batch transform and callbacks of one trial."""
    practices = TrialPractices(train=data.train)
    balanced = getattr(data, "balanced", None)
    if balanced is not None:
        practices.train = balanced.train_data(int(params.get("batch_size", cfg.train.batch_size)))
        practices.loss = balanced.loss
    options = {**cfg.augment, **{k[len(AUGMENT_PREFIX):]: v for k, v in params.items() if k.startswith(AUGMENT_PREFIX)}}
    if options:
        from knobs.augment import ImageAugment

        practices.batch_transform = ImageAugment(
            options, n_classes=data.n_classes if data.task == "classification" else None,
            task=data.task, seed=seed).check()
    if groups is not None:
        from knobs.transfer import ParamGroups

        practices.callbacks.append(ParamGroups(groups))
    return practices
