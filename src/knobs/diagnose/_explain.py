"""Symptoms folded into their causes: a finding whose cause was also found drops to ``info``.

Why: a learning rate ten times too high makes the loss oscillate, kills ReLUs and blows up the
gradients; reporting four warnings hides which one to fix, and a user acting on a symptom changes
the wrong thing. Like AUTOTRAINER's ordered repairs, the cause keeps its severity and lists the
symptoms it explains under ``evidence["explains"]``; each symptom names its causes in
``explained_by``. Only causes found at warning or error level explain anything.

The table, symptom ← causes, and why each cause explains it:

- a saturated tanh/sigmoid explains a failing numeric gradient check (the finite differences of
  a function flat to rounding disagree with its exact, tiny gradient), a gradient-norm ratio
  between layers that reads as exploding, and a slow start; so do inputs in the hundreds for the
  check (a step ε in a first-layer weight moves pre-activations by hundreds of ε, across ReLU
  kinks);
- a bad initial loss (an output layer far too large) explains a slow start, the gradient-norm
  ratio (the large last layer scales every earlier layer's gradient) and a train/validation gap
  (a large output scale trains in the lazy regime, close to its random linearization: Chizat,
  Oyallon and Bach, "On lazy training in differentiable programming", 2019);
- a model with no nonlinearity, or one ending in a Softmax, Sigmoid or ReLU under a cross-entropy, explains
  underfitting and a failed tiny-subset overfit;
- labels the inputs do not predict (no reference model beats chance on the training rows) explain underfitting, a
  train/validation gap and a validation loss that swings (a network memorizing noise);
- unscaled inputs or target explain a bad initial loss, saturation, dead ReLUs, vanishing
  gradients, an LR too high or too low, a noisy loss and a failed fit; an LR too high explains
  noise, dead ReLUs and exploding gradients.

Example:
    >>> from knobs.diagnose._finding import finding
    >>> fs = explain([finding("lr_too_high", "warning", "."), finding("noisy_loss", "warning", ".")])
    >>> [(f.code, f.severity, f.explained_by) for f in fs]
    [('lr_too_high', 'warning', ()), ('noisy_loss', 'info', ('lr_too_high',))]
    >>> fs[0].evidence["explains"]
    ['noisy_loss']
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from knobs.diagnose._finding import SEVERITY_ORDER, Finding

__all__ = ["EXPLAINED_BY", "explain"]

_MODEL = ("dead_relu", "saturation", "vanishing_gradients", "gradient_mismatch", "no_nonlinearity", "outputs_not_logits",
          "batch_mixing")
_SCALE = ("unscaled_inputs", "unscaled_target")

#: symptom → the findings that can cause it (no cycles: a cause is never its cause's symptom).
EXPLAINED_BY: dict[str, tuple[str, ...]] = {
    "init_loss": _SCALE,
    "saturation": _SCALE,
    "gradient_mismatch": ("saturation", *_SCALE),
    "lr_too_high": _SCALE,
    "lr_too_low": (*_SCALE, *_MODEL, "init_loss"),
    "cannot_overfit": (*_SCALE, *_MODEL),
    "noisy_loss": ("lr_too_high", "no_signal", *_SCALE),
    "dead_relu": ("lr_too_high", "exploding_gradients", *_SCALE),
    "vanishing_gradients": _SCALE,
    "exploding_gradients": ("lr_too_high", "saturation", "init_loss"),
    "overfitting": ("init_loss", "no_signal"),
    "underfitting": ("lr_too_high", "lr_too_low", "init_loss", "exploding_gradients", "no_signal", *_SCALE, *_MODEL),
}


def explain(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with explained symptoms set to ``info`` and folded into their causes (each
    cause's ``evidence["explains"]`` lists them), most severe first (stable)."""
    causes = {f.code for f in findings if f.severity != "info"}
    folded: dict[str, list[str]] = {}
    out = []
    for f in findings:
        by = tuple(c for c in EXPLAINED_BY.get(f.code, ()) if c in causes and c != f.code)
        if by and f.severity != "info":
            out.append(dataclasses.replace(f, severity="info", explained_by=by))
            for cause in by:
                folded.setdefault(cause, []).append(f.code)
        else:
            out.append(f)
    out = [dataclasses.replace(f, evidence={**f.evidence, "explains": folded[f.code]})
           if f.code in folded and f.severity != "info" else f for f in out]
    return sorted(out, key=lambda f: -SEVERITY_ORDER[f.severity])
