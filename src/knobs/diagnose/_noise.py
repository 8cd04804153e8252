"""The gradient noise scale: how many rows a batch needs before its gradient stops being noise.

Why: McCandlish et al. ("An empirical model of large-batch training", 2018) show that a step on a
batch of ``B`` rows makes the progress of a full-batch step scaled by ``1 / (1 + B_noise / B)``,
and that the simple noise scale ``B_simple = tr(Σ) / |G|²`` (Σ the per-row gradient covariance, G
the full gradient) predicts ``B_noise`` well. A batch far below ``B_simple`` at a learning rate
tuned for full gradients makes steps that mostly undo each other: the loss is dominated by noise.
Their optimal step for batch ``B`` is ``ε_max / (1 + B_noise / B)``, with ``ε_max = |G|² / GᵀHG``.

How (the unbiased estimator of their appendix A.1, with ``k`` disjoint batches of ``b`` rows
drawn without replacement from the ``n`` training rows): per-batch gradients ``g_j``, their mean
``ḡ`` and spread ``S = Σ_j |g_j − ḡ|² / (k − 1)`` (which estimates tr Var(g_j)), then

    tr(Σ) = b · S · (n − 1) / (n − b),      |G|² = |ḡ|² − tr(Σ) / (k b) · (n − k b) / (n − 1),

the finite-population factors making both unbiased for sampling without replacement. One
Hessian-vector product along ``ḡ`` gives ``GᵀHG`` and so ``ε_max``. The running sum of the
gradients is kept, never the ``k`` vectors.

Example (a mean of squares whose per-row gradients are pure noise around G = 1):
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(1))
    >>> rows = torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 4 + 1  # Var 16, mean 1
    >>> batch_loss = lambda idx: -(w * rows[idx]).mean()
    >>> out = noise_scale(batch_loss, [w], n=4096, batch=64, batches=64)
    >>> 10 < out["b_simple"] < 25                     # tr(Σ) / |G|² = 16 / 1
    True
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

__all__ = ["BATCH", "BATCHES", "noise_scale"]

# NOTE: 16 batches of 32 rows (512 rows) resolve B_simple up to about k·b = 512: beyond that
# the mean gradient's own noise swamps |G|² and the estimate is reported as a lower bound.
BATCH, BATCHES = 32, 16


def noise_scale(batch_loss: Callable[[torch.Tensor], torch.Tensor], params: Sequence[torch.Tensor], *,
                n: int, batch: int = BATCH, batches: int = BATCHES, seed: int = 0) -> dict:
    """``tr(Σ)``, ``|G|²``, ``B_simple`` and ``ε_max`` from per-batch gradients.

    Args:
        batch_loss: the mean loss of the rows ``idx`` (a LongTensor of row indices).
        params: the trainable tensors.
        n: rows in the training set.
        batch, batches: ``k`` batches of ``b`` rows (fewer when ``n`` is small).
        seed: which rows.

    Returns:
        ``{"b_simple", "trace_sigma", "grad_sq", "eps_max", "batch", "batches", "resolved"}``;
        ``resolved`` is False when ``|G|²`` is not above its own standard error (then ``b_simple``
        is the lower bound ``k·b``); values are None when a gradient is not finite.
    """
    params = list(params)
    b = max(1, min(batch, n // 2))
    k = max(2, min(batches, n // b))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    total = [torch.zeros_like(p) for p in params]
    squares = 0.0
    for j in range(k):
        grads = torch.autograd.grad(batch_loss(order[j * b:(j + 1) * b]), params, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g.detach() for p, g in zip(params, grads)]
        squares += sum(float((g * g).sum()) for g in grads)
        torch._foreach_add_(total, grads)
    mean = [t / k for t in total]
    mean_sq = sum(float((m * m).sum()) for m in mean)
    if not (math.isfinite(squares) and math.isfinite(mean_sq)):
        return {"b_simple": None, "trace_sigma": None, "grad_sq": None, "eps_max": None, "batch": b,
                "batches": k, "resolved": False}
    spread = max(squares - k * mean_sq, 0.0) / (k - 1)
    trace = b * spread * (n - 1) / max(n - b, 1)
    grad_sq = mean_sq - trace / (k * b) * (n - k * b) / max(n - 1, 1)
    # NOTE: |ḡ|² has standard error about sqrt(2)·tr(Σ)/(k b) when noise dominates; below that
    # |G|² cannot be told from zero and only the bound B_simple > k·b is known.
    resolved = grad_sq > math.sqrt(2) * trace / (k * b)
    out = {"b_simple": trace / grad_sq if resolved else float(k * b), "trace_sigma": trace,
           "grad_sq": grad_sq, "batch": b, "batches": k, "resolved": bool(resolved), "eps_max": None}
    out["eps_max"] = _eps_max(batch_loss, params, order[:k * b], mean, mean_sq)
    return out


def _eps_max(batch_loss, params, rows, direction, norm_sq: float) -> float | None:
    """``|ḡ|² / ḡᵀHḡ``: the best step along the mean gradient on a quadratic (None when the
    curvature along it is not positive)."""
    grads = torch.autograd.grad(batch_loss(rows), params, create_graph=True, allow_unused=True)
    pairs = [(g, d) for g, d in zip(grads, direction) if g is not None and g.requires_grad]
    if not pairs:
        return None
    hv = torch.autograd.grad([g for g, _ in pairs], params, grad_outputs=[d for _, d in pairs], allow_unused=True)
    curvature = sum(float((h * d).sum()) for h, d in zip(hv, direction) if h is not None)
    return norm_sq / curvature if curvature > 0 and math.isfinite(curvature) else None
