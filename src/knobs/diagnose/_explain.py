"""Symptoms explained by causes: a finding whose cause was also found drops to ``info``.

Why: a learning rate ten times too high makes the loss oscillate, kills ReLUs and blows up the
gradients; reporting four warnings hides which one to fix. Like AUTOTRAINER's ordered repairs,
the cause keeps its severity and each symptom names it in ``explained_by``. Only causes found at
warning or error level explain anything.

Example:
    >>> from knobs.diagnose._finding import finding
    >>> fs = explain([finding("lr_too_high", "warning", "."), finding("noisy_loss", "warning", ".")])
    >>> [(f.code, f.severity, f.explained_by) for f in fs]
    [('lr_too_high', 'warning', ()), ('noisy_loss', 'info', ('lr_too_high',))]
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from knobs.diagnose._finding import SEVERITY_ORDER, Finding

__all__ = ["EXPLAINED_BY", "explain"]

_MODEL = ("dead_relu", "saturation", "vanishing_gradients", "gradient_mismatch")
_SCALE = ("unscaled_inputs", "unscaled_target")

#: symptom → the findings that can cause it.
EXPLAINED_BY: dict[str, tuple[str, ...]] = {
    "init_loss": _SCALE,
    "saturation": _SCALE,
    "lr_too_high": _SCALE,
    "lr_too_low": (*_SCALE, "saturation", "vanishing_gradients"),
    "cannot_overfit": (*_SCALE, *_MODEL),
    "noisy_loss": ("lr_too_high", *_SCALE),
    "dead_relu": ("lr_too_high", "exploding_gradients", *_SCALE),
    "vanishing_gradients": _SCALE,
    "exploding_gradients": ("lr_too_high",),
    "underfitting": ("lr_too_high", "lr_too_low", "init_loss", "exploding_gradients", *_SCALE, *_MODEL),
}


def explain(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with explained symptoms set to ``info``, most severe first (stable)."""
    causes = {f.code for f in findings if f.severity != "info"}
    out = []
    for f in findings:
        by = tuple(c for c in EXPLAINED_BY.get(f.code, ()) if c in causes and c != f.code)
        out.append(dataclasses.replace(f, severity="info", explained_by=by) if by and f.severity != "info" else f)
    return sorted(out, key=lambda f: -SEVERITY_ORDER[f.severity])
