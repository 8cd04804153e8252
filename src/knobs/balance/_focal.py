"""Focal loss (Lin et al. 2017): cross-entropy that fades on examples the model already gets right.

Why: under imbalance most of the cross-entropy comes from the many easy majority rows. Focal loss
multiplies each row's cross-entropy by ``(1 - p_t)^gamma``, where ``p_t`` is the probability of
the true class, so confident right answers contribute almost nothing and the hard (often
minority) rows drive the gradient. ``alpha`` adds per-class weights on top.

    FL = -alpha_t * (1 - p_t)^gamma * log(p_t)        (gamma = 0, alpha = None: cross-entropy)

Example:
    >>> logits, target = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    >>> torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from knobs.errors import ConfigError, DataError
from knobs.train._losses import IGNORE_INDEX

__all__ = ["FocalLoss", "focal_loss"]

REDUCTIONS = ("mean", "sum", "none")


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               alpha: torch.Tensor | None = None, reduction: str = "mean") -> torch.Tensor:
    """The focal loss of ``(n, C)`` logits against ``(n,)`` class indices (or ``(n, C, T...)`` against a class per
    position ``(n, T...)``, -100 where a position has none); a pure function.

    Args:
        logits: unnormalized scores ``(n, C)``.
        target: class indices ``(n,)``.
        gamma: focusing exponent >= 0 (Lin et al. use 2).
        alpha: ``(C,)`` class weights, or None.
        reduction: ``"mean"`` (weighted by ``alpha_t`` like ``F.cross_entropy(weight=...)``),
            ``"sum"`` or ``"none"``.
    """
    # NOTE: half-precision logits (autocast) are upcast: (1 - p_t)^gamma of p_t near 1 underflows
    # in bf16; float64 stays float64 (gradcheck).
    logits = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    target = target.long()
    # NOTE: a class per position (logits (n, C, T...), targets (n, T...)) counts only its labelled positions, as
    # F.cross_entropy's ignore_index does: a padded token or void pixel adds nothing to the sum or the mean
    keep = target != IGNORE_INDEX if target.ndim > 1 else None
    if keep is not None:
        target = target.clamp_min(0)
    logp = F.log_softmax(logits, dim=1)
    logp_t = logp.gather(1, target.unsqueeze(1)).squeeze(1)
    # NOTE: 1 - p_t from expm1 keeps precision when p_t is near 1; the clamp keeps the gradient of
    # (1 - p_t)^gamma finite for gamma < 1 when p_t rounds to exactly 1 (else inf * 0 = NaN).
    one_minus = (-torch.expm1(logp_t)).clamp_min(torch.finfo(logp_t.dtype).tiny)
    loss = -(one_minus ** gamma) * logp_t
    weight = None if alpha is None else alpha.to(loss.device, loss.dtype)[target]
    if keep is not None:
        weight = keep.to(loss.dtype) if weight is None else weight * keep
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    # NOTE: the weighted mean divides by the sum of the rows' weights, as F.cross_entropy does, so
    # gamma = 0 with alpha = w is exactly cross_entropy(weight=w).
    return loss.sum() / (weight.sum() if weight is not None else loss.new_tensor(float(len(loss))))


class FocalLoss(nn.Module):
    """Focal loss as a module, for ``Trainer(loss=...)`` or any training loop.

    Args:
        gamma: focusing exponent >= 0; 0 gives (weighted) cross-entropy.
        alpha: None; a float in (0, 1) for binary tasks (weight ``alpha`` for class 1 and
            ``1 - alpha`` for class 0, as in Lin et al.); or one positive weight per class
            (e.g. ``knobs.balance.class_weights(y_train, C)``).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        weight: the per-class weights under ``nn.CrossEntropyLoss``'s name: the same as ``alpha``.

    Raises:
        ConfigError: a negative or non-finite gamma, bad alpha, both alpha and weight, or an unknown reduction.
        DataError: in ``forward``, logits whose class count differs from ``alpha``'s.

    Example:
        >>> loss = FocalLoss(gamma=2.0, alpha=[0.25, 0.75])
        >>> value = loss(torch.randn(8, 2), torch.randint(0, 2, (8,)))
    """

    #: it reads (n, C) logits: a one-logit binary model's z is given as [0, z] (``knobs.train._losses.TwoLogits``)
    reads_class_logits = True

    def __init__(self, gamma: float = 2.0, alpha: Any = None, reduction: str = "mean", *, weight: Any = None) -> None:
        super().__init__()
        if weight is not None:
            if alpha is not None:
                raise ConfigError("FocalLoss: give the class weights once, as alpha or as weight (its name in "
                                  "nn.CrossEntropyLoss), not both")
            alpha = weight
        # NOTE: unlike knobs' estimators this module checks its arguments at once: a loss is
        # complete when built, and torch's own losses do the same.
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
            raise ConfigError(f"focal_gamma must be a finite number >= 0 (0 gives cross-entropy), got {gamma!r}")
        if reduction not in REDUCTIONS:
            raise ConfigError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.gamma, self.reduction = float(gamma), reduction
        self.register_buffer("alpha", _alpha_tensor(alpha))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.alpha is not None and logits.shape[1] != len(self.alpha):
            raise DataError(f"FocalLoss has {len(self.alpha)} class weights (alpha) but the logits "
                            f"have {logits.shape[1]} classes; give one weight per class")
        return focal_loss(logits, target, self.gamma, self.alpha, self.reduction)

    def extra_repr(self) -> str:
        alpha = None if self.alpha is None else [round(a, 4) for a in self.alpha.tolist()]
        return f"gamma={self.gamma}, alpha={alpha}, reduction={self.reduction!r}"


def _alpha_tensor(alpha: Any) -> torch.Tensor | None:
    if alpha is None:
        return None
    if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
        if not 0 < alpha < 1:
            raise ConfigError(f"a scalar focal alpha is the weight of class 1 in a binary task and "
                              f"must lie in (0, 1), got {alpha!r}; pass one weight per class otherwise")
        return torch.tensor([1.0 - alpha, float(alpha)], dtype=torch.float32)
    if isinstance(alpha, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(alpha, str):
        try:
            values = torch.as_tensor(np.asarray(alpha, dtype=np.float64), dtype=torch.float32).reshape(-1)
        except (TypeError, ValueError):
            values = torch.empty(0)
        if len(values) >= 2 and bool(torch.isfinite(values).all()) and bool((values > 0).all()):
            return values
    raise ConfigError(f"focal alpha must be None, a float in (0, 1) (binary), or one positive "
                      f"weight per class, got {alpha!r}")
