"""What the untrained model's outputs say: probabilities (or never-negative values) given as logits.

Why: one of the commonest wiring bugs looks like a slow or weak training run and sends people tuning
the learning rate. A ``Softmax`` (or ``Sigmoid``) as the model's last layer feeds probabilities to a
cross-entropy that applies its own log-softmax: outputs confined to [0, 1] cannot separate the
classes by more than 1, so the loss cannot fall below ln(1 + (C − 1)/e), 1.46 for ten classes, and
its gradients are squashed. A ``ReLU`` after the last layer keeps every logit ≥ 0. Either is visible
at once in the untrained model's outputs on a batch, whatever the data: a linear output layer
gives about half its outputs negative, so not one negative among thousands is no accident.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from knobs.diagnose._finding import Finding, finding
from knobs.train._batches import cast_inputs, input_dtype, named_logits

__all__ = ["OUTPUT_ROWS", "output_findings", "output_range"]

#: Rows of the training data the untrained model's outputs are read on.
OUTPUT_ROWS = 256


def output_range(model: nn.Module, X: torch.Tensor, loss: Any) -> dict[str, Any]:
    """The untrained model's outputs on up to ``OUTPUT_ROWS`` training rows, in eval mode: their least and
    largest value, how far rows sum from 1, the share exactly 0; and whether the loss reads logits
    (the default cross-entropy — a one-logit binary classifier's BCE of its logit —, ``nn.CrossEntropyLoss``,
    ``nn.BCEWithLogitsLoss``, knobs' ``FocalLoss``; not ``nn.BCELoss``, which reads probabilities). Empty when
    the model gives something else than one ``(n, C)`` tensor."""
    net = copy.deepcopy(model).eval()
    rows = cast_inputs(X[:OUTPUT_ROWS], input_dtype(net))
    try:
        with torch.no_grad():
            out = net(rows)
    except Exception:  # NOTE: a model that fails here fails the checks and the run, with their messages
        return {}
    out = named_logits(out) if named_logits(out) is not None else out  # a Hugging Face-style output's logits
    if isinstance(out, torch.Tensor) and out.ndim == 1:
        out = out.unsqueeze(1)  # one logit per row, squeezed
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or not bool(torch.isfinite(out).all()):
        return {}
    out = out.double()
    return {"min": float(out.min()), "max": float(out.max()), "classes": int(out.shape[1]), "rows": int(len(out)),
            "row_sum_deviation": float((out.sum(1) - 1).abs().max()), "zero_share": float((out == 0).double().mean()),
            "reads_logits": (loss is None or isinstance(loss, (nn.CrossEntropyLoss, nn.BCEWithLogitsLoss))
                             or getattr(loss, "reads_class_logits", False))}


def output_findings(ev: dict) -> list[Finding]:
    """``outputs_not_logits``: a classifier trained with cross-entropy whose untrained outputs are never
    negative — probabilities (a final Softmax or Sigmoid: an error, the loss has a floor) or a final ReLU
    (a warning: no logit can go below 0)."""
    out = ev.get("outputs") or {}
    # NOTE: constant outputs (a zero-initialized model gives 0 everywhere) say nothing about a last layer
    if ev["task"] not in ("classification", "multilabel") or not out.get("reads_logits") or out["min"] < 0 \
            or out["max"] <= out["min"]:
        return []
    classes = out["classes"]
    binary = classes == 1 or ev["task"] == "multilabel"  # a logit per label, each its own binary cross-entropy
    if binary:  # one logit, a binary classifier's: its sigmoid gives at most e/(1+e) = 0.73 on a 0-row's rest
        floor, said = math.log(2), "a class-0 row's binary cross-entropy cannot fall below ln 2 = 0.693"
    else:
        floor = math.log(1 + (classes - 1) / math.e)
        said = f"the loss cannot fall below ln(1 + {classes - 1}/e) = {floor:.3f}"
    seen = f"all {out['rows'] * classes} outputs of the untrained model on {out['rows']} training rows lie in"
    softmax = classes > 1 and out["max"] <= 1 and out["row_sum_deviation"] < 1e-4
    # NOTE: a sigmoid's outputs are never exactly 0 (below about -100 only), a ReLU's are for every unit it cuts
    if softmax or (out["max"] <= 1 and out["min"] > 0):
        layer = "Softmax" if softmax else "Sigmoid"
        return [finding("outputs_not_logits", "error",
                        f"{seen} [{out['min']:.3g}, {out['max']:.3g}]" +
                        (" and every row sums to 1" if layer == "Softmax" else "") +
                        f": the model ends in a {layer} and gives probabilities, and the loss applies its own "
                        f"{'sigmoid' if binary else 'log-softmax'} to them, so {said} and its gradients are "
                        f"squashed; remove the final {layer} (return the logits; take "
                        f"{'sigmoid' if binary else 'softmax'} only to read probabilities out)",
                        {**out, "layer": layer, "loss_floor": floor})]
    if out["min"] > 0:  # NOTE: all positive but not probabilities: a shifted bias, not a clipping activation
        return []
    return [finding("outputs_not_logits", "warning",
                    f"{seen} [{out['min']:.3g}, {out['max']:.3g}] ({out['zero_share']:.0%} exactly 0): no logit "
                    f"can go below 0, as after a final ReLU, so the model cannot score a class down; remove the "
                    f"activation after the last layer",
                    {**out, "layer": "nonnegative"})]
