"""The one model factory of a run: ``build_model(cfg, params, info)``.

Why one function: a run builds models in many places — each trial (one split, each fold, each
population member's saved weights), the final refit, the preflight's reference model, the check
that every searched option builds, the autopilot's check of a changed configuration, ``knobs
diagnose --config``, ``lr-find``, and every checkpoint loaded back (final evaluation, ensemble,
autopilot, ``knobs predict``). They must agree exactly — a checkpoint only loads into the
architecture it was trained as — so they all call this function, and a new way to make models
(a user's own builder) plugs in here once.

What decides a model: the run config (``model.family`` or ``model.builder``, the user's own
function, ``_builder.py``; ``[transfer]``: start from a pretrained source), the trial's parameters
(the model's hyperparameters; training keys are left out), and what the data decides
(``ModelInfo``: input shape, task, classes, vocabulary size).
"""

from __future__ import annotations

from typing import Any

import torch

from knobs.config import RunConfig
from knobs.models import build_model as build_family
from knobs.pipeline.inputs._backbone_images import is_image_backbone
from knobs.pipeline.inputs._backbone_text import is_text_backbone
from knobs.pipeline.inputs._practices import pretrained_model
from knobs.pipeline.inputs._prepared import SEQUENCE
from knobs.pipeline.model._backbone_model import PretrainedWeights, backbone_checkpoint_config, finish_backbone
from knobs.pipeline.model._builder import call_builder, load_builder
from knobs.pipeline.model._builder_transfer import builder_transfer_model
from knobs.pipeline.model._info import ModelInfo
from knobs.pipeline.model._params import TRAINER_KEYS, split_params
from knobs.pipeline.model._text_backbone import finish_text_backbone

__all__ = ["ModelInfo", "build_model", "checkpoint_config", "split_params", "TRAINER_KEYS", "data_family"]


def build_model(cfg: RunConfig, params: dict[str, Any], info: ModelInfo) -> torch.nn.Module:
    """A fresh model of the run for one trial's ``params`` on data described by ``info``.

    A ``[transfer]`` run starts from its source checkpoint (rebuilt by its family, or by the builder
    that made it) with a new head for ``info.n_classes`` and the layers frozen as configured (its LR
    groups: ``inputs._practices.transfer_groups``) — on a pretrained family without a source, from the
    family itself (image backbones: ``_backbone_model.finish_backbone``; text: ``_text_backbone``);
    a ``model.builder`` run calls the user's function with the trial's model keys and ``info``;
    any other run builds ``model.family`` with the trial's model hyperparameters.

    Raises:
        ConfigError: a hyperparameter the family does not take, or one it cannot build with; a
            builder that cannot be imported, raises, or returns no ``nn.Module``.
    """
    if cfg.model.builder is None and is_image_backbone(cfg.model.family):
        weights = PretrainedWeights.of_config(cfg)  # model.weights or [transfer] source, hashed
        model = build_family(cfg.model.family, input_shape=info.input_shape, n_classes=info.n_classes,
                             weights=weights and weights.for_build(cfg.model.family), **split_params(params)[1])
        return finish_backbone(cfg, model, info, weights)  # its [transfer] and its preprocessing
    if cfg.transfer is not None:
        if cfg.model.builder is not None:
            return builder_transfer_model(cfg, info.n_classes)
        if not is_text_backbone(cfg.model.family) or cfg.transfer.get("source") is not None:
            return pretrained_model(cfg, info.n_classes)
    _, model_params = split_params(params)
    if cfg.model.builder is not None:
        return call_builder(load_builder(cfg.model.builder), model_params, info)
    model = build_family(cfg.model.family, input_shape=info.input_shape, n_classes=info.n_classes,
                         weights=cfg.model.weights, **{**model_params, **info.model_args()})
    if is_text_backbone(cfg.model.family):  # its [transfer] (without a source), weights record and cache
        return finish_text_backbone(cfg, params, model, info.n_classes)
    if info.task == "regression" and info.n_classes > 1:
        _small_outputs(model)
    return model


def _small_outputs(model: torch.nn.Module) -> None:
    """A family's head for K regression targets scaled as its one-target head is (``knobs.models._init.SMALL_OUTPUT``):
    the family tells a regression head by its one output, so K outputs came initialized as K logits, whose initial
    predictions of the standardized targets were far from 0 (an initial MSE of 1.8 where 1 is right). Its output
    layer is the family's last ``nn.Linear``."""
    from knobs.models._init import SMALL_OUTPUT

    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1:]
    with torch.no_grad():
        for layer in head:
            layer.weight.mul_(SMALL_OUTPUT)


def data_family(cfg: RunConfig, dataset: Any) -> str:
    """The family whose inputs the data is prepared for: ``model.family``, or for a builder the
    data's own shape (images as ``(C, H, W)`` with per-channel standardization, as a ConvNet gets
    them; texts as token ids; sequences as ``(T, F)`` with each feature standardized over its steps, ``SEQUENCE``;
    tables as flat features)."""
    if cfg.model.builder is None:
        return cfg.model.family
    if dataset.loading.get("kind") == "text":
        return "text_bag"
    if getattr(dataset, "sequence_shape", None) is not None:
        return SEQUENCE
    return "convnet" if dataset.image_shape is not None else "mlp"



def checkpoint_config(family: str, builder: str | None = None, extra: dict | None = None,
                      where: str = "checkpoint") -> RunConfig:
    """The config a checkpoint is rebuilt with: its family or builder reference, trained from
    scratch (a transfer run's checkpoint records the source's architecture in its params, and its
    own weights replace any); an image backbone with the weights file its ``extra`` records
    (refused when changed since)."""
    if builder is None and is_image_backbone(family):
        return RunConfig(**backbone_checkpoint_config(family, extra or {}, where))
    return RunConfig(model={"family": family} if builder is None else {"builder": builder})
