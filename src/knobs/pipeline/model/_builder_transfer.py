"""``[transfer]`` from a checkpoint that a ``model.builder`` made.

Why here and not in ``knobs.transfer``: that package rebuilds a source from its family; a builder's
model can only be rebuilt by importing the builder (the reference and file hash the checkpoint
records, ``_builder.builder_for_record``). So the source model is made here — the builder called with
the source's own params and ``ModelInfo`` — and handed to ``knobs.transfer.apply_transfer``, which
loads the source weights into it, gives it a new head and freezes what ``[transfer]`` says, exactly
as for a family's source.

As with a family (``model.family`` must be the source's), the run names the same builder
(``model.builder``), keeps the source's architecture (its model keys are fixed in every trial, so
the run's checkpoints record them) and searches training keys only.
"""

from __future__ import annotations

from typing import Any

import torch

from knobs.errors import ConfigError
from knobs.pipeline.model._builder import Builder, builder_for_record, call_builder, load_builder
from knobs.pipeline.model._info import ModelInfo
from knobs.pipeline.model._params import split_params

__all__ = ["builder_transfer_model", "check_builder_transfer"]


def builder_transfer_model(cfg: Any, n_classes: int) -> torch.nn.Module:
    """The source model rebuilt by its builder, with its weights, a new head for ``n_classes``,
    frozen as ``[transfer]`` says."""
    from knobs.transfer import apply_transfer

    builder, params, info = _source(cfg)
    return apply_transfer(call_builder(builder, params, info), cfg.transfer, n_classes)[0]


def check_builder_transfer(cfg: Any, data: Any, space: Any, fixed: dict[str, Any]) -> dict[str, Any]:
    """Check a builder run's ``[transfer]`` source against the config and the data; return the fixed
    values with the source's model keys (its architecture).

    Raises:
        ConfigError: a source made without a builder or by another one, a builder file changed since,
            inputs of another shape, or a model key in the search space.
    """
    _, params, info = _source(cfg)
    if tuple(info.input_shape) != tuple(data.input_shape):
        raise ConfigError(f"transfer.source: the checkpoint's model takes inputs of shape {list(info.input_shape)}, "
                          f"this data has {list(data.input_shape)}")
    searched = sorted(k for k in split_params(dict.fromkeys(space.names))[1])
    if searched:
        raise ConfigError(f"search.space.{searched[0]}: a transfer run keeps the source model's architecture (its "
                          f"model keys: {', '.join(sorted(params)) or 'none'}); search training keys only")
    return {**fixed, **params}


def _source(cfg: Any) -> tuple[Builder, dict[str, Any], ModelInfo]:
    """(the builder, its model params, its ``ModelInfo``) of the ``[transfer]`` source checkpoint."""
    from knobs.train import load_checkpoint
    from knobs.transfer import parse_transfer

    path = parse_transfer(cfg.transfer).source
    if path is None:
        raise ConfigError("transfer.source: give the path of a knobs checkpoint to start from "
                          "(e.g. runs/<name>/checkpoints/best.pt)")
    extra = load_checkpoint(path).get("extra") or {}
    record = extra.get("builder")
    if record is None:
        family = extra.get("family")
        hint = f"remove model.builder and set model.family = {family!r}" if family else "give a checkpoint of a builder run"
        raise ConfigError(f"transfer.source: {path} holds a model made without a builder ({family or 'unknown'} "
                          f"family); {hint}")
    builder = builder_for_record(record, f"transfer.source {path}")
    mine = load_builder(cfg.model.builder).reference
    if builder.reference != mine:
        raise ConfigError(f"transfer.source: {path} was made by model.builder {builder.reference!r}, this config's is "
                          f"{mine!r}; set model.builder = {builder.reference!r}")
    return builder, split_params(extra["params"])[1], ModelInfo.of_checkpoint(extra)
