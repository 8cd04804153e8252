"""Class imbalance answered by sample weights: the preflight's class count, read with the weights.

Why: the class-balance check counts rows, but training with sample weights (``(X, y, w)``) makes
the loss a weighted mean, and weights that give every class the same total are the fix the
check itself recommends. Such a run gets the imbalance as ``info``, with the weighted totals.

Example:
    >>> import torch
    >>> from knobs.diagnose._finding import finding
    >>> found = [finding("class_imbalance", "warning", "imbalanced", {"counts": [90, 10]})]
    >>> y = torch.tensor([0] * 90 + [1] * 10)
    >>> w = torch.where(y == 1, 9.0, 1.0)
    >>> [(f.code, f.severity) for f in weigh_imbalance(found, y, w)]
    [('class_imbalance', 'info')]
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from knobs.diagnose._finding import Finding

__all__ = ["BALANCED", "weigh_imbalance"]

# NOTE: the data check's own limit on the ratio of the largest to the smallest class
# (``knobs.checks.check_data(max_imbalance=3)``), applied to the weighted class totals.
BALANCED = 3.0


def weigh_imbalance(findings: Sequence[Finding], y: torch.Tensor, weights: torch.Tensor | None) -> list[Finding]:
    """``class_imbalance`` downgraded to ``info`` when ``weights`` bring the per-class totals of
    the training rows within ``BALANCED`` of each other; every other finding unchanged."""
    if weights is None:
        return list(findings)
    out = []
    for f in findings:
        if f.code == "class_imbalance" and f.severity != "info":
            labels = y.long().reshape(-1)
            totals = torch.zeros(int(labels.max()) + 1, dtype=torch.float64).index_add_(
                0, labels, weights.double().reshape(-1))
            present = totals[torch.bincount(labels) > 0]
            ratio = float(present.max() / present.min()) if len(present) and present.min() > 0 else float("inf")
            if ratio <= BALANCED:
                f = dataclasses.replace(f, severity="info", message=f"{f.message}; the sample weights balance them "
                                        f"(weighted class totals within {ratio:.3g}x)",
                                        evidence={**f.evidence, "weighted_totals": totals.tolist(),
                                                  "weighted_ratio": ratio})
        out.append(f)
    return out
