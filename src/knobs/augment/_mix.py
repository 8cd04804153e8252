"""Mixup and CutMix as pure functions of a batch, its soft targets, λ, a pairing and a box.

Why soft targets: a mixed image is λ of one class and 1-λ of another, and its target says exactly
that, ``λ·onehot(y_a) + (1-λ)·onehot(y_b)``. ``torch.nn.functional.cross_entropy`` takes class
probabilities as targets, so the Trainer's default loss trains on them unchanged, and the loss of
a mixed batch equals ``λ·CE(y_a) + (1-λ)·CE(y_b)`` (the (y_a, y_b, λ) form) by linearity.

Why one λ and one pairing per batch: the papers' reference code does so, and it keeps the work a
single blend (or one pasted box) of the whole batch on the device.

Glossary of shapes: ``N`` images, ``C`` channels, ``H×W`` pixels, ``K`` classes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["soft_targets", "mixup", "cut_box", "cutmix"]


def soft_targets(labels: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """One-hot rows ``(N, K)`` from class indices ``(N,)``; probability rows pass through."""
    if labels.is_floating_point():
        return labels.to(dtype)
    return F.one_hot(labels, n_classes).to(dtype)


def mixup(x: torch.Tensor, y: torch.Tensor, lam: float, perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``λ·x + (1-λ)·x[perm]`` and the same blend of the soft targets ``y`` (N, K)."""
    return x.lerp(x[perm], 1.0 - lam), y.lerp(y[perm], 1.0 - lam)


def cut_box(lam: float, center: tuple[float, float], height: int, width: int) -> tuple[int, int, int, int]:
    """The CutMix box ``(top, bottom, left, right)`` covering about ``1-λ`` of the image.

    Args:
        lam: the share of the image that stays.
        center: the box centre as fractions ``(cy, cx)`` in [0, 1) of the height and width.

    NOTE: the box has sides ``sqrt(1-λ)`` times the image's and is clipped at the borders, so it
    can cover less than ``1-λ``; ``cutmix`` weighs the labels by the area actually pasted.
    """
    cut = math.sqrt(max(0.0, 1.0 - lam))
    half_h, half_w = int(height * cut) // 2, int(width * cut) // 2
    cy, cx = int(center[0] * height), int(center[1] * width)
    return max(cy - half_h, 0), min(cy + half_h, height), max(cx - half_w, 0), min(cx + half_w, width)


def cutmix(x: torch.Tensor, y: torch.Tensor, box: tuple[int, int, int, int],
           perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Paste ``box`` of the paired images ``x[perm]`` into ``x``; soft targets by area.

    Returns:
        The mixed images, the mixed soft targets, and λ: the share of each image that is its own.
    """
    top, bottom, left, right = box
    height, width = x.shape[-2:]
    lam = 1.0 - (bottom - top) * (right - left) / (height * width)
    mixed = x.clone()
    mixed[:, :, top:bottom, left:right] = x[perm, :, top:bottom, left:right]
    return mixed, y.lerp(y[perm], 1.0 - lam), lam
