"""``apply_transfer``: one call from a source model and a ``[transfer]`` config to a model ready to
train and its per-layer parameter groups. This is the function the pipeline calls.

The three modes (a "layer" as ``model_layers`` defines it; the head is its own):

- ``feature_extractor``: every body layer frozen (BatchNorm pinned to eval); only the head trains.
- ``fine_tune``: everything trains; the body at ``body_lr_mult`` × ``layer_decay``^(d − 1).
- ``freeze_first``: the first ``freeze_first_n`` body layers frozen, the rest as in fine_tune.

Example:
    >>> from knobs.models import build_model
    >>> net = build_model("mlp", input_shape=(64,), n_classes=5, width=32, depth=2)
    >>> model, groups = apply_transfer(net, {"mode": "feature_extractor"}, n_classes=5)
    >>> [g["name"] for g in groups]
    ['head']
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from knobs.errors import ConfigError
from knobs.transfer._config import TransferConfig, parse_transfer
from knobs.transfer._freeze import freeze_layers
from knobs.transfer._groups import lr_groups
from knobs.transfer._head import replace_head
from knobs.transfer._layers import Layer, model_layers
from knobs.transfer._source import load_source, load_weights

__all__ = ["apply_transfer", "resolve_source", "frozen_layers"]


def apply_transfer(model_or_source: nn.Module | str | os.PathLike | None, cfg: TransferConfig | dict | None,
                   n_classes: int, *, family: str | None = None) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Prepare a pretrained model for a new task; return ``(model, param_groups)``.

    Args:
        model_or_source: an ``nn.Module`` (changed in place; ``cfg.source``, when set, is loaded
            into it first), a checkpoint path, or None to use ``cfg.source``.
        cfg: a ``TransferConfig`` or the ``[transfer]`` dict.
        n_classes: classes of the new task.
        family: the architecture of a source that is a plain state_dict (a pretrained backbone
            name, the run's ``model.family``); see ``load_source``.

    Returns:
        The model with its new head and frozen layers, and relative parameter groups
        ``{"name", "params", "lr_mult"}`` (head first) for ``build_group_optimizer`` or the
        ``ParamGroups`` callback. Parameters the given model already had frozen stay frozen.

    Raises:
        ConfigError: bad config, no head, a head that cannot give ``n_classes``, or more layers to
            freeze than the body has (naming the count and the layers).
        CheckpointError: unreadable checkpoint, or weights of another architecture (naming keys).
    """
    cfg = parse_transfer(cfg)
    model = resolve_source(model_or_source, cfg.source, family=family)
    head = replace_head(model, n_classes, head=cfg.head, reset=cfg.reset_head)
    layers = model_layers(model, by=cfg.layers)
    freeze_layers(model, frozen_layers(layers, head, cfg))
    groups = lr_groups(layers, head, body_lr_mult=cfg.body_lr_mult, layer_decay=cfg.layer_decay)
    return model, groups


def resolve_source(model_or_source: Any, source: str | None, *, family: str | None = None) -> nn.Module:
    """The model to transfer from: the module given (with ``source`` loaded into it), else rebuilt
    (``family``: the architecture of a plain state_dict)."""
    if isinstance(model_or_source, nn.Module):
        return load_weights(model_or_source, source) if source else model_or_source
    path = model_or_source if model_or_source is not None else source
    if path is None:
        raise ConfigError("transfer.source: give a checkpoint path (or pass a model)")
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"transfer source: expected an nn.Module or a checkpoint path, got {type(path).__name__}")
    return load_source(path, family=family).model


def frozen_layers(layers: list[Layer], head: str, cfg: TransferConfig) -> list[Layer]:
    """The body layers ``cfg.mode`` freezes (the head never is)."""
    body = [layer for layer in layers if not layer.within(head)]
    if cfg.mode == "feature_extractor":
        return body
    if cfg.mode == "fine_tune":
        return []
    n = cfg.freeze_first_n
    if n > len(body):
        names = ", ".join(f"{i + 1}: {layer.name}" for i, layer in enumerate(body))
        raise ConfigError(
            f"transfer.freeze_first_n: {n} layers asked for, but the model has {len(body)} layers below "
            f"its head {head!r} ({names}); a layer is counted by {cfg.layers!r}")
    return body[:n]
