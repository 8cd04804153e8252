"""The source model of a transfer: rebuilt from a knobs checkpoint, a plain state_dict of a named
pretrained backbone, or a whole saved module; or weights loaded into a model.

Why rebuild from the checkpoint's own record: ``knobs run`` saves each trial's checkpoint with
``extra = {family, input_shape, n_classes, params, scaler, ...}``; the model hyperparameters are the
keys of ``params`` that ``knobs.models.hyperparameters(family)`` knows (the rest are trainer keys).
A plain ``state_dict`` records no architecture, so the caller names it: ``family`` (the run's
``model.family``) must be a pretrained backbone (``efficientnet_lite0``, ``minilm``,
``timm:<name>``), which is built and given the file's weights (its head sized by the file). A whole
saved module (``torch.save(model)``) is read only if every class it names is an allow-listed model
class (``_safe_load``). A checkpoint written by ``Trainer.save`` alone records weights but no
family: it can still be loaded into a model the user builds (``load_weights``). Any mismatch
between weights and model is reported naming the missing, unexpected and reshaped keys.

Example:
    >>> # source = load_source("runs/digits/checkpoints/best.pt")
    >>> # source.model, source.family, source.input_shape, source.scaler
    >>> # source = load_source("resnet18.pth", family="timm:resnet18")   # a plain state_dict
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from knobs.models import backbone, build_model, hyperparameters, is_pretrained
from knobs.train import CheckpointError, load_model_state, restore_model
from knobs.transfer._safe_load import read_source

__all__ = ["SourceModel", "load_source", "load_weights", "RECORDED_KEYS"]

#: What a checkpoint's ``extra`` must record for the model to be rebuilt.
RECORDED_KEYS = ("family", "input_shape", "n_classes", "params")


@dataclass
class SourceModel:
    """A model rebuilt from a checkpoint, with what the checkpoint says about it.

    Attributes:
        model: the network with the checkpoint's weights.
        family, input_shape, n_classes: as recorded; for a plain state_dict the backbone's name
            and input size; for a whole saved module the ``family`` given (or None) and no shape.
        hparams: the model hyperparameters it was built with.
        scaler: the ``Standardizer`` state of the source data (None when not recorded); new data
            scaled the same way meets the features the source model learnt.
        extra: the checkpoint's whole ``extra`` dict.
    """

    model: nn.Module
    family: str | None
    input_shape: tuple[int, ...] | None
    n_classes: int
    hparams: dict[str, Any] = field(default_factory=dict)
    scaler: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_source(path: str | os.PathLike, family: str | None = None) -> SourceModel:
    """The model saved in ``path``, with its weights.

    Args:
        path: a knobs checkpoint (``knobs run``'s ``best.pt``, ``trial-N.pt``), a plain state_dict
            (.pth/.pt; then ``family`` names its architecture), or a whole saved module of an
            allow-listed class.
        family: the architecture of a plain state_dict: a pretrained backbone name (the run's
            ``model.family``). Ignored for a knobs checkpoint, which records its own.

    Raises:
        CheckpointError: no such file, unreadable, a plain state_dict without a pretrained
            ``family``, a knobs checkpoint that records no family/shape/params, or weights that do
            not fit the architecture (keys named).
        UnsafeSource: a pickle naming classes or functions outside the allow-list (named).
        WeightsError: a plain state_dict that does not fit ``family`` (the backbone and keys named).
        ConfigError: the recorded family or hyperparameters are invalid; MissingPackage when the
            backbone's package is not installed.
    """
    state = read_source(path)
    if isinstance(state, nn.Module):
        return SourceModel(state, family, None, _head_outputs(state), {}, None, {})
    if not isinstance(state, dict):
        raise CheckpointError(f"transfer.source {str(path)!r}: holds a {type(state).__name__}, neither a model, "
                              f"a state_dict nor a knobs checkpoint")
    if "format" not in state and state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return _from_state_dict(path, state, family)
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
    restore_model(model, state, source=f"checkpoint {path}")
    return SourceModel(model, family, shape, int(extra["n_classes"]), hparams, extra.get("scaler"), extra)


def _from_state_dict(path: str | os.PathLike, state: dict[str, torch.Tensor], family: str | None) -> SourceModel:
    """A pretrained backbone ``family`` given the plain state_dict ``state`` (its head sized by the file)."""
    if not is_pretrained(family):
        raise CheckpointError(
            f"transfer.source {str(path)!r} is a plain state_dict, which records no architecture; set model.family "
            f"to the pretrained backbone it was saved from (efficientnet_lite0, minilm, timm:<name>)"
            + (f" — {family!r} is not one" if family else "")
            + ", or use a checkpoint written by `knobs run`")
    spec = backbone(family)
    head_weight = state.get(f"{spec.head}.weight")
    n_classes = int(head_weight.shape[0]) if head_weight is not None and head_weight.ndim == 2 else 1
    model = build_model(family, input_shape=None, n_classes=n_classes, weights=str(path))
    shape = spec.input_size if spec.kind == "image" else (spec.max_length,)
    return SourceModel(model, family, tuple(shape), n_classes, {}, None, {})


def _head_outputs(model: nn.Module) -> int:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return int(linears[-1].out_features) if linears else 0


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load a knobs checkpoint's weights, a plain saved ``state_dict`` or a whole saved module's
    weights (allow-listed classes only) into ``model``.

    Raises:
        CheckpointError: unreadable file, or keys/shapes that do not fit ``model`` (named).
    """
    state = read_source(path)
    if isinstance(state, nn.Module):
        state = state.state_dict()
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: holds a {type(state).__name__}, not a state_dict")
    weights = state.get("model") if "format" in state else state
    if isinstance(weights, dict) and not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"checkpoint {path}: holds neither a knobs checkpoint nor a state_dict of tensors")
    omitted = state.get("omitted") if "format" in state else None
    load_model_state(model, weights, source=f"checkpoint {path}", omitted=omitted)
    return model
