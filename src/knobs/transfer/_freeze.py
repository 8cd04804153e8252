"""Freezing layers: no gradient for their parameters, and their batch norm kept in eval mode.

Why batch norm needs more than ``requires_grad_(False)``: in training mode a BatchNorm normalizes
with the current batch's statistics and overwrites its running mean and variance, so a "frozen"
body would still change its outputs from batch to batch and drift its statistics towards the new
data: with ten images per class, towards noise. A frozen module that keeps running statistics
(BatchNorm, or InstanceNorm with ``track_running_stats``) is therefore pinned to eval mode: its
``train()`` method is replaced on that instance, so ``model.train()`` (which ``Trainer.fit`` calls
every epoch) leaves it in eval mode. ``unfreeze`` removes the pin. Dropout in a frozen part is left
alone: it adds no state, and its noise still regularizes the head.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> freeze(net[:2])            # the Linear and its BatchNorm
    >>> _ = net.train(); net[1].training, net[3].training
    (False, True)
"""

from __future__ import annotations

import types
from typing import Any, Iterable

from torch import nn

__all__ = ["freeze", "freeze_layers", "unfreeze", "is_pinned", "keeps_running_stats"]


def keeps_running_stats(module: nn.Module) -> bool:
    """Whether ``module`` updates running statistics in training mode (BatchNorm and the like)."""
    return getattr(module, "running_mean", None) is not None


def freeze(module: nn.Module) -> None:
    """Stop gradients to every parameter of ``module`` and pin its running-statistics norms to eval."""
    for p in module.parameters():
        p.requires_grad_(False)
    for m in module.modules():
        if keeps_running_stats(m):
            _pin_eval(m)


def freeze_layers(model: nn.Module, layers: Iterable[Any]) -> None:
    """Freeze exactly these layers of ``model`` (``knobs.transfer.Layer``): their parameters, and the
    running-statistics norms they cover, but no child module that is a layer of its own."""
    layers = list(layers)
    for layer in layers:
        for p in layer.params:
            p.requires_grad_(False)
    for name, m in model.named_modules():
        if keeps_running_stats(m) and any(layer.covers(name or "(root)") for layer in layers):
            _pin_eval(m)


def unfreeze(module: nn.Module) -> None:
    """Undo ``freeze``: parameters train again and norms follow ``model.train()``/``eval()``."""
    for p in module.parameters():
        p.requires_grad_(True)
    for m in module.modules():
        if is_pinned(m):
            del m.train


def is_pinned(module: nn.Module) -> bool:
    """Whether ``freeze`` pinned this module to eval mode."""
    return "train" in vars(module)


def _eval_only(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def _pin_eval(module: nn.Module) -> None:
    # NOTE: an instance attribute shadows nn.Module.train for this module only; its parent's
    # train(mode) calls child.train(mode) and so lands here. deepcopy rebinds the method to the
    # copy, and the state_dict is untouched (a frozen model saves and loads like any other).
    module.train = types.MethodType(_eval_only, module)
    module.train(False)
