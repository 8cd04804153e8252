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
from knobs.pipeline.inputs._augment import (AUGMENT_PREFIX, augment_options, augmented_texts, check_augment, data_kind,
                                     image_augment)
from knobs.pipeline.inputs._backbone_images import check_backbone_transfer, is_image_backbone
from knobs.pipeline.inputs._backbone_text import is_text_backbone

__all__ = ["AUGMENT_PREFIX", "balance_training_rows", "check_practices", "trial_practices", "TrialPractices", "pretrained_model",
           "transfer_groups"]


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

    Side effect: ``data.balanced`` holds the treated training rows (SMOTE rows, sampler, loss),
    computed from those training rows alone (in fold mode each fold's are made with its data:
    ``knobs.pipeline.inputs._folds``).
    """
    if cfg.balance.sampler == "smote" and data_kind(data) == "text":
        # NOTE: SMOTE interpolates between feature vectors; between token ids it makes new ids
        # that are neither word.
        raise ConfigError('balance.sampler = "smote" interpolates feature vectors and cannot make new texts from '
                          'token ids; use "oversample" or balance.class_weight = "balanced" for text data')
    balance_training_rows(cfg, data)
    check_augment(cfg, data, space, fixed)
    if cfg.transfer is not None:
        fixed = _check_transfer(cfg, data, space, fixed)
    return fixed


def balance_training_rows(cfg: Any, data: Any) -> None:
    """``data.balanced``: the training rows of ``data`` treated as [balance] says (left as it is
    when [balance] is off)."""
    if cfg.balance.active():
        data.balanced = _balanced(cfg, data, data.train)


def _balanced(cfg: Any, data: Any, train: Any) -> Any:
    from knobs.balance import BalanceOptions, balance_training

    options = BalanceOptions(**cfg.balance.model_dump()).check(data.n_classes if data.task != "regression" else None,
                                                               data.trainer_task)
    return balance_training(options, train, data.n_classes, seed=cfg.seed, task=data.trainer_task)


def _check_transfer(cfg: Any, data: Any, space: Any, fixed: dict[str, Any]) -> dict[str, Any]:
    from knobs.models import hyperparameters
    from knobs.transfer import load_source, parse_transfer

    tcfg = parse_transfer(cfg.transfer)
    if is_image_backbone(cfg.model.family):  # its own weights are the source (pipeline/model/_backbone_model.py)
        check_backbone_transfer(cfg)
        return fixed
    if tcfg.source is None and is_text_backbone(cfg.model.family) and cfg.model.builder is None:
        return fixed  # the pretrained text family is the start (pipeline.model._text_backbone)
    if tcfg.source is None:
        raise ConfigError("transfer.source: give the path of a knobs checkpoint to start from "
                          "(e.g. runs/<name>/checkpoints/best.pt), or set model.family to a pretrained "
                          "family (efficientnet_lite0, minilm, timm:<name> with model.weights)")
    if cfg.model.builder is not None:  # a builder's source: pipeline.model._builder_transfer checks it
        return fixed
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


def pretrained_model(cfg: Any, n_classes: int) -> torch.nn.Module:
    """The source model with a new head for ``n_classes``, frozen as [transfer] says."""
    from knobs.transfer import apply_transfer

    return apply_transfer(None, cfg.transfer, n_classes)[0]


def transfer_groups(cfg: Any, model: torch.nn.Module) -> list[dict[str, Any]]:
    """The per-layer LR groups of a pretrained ``model`` (``pretrained_model``): the groups
    ``knobs.transfer.apply_transfer`` returns, read from the model it made (its head, its layers,
    the trainable parameters left after freezing)."""
    from knobs.transfer import find_head, lr_groups, model_layers, parse_transfer

    tcfg = parse_transfer(cfg.transfer)
    return lr_groups(model_layers(model, by=tcfg.layers), find_head(model, tcfg.head),
                     body_lr_mult=tcfg.body_lr_mult, layer_decay=tcfg.layer_decay)


def trial_practices(cfg: Any, data: Any, params: dict[str, Any], seed: int,
                    model: torch.nn.Module | None) -> TrialPractices:
    """The training data, loss, batch transform and callbacks of one trial (training ``model``;
    None: no model yet, so no per-layer LR groups).

    Text augmentation comes first (it adds training rows), then the imbalance treatment of
    whatever rows train; image augmentation is a batch transform on top.
    """
    options = augment_options(cfg, params)
    kind = data_kind(data) if options else None
    train = augmented_texts(data, options, seed) if kind == "text" else data.train
    practices = TrialPractices(train=train)
    balanced = getattr(data, "balanced", None)
    if balanced is not None:
        if train is not data.train:
            balanced = _balanced(cfg, data, train)  # NOTE: counts and resampling of the rows that train
        practices.train = balanced.train_data(int(params.get("batch_size", cfg.train.batch_size)))
        practices.loss = balanced.loss
    if kind == "image":
        practices.batch_transform = image_augment(options, data, seed)
    if cfg.transfer is not None and model is not None:
        from knobs.transfer import ParamGroups

        practices.callbacks.append(ParamGroups(transfer_groups(cfg, model)))
    return practices
