"""Findings from the layers of the watched run: dead ReLUs, saturated units, gradient flow.

Pure functions of the evidence dict (its glossary is in ``knobs.diagnose._training``): the probe
records of ``knobs.watch.Watch`` under ``ev["run"]["watch"]``. Every threshold comes from the
literature named at its NOTE.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from knobs.diagnose._finding import Finding, finding

__all__ = ["activation_findings", "gradient_findings", "DEAD", "SATURATED", "VANISHING_RATIO",
           "EXPLODING_RATIO", "GROWTH"]

# NOTE: AUTOTRAINER (Zhang et al., ICSE 2021) and DeepDiagnosis (Wardat et al., ICSE 2022) call a
# ReLU layer dying at 70% silent units (here: units silent on every sample of a batch, the
# stricter reading; healthy layers in the zoo stay under a quarter). Judged on the last probes: a
# unit that died stays dead.
DEAD = 0.7
DEAD_WINDOW = 3
# NOTE: DeepDiagnosis: a tanh/sigmoid layer is saturated when more than half its outputs sit in
# the flat tails (here |tanh| > 0.99, see knobs.watch.SATURATION), judged on the median probe.
SATURATED = 0.5
# NOTE: AUTOTRAINER's gradient-flow ratios: the first layer's gradient norm below 1e-3 of the last
# layer's means the early layers do not learn; above 70 the backward pass amplifies out of control.
VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 70.0
# NOTE: Pascanu et al. (2013) define exploding gradients as a large increase of the gradient norm
# during training; two orders of magnitude above its value at initialization (where healthy runs
# have their largest gradients) cannot be a normal fluctuation.
GROWTH = 100.0


def _probes(ev: dict) -> list[dict]:
    return ev["run"]["watch"]["probes"]


def _weights(ev: dict) -> list[str]:
    """Weight tensors (≥ 2-D) in forward order, input side first."""
    watch = ev["run"]["watch"]
    return [n for n in watch["layer_order"] if len(watch["shapes"].get(n, [])) >= 2]


def _median(values) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else None


def activation_findings(ev: dict) -> list[Finding]:
    """dead_relu (last probes) and saturation (median probe), worst layer first."""
    probes = _probes(ev)
    found = []
    dead = _layer_stat(probes[-DEAD_WINDOW:], "dead_fraction", statistics.mean)
    over = {k: v for k, v in dead.items() if v >= DEAD}
    if over:
        layer = max(over, key=over.get)
        found.append(finding("dead_relu", "warning",
                             f"{over[layer]:.0%} of the units of ReLU layer {layer!r} output 0 for every "
                             f"sample of the batch at the end of training ({len(over)} layer(s) over "
                             f"{DEAD:.0%})", {"layer": layer, "dead_fraction": dead, "threshold": DEAD,
                                             "step": probes[-1]["step"], "epoch": probes[-1]["epoch"]}))
    sat = _layer_stat(probes, "saturated_fraction", statistics.median)
    over = {k: v for k, v in sat.items() if v > SATURATED}
    if over:
        layer = max(over, key=over.get)
        found.append(finding("saturation", "warning",
                             f"{over[layer]:.0%} of the outputs of layer {layer!r} sit in the flat "
                             f"tails of its tanh/sigmoid (median over {len(probes)} probes)",
                             {"layer": layer, "saturated_fraction": sat, "threshold": SATURATED}))
    return found


def _layer_stat(probes: list[dict], key: str, reduce) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for probe in probes:
        for layer, stats in probe["activations"].items():
            if stats.get(key) is not None:
                values.setdefault(layer, []).append(stats[key])
    return {layer: float(reduce(v)) for layer, v in values.items()}


def gradient_findings(ev: dict) -> list[Finding]:
    """vanishing_gradients and exploding_gradients from the per-layer gradient norms."""
    probes, weights = _probes(ev), _weights(ev)
    ratio = _depth_ratio(probes, weights)
    found = []
    if ratio is not None and ratio < VANISHING_RATIO:
        found.append(finding("vanishing_gradients", "warning",
                             f"the first layer's gradient norm is {ratio:.1e} of the last layer's "
                             f"(median over {len(probes)} probes)",
                             {"first": weights[0], "last": weights[-1], "ratio": ratio,
                              "threshold": VANISHING_RATIO, "grad_norms": _norms(probes[0], weights)}))
    explode = _explosion(ev, probes, ratio)
    if explode:
        severity = "error" if ev["run"]["diverged"] or explode.get("nonfinite") else "warning"
        found.append(finding("exploding_gradients", severity, explode.pop("message"),
                             {**explode, "first": weights[0] if weights else None,
                              "last": weights[-1] if weights else None}))
    return found


def _depth_ratio(probes: list[dict], weights: list[str]) -> float | None:
    """Median over probes of ‖g_first‖ / ‖g_last‖ (weights in forward order)."""
    if len(weights) < 2:
        return None
    ratios = []
    for probe in probes:
        first, last = (probe["params"][w]["grad_norm"] for w in (weights[0], weights[-1]))
        if first is not None and last:
            ratios.append(first / last)
    return _median(ratios)


def _norms(probe: dict, weights: list[str]) -> dict[str, float | None]:
    return {w: probe["params"][w]["grad_norm"] for w in weights}


def _explosion(ev: dict, probes: list[dict], ratio: float | None) -> dict[str, Any] | None:
    nonfinite = next((p for p in probes if p["nonfinite"]), None)
    if nonfinite is not None:
        return {"message": f"non-finite gradients at step {nonfinite['step']} (epoch {nonfinite['epoch']}) "
                           f"in {nonfinite['nonfinite'][:5]}", "nonfinite": nonfinite["nonfinite"],
                "step": nonfinite["step"], "epoch": nonfinite["epoch"]}
    norms = [(p["step"], p["grad_norm"]) for p in probes if p["grad_norm"]]
    if len(norms) >= 2:
        step, peak = max(norms[1:], key=lambda sn: sn[1])
        if peak >= GROWTH * norms[0][1]:
            return {"message": f"the gradient norm grew from {norms[0][1]:.3g} at step {norms[0][0]} "
                               f"to {peak:.3g} at step {step} ({peak / norms[0][1]:.0f}x)",
                    "initial_norm": norms[0][1], "peak_norm": peak, "step": step, "growth": peak / norms[0][1],
                    "threshold": GROWTH}
    if ratio is not None and ratio > EXPLODING_RATIO:
        return {"message": f"the first layer's gradient norm is {ratio:.3g}x the last layer's (median "
                           f"over {len(probes)} probes)", "ratio": ratio, "threshold": EXPLODING_RATIO}
    return None
