"""Per-layer learning rates as ``torch.optim`` parameter groups.

Why relative groups: transfer decides *how fast each layer moves compared with the head*
(``lr_mult``), while the learning rate itself belongs to the trainer and its search space. So
``lr_groups`` returns ``{"name", "params", "lr_mult"}`` dicts, and ``optimizer_groups`` turns them
into torch groups once the base LR is known: ``lr = base_lr × lr_mult``, each split like knobs'
``decay_groups`` (weight decay on ≥ 2-D weights only). The ``name`` and ``lr_mult`` keys stay in
the torch groups (optimizers keep extra keys), so a schedule scales every group from its own LR and
a log can say which layer had which LR.

Discriminative learning rates (Howard & Ruder 2018): the body layer right under the head gets
``body_lr_mult``, and each layer further down ``layer_decay`` times the one above it:
``lr_mult(d) = body_lr_mult · layer_decay^(d − 1)`` at depth ``d`` = 1, 2, … below the head.

Example:
    >>> layer_lr_mults(3, body_lr_mult=0.1, layer_decay=0.5)   # bottom to top
    [0.025, 0.05, 0.1]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.train import OPTIMIZERS
from knobs.train._optimizers import check_optimizer
from knobs.transfer._layers import Layer

__all__ = ["layer_lr_mults", "lr_groups", "optimizer_groups", "build_group_optimizer"]


def layer_lr_mults(n_body: int, body_lr_mult: float = 1.0, layer_decay: float = 1.0) -> list[float]:
    """LR multipliers of ``n_body`` body layers, bottom to top (pure)."""
    return [body_lr_mult * layer_decay ** (n_body - 1 - i) for i in range(n_body)]


def lr_groups(layers: Sequence[Layer], head: str, *, body_lr_mult: float = 1.0,
              layer_decay: float = 1.0) -> list[dict[str, Any]]:
    """Relative parameter groups, the head's first (so ``param_groups[0]`` carries the base LR).

    Args:
        layers: ``model_layers(model)``.
        head: dotted name of the head module: its layers get ``lr_mult = 1``.
        body_lr_mult: multiplier of the body layer right below the head.
        layer_decay: factor per layer further down (1: the whole body at ``body_lr_mult``).

    Frozen parameters (``requires_grad=False``) are left out; layers with none left are skipped.
    """
    _check_positive("body_lr_mult", body_lr_mult)
    _check_positive("layer_decay", layer_decay)
    head_layers = [layer for layer in layers if layer.within(head)]
    body = [layer for layer in layers if not layer.within(head)]
    mults = layer_lr_mults(len(body), body_lr_mult, layer_decay)
    pairs = [(layer, 1.0) for layer in head_layers] + list(zip(reversed(body), reversed(mults)))
    groups = []
    for layer, mult in pairs:
        params = [p for p in layer.params if p.requires_grad]
        if params:
            groups.append({"name": layer.name, "params": params, "lr_mult": mult})
    return groups


def optimizer_groups(groups: Sequence[dict[str, Any]], lr: float, weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Torch parameter groups with absolute LRs and knobs' weight-decay split (pure).

    Raises:
        ConfigError: a group without ``params`` or with a non-positive ``lr_mult``, or a parameter
            in two groups.
    """
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for i, group in enumerate(groups):
        params, mult = _checked_group(i, group, seen)
        extra = {k: v for k, v in group.items() if k not in ("params", "lr_mult", "lr", "weight_decay")}
        base = {**extra, "lr": lr * mult, "lr_mult": mult}
        weights = [p for p in params if p.ndim >= 2]
        others = [p for p in params if p.ndim < 2]
        if weight_decay == 0:
            out.append({**base, "params": params, "weight_decay": 0.0})
            continue
        out += [{**base, "params": ps, "weight_decay": wd}
                for ps, wd in ((weights, weight_decay), (others, 0.0)) if ps]
    return out


def build_group_optimizer(name: str, groups: Sequence[dict[str, Any]], *, lr: float, weight_decay: float = 0.0,
                          options: dict[str, Any] | None = None) -> torch.optim.Optimizer:
    """``build_optimizer`` for parameter groups: the same names, options and checks.

    Raises:
        ConfigError: unknown optimizer or option, a bad value, or malformed groups.
    """
    kwargs = check_optimizer(name, lr=lr, weight_decay=weight_decay, options=options)
    torch_groups = optimizer_groups(groups, kwargs["lr"], float(weight_decay))
    if not torch_groups:
        raise ConfigError("param groups: no trainable parameters (is everything frozen?)")
    return OPTIMIZERS[name].cls(torch_groups, **{**kwargs, "weight_decay": 0.0})


def _checked_group(i: int, group: Any, seen: set[int]) -> tuple[list[nn.Parameter], float]:
    if not isinstance(group, dict) or "params" not in group:
        raise ConfigError(f"param groups[{i}]: expected a dict with 'params' and 'lr_mult', got {group!r}")
    mult = group.get("lr_mult", 1.0)
    _check_positive(f"param groups[{i}].lr_mult", mult)
    params = list(group["params"])
    for p in params:
        if id(p) in seen:
            raise ConfigError(f"param groups[{i}] ({group.get('name', '?')}): a parameter is already in an earlier group")
        seen.add(id(p))
    return params, float(mult)


def _check_positive(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0:
        raise ConfigError(f"{name}: expected a number > 0, got {value!r}")
