"""Regularization that is not an optimizer's job: which parameters are penalized, the L1 term,
and gradient clipping.

Why exclude biases and normalization parameters: a penalty exists to shrink *weights* (the
function's complexity); pulling biases or batch-norm scales towards zero only shifts and squashes
activations. Weights are the parameters with two or more dimensions (Linear and Conv kernels).

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> [p.shape for p in penalized(net)]
    [torch.Size([4, 3])]
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

__all__ = ["penalized", "decay_groups", "l1_penalty", "clip_gradients"]


def penalized(model: nn.Module) -> list[nn.Parameter]:
    """The weights (≥ 2-D trainable parameters): what L1 and weight decay act on."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weights decay, biases and norm parameters do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    if weight_decay == 0:
        return [{"params": params}]
    decay_ids = {id(p) for p in penalized(model)}
    return [
        {"params": [p for p in params if id(p) in decay_ids], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) not in decay_ids], "weight_decay": 0.0},
    ]


def l1_penalty(weights: Iterable[torch.Tensor]) -> torch.Tensor:
    """Σ|w| over the given weights, as one differentiable scalar."""
    return torch.stack([w.abs().sum() for w in weights]).sum()


def clip_gradients(params: list[torch.Tensor], max_norm: float | None, max_value: float | None) -> None:
    """Clip gradients in place: first each entry to ±max_value, then the global L2 norm to max_norm."""
    if max_value is not None:
        nn.utils.clip_grad_value_(params, max_value)
    if max_norm is not None:
        nn.utils.clip_grad_norm_(params, max_norm)
