"""The source model of a transfer: rebuilt from a knobs checkpoint, or weights loaded into a model.

Why rebuild from the checkpoint's own record: ``knobs run`` saves each trial's checkpoint with
``extra = {family, input_shape, n_classes, params, scaler, ...}``; the model hyperparameters are the
keys of ``params`` that ``knobs.models.hyperparameters(family)`` knows (the rest are trainer keys).
A checkpoint written by ``Trainer.save`` alone records weights but no family: it can still be
loaded into a model the user builds (``load_weights``). Any mismatch between weights and model is
reported by ``knobs.train.load_model_state`` naming the missing, unexpected and reshaped keys.

Example:
    >>> # source = load_source("runs/digits/checkpoints/best.pt")
    >>> # source.model, source.family, source.input_shape, source.scaler
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from knobs.models import build_model, hyperparameters
from knobs.train import CheckpointError, load_checkpoint, load_model_state

__all__ = ["SourceModel", "load_source", "load_weights", "RECORDED_KEYS"]

#: What a checkpoint's ``extra`` must record for the model to be rebuilt.
RECORDED_KEYS = ("family", "input_shape", "n_classes", "params")


@dataclass
class SourceModel:
    """A model rebuilt from a checkpoint, with what the checkpoint says about it.

    Attributes:
        model: the network with the checkpoint's weights.
        family, input_shape, n_classes: as recorded.
        hparams: the model hyperparameters it was built with.
        scaler: the ``Standardizer`` state of the source data (None when not recorded); new data
            scaled the same way meets the features the source model learnt.
        extra: the checkpoint's whole ``extra`` dict.
    """

    model: nn.Module
    family: str
    input_shape: tuple[int, ...]
    n_classes: int
    hparams: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_source(path: str | os.PathLike) -> SourceModel:
    """Rebuild the model a knobs checkpoint was saved from and load its weights.

    Raises:
        CheckpointError: no such file, unreadable, records no family/shape/params (naming the
            missing keys), or weights that do not fit the recorded architecture.
        ConfigError: the recorded family or hyperparameters are invalid.
    """
    state = load_checkpoint(path)
    extra = state.get("extra") or {}
    missing = [k for k in RECORDED_KEYS if k not in extra]
    if missing:
        raise CheckpointError(
            f"checkpoint {path}: records no {', '.join(missing)} in its extra, so the model cannot be "
            f"rebuilt; use a checkpoint written by `knobs run` (checkpoints/best.pt, trial-N.pt), or build "
            f"the model yourself and call load_weights(model, path)")
    family = extra["family"]
    hparams = {k: v for k, v in dict(extra["params"]).items() if k in hyperparameters(family)}
    shape = tuple(int(s) for s in extra["input_shape"])
    model = build_model(family, input_shape=shape, n_classes=int(extra["n_classes"]), **hparams)
    load_model_state(model, state.get("model"), source=f"checkpoint {path}")
    return SourceModel(model, family, shape, int(extra["n_classes"]), hparams, extra.get("scaler"), extra)


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a knobs checkpoint's weights, or a plain saved ``state_dict``, into ``model``.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not fit ``model`` (named).
    """
    state = load_checkpoint(path)
    weights = state.get("model") if "format" in state else state
    if isinstance(weights, dict) and not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"checkpoint {path}: holds neither a knobs checkpoint nor a state_dict of tensors")
    load_model_state(model, weights, source=f"checkpoint {path}")
    return model
