"""Findings from the layers of the watched run: dead ReLUs, saturated units, gradient flow, a
signal fading in the forward pass.

Pure functions of the evidence dict (its glossary is in ``knobs.diagnose._training``): the probe
records of ``knobs.watch.Watch`` under ``ev["run"]["watch"]``. Every threshold comes from the
literature named at its NOTE.

Where: every finding names its layers as ``model.named_modules()`` names them — the module holding
the weights (``"net.0"`` for the tensor ``"net.0.weight"``; a dead or saturated activation is
named by the layer that fed it, ``Watch.feeds``) — in ``evidence["layers"]`` (worst first for
units, input side first for gradients) with the measured value of each in
``evidence["per_layer"]`` (``{module: value}``), so a person knows which layer to change.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from knobs.diagnose._finding import Finding, finding
from knobs.watch._stats import tail_below

__all__ = ["activation_findings", "fading_signal", "gradient_findings", "DEAD", "SATURATED", "SIGNAL_RATIO",
           "VANISHING_RATIO", "EXPLODING_RATIO", "GROWTH"]

# NOTE: AUTOTRAINER (Zhang et al., ICSE 2021) and DeepDiagnosis (Wardat et al., ICSE 2022) call a
# ReLU layer dying at 70% silent units (here: units silent on every sample of a batch, the
# stricter reading; healthy layers in the zoo stay under a quarter). Judged on the last probes: a
# unit that died stays dead.
DEAD = 0.7
DEAD_WINDOW = 3
# NOTE: DeepDiagnosis: a tanh/sigmoid layer is saturated when more than half its outputs sit in
# the flat tails (here |tanh| > 0.99, see knobs.watch.SATURATION), judged on the median probe. The
# same cut as a gradient (under 2% of the activation's slope, knobs.watch's FLAT) finds the flat
# negative side of an ELU, SELU, CELU or Softplus and the far negative tail of a GELU or SiLU (where
# a unit passes as little gradient as a dead ReLU), so they are judged alike.
SATURATED = 0.5
# NOTE: AUTOTRAINER's gradient-flow ratios: the first layer's gradient norm below 1e-3 of the last
# layer's means the early layers do not learn; above 70 the backward pass amplifies out of control.
VANISHING_RATIO = 1e-3
EXPLODING_RATIO = 70.0
# NOTE: Glorot & Bengio (2010) follow the signal through the layers at initialization: with
# weights too small for the depth, each layer's output varies less with the input than the one
# before, until the last layers pass on nearly nothing. Near the activations' linear regime the
# backward pass goes through the same (transposed) layers and shrinks by the same gains, so a
# signal under VANISHING_RATIO of the first activation's is the same vanishing as AUTOTRAINER's
# gradient ratio, measured where it starts. The weight gradients can hide it (each is the fading
# error times the growing input of its layer), so it is judged on the signal itself, at the first
# probe (the initialization), before an adaptive optimizer rescales the weights — and at the last
# probe: a net healthy at initialization whose weights shrink in training (a deep tanh net under
# heavy weight decay) ends with the same fade, which the gradient ratio's median over the run,
# healthy for most of it, misses.
SIGNAL_RATIO = VANISHING_RATIO
# NOTE: Pascanu et al. (2013) define exploding gradients as a large increase of the gradient norm
# during training; two orders of magnitude above its value at initialization (where healthy runs
# have their largest gradients) cannot be a normal fluctuation.
GROWTH = 100.0


def _probes(ev: dict) -> list[dict]:
    return ev["run"]["watch"]["probes"]


def _module(param: str) -> str:
    """The module holding a parameter tensor: ``"net.0.weight"`` → ``"net.0"`` (``""``: the model itself)."""
    return param.rpartition(".")[0]


def _quote(names) -> str:
    return ", ".join(repr(n) for n in names)


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
    feeds = ev["run"]["watch"].get("feeds") or {}
    found = []
    dead = _layer_stat(probes[-DEAD_WINDOW:], "dead_fraction", statistics.mean)
    over = {k: v for k, v in dead.items() if v >= DEAD}
    if over:
        where = _where(over, feeds)
        found.append(finding("dead_relu", "warning",
                             f"{over[where['activation']]:.0%} of the units of {where['named']} output 0 for "
                             f"every sample of the batch at the end of training ({_listed(over, where, '{:.0%}')} "
                             f"over {DEAD:.0%})",
                             {"layer": where["activation"], "layers": where["layers"], "per_layer": where["per_layer"],
                              "activations": where["activations"], "dead_fraction": dead, "threshold": DEAD,
                              "step": probes[-1]["step"], "epoch": probes[-1]["epoch"]}))
    sat = _layer_stat(probes, "saturated_fraction", statistics.median)
    over = {k: v for k, v in sat.items() if v > SATURATED}
    if over:
        where = _where(over, feeds)
        found.append(finding("saturation", "warning",
                             f"{over[where['activation']]:.0%} of the outputs of {where['named']} sit "
                             f"{_flat_part(probes, where['activation'])} (median over {len(probes)} probes; "
                             f"{_listed(over, where, '{:.0%}')} over {SATURATED:.0%})",
                             {"layer": where["activation"], "layers": where["layers"], "per_layer": where["per_layer"],
                              "activations": where["activations"], "saturated_fraction": sat,
                              "threshold": SATURATED}))
    return found


def _flat_part(probes: list[dict], activation: str) -> str:
    """Where an activation of its kind is flat: the tails of a tanh/sigmoid, the negative side of an ELU, ..."""
    kind = next((p["activations"][activation].get("kind") for p in reversed(probes)
                 if activation in p["activations"]), None)
    named = {"elu": "ELU", "selu": "SELU", "celu": "CELU", "softplus": "Softplus"}
    if kind in named:
        return f"on the flat negative side of its {named[kind]}, where its gradient is under 2% of its slope"
    tails = {"gelu": "GELU", "silu": "SiLU"}
    if kind in tails:
        return (f"in the flat negative tail of its {tails[kind]} (inputs under {tail_below(kind):.2f}), where its "
                f"gradient is under 2% of its slope")
    return "in the flat tails of its tanh/sigmoid"


def _where(over: dict[str, float], feeds: dict[str, str | None]) -> dict[str, Any]:
    """The activations over a threshold, worst first, each named by the layer that fed it.

    ``activations`` are the probe's keys (a module used twice is ``"act#1"`` the second time);
    ``layers`` the modules that fed them (the activation's own name when nothing with parameters
    ran before it), with their values in ``per_layer``.
    """
    ranked = sorted(over, key=over.get, reverse=True)
    layer_of = {a: feeds.get(a) or a.split("#")[0] for a in ranked}
    per_layer: dict[str, float] = {}
    for a in ranked:
        per_layer.setdefault(layer_of[a], over[a])
    worst = ranked[0]
    fed = feeds.get(worst)
    named = f"layer {fed!r} (activation {worst!r})" if fed else f"activation {worst!r}"
    return {"activation": worst, "activations": ranked, "layers": list(per_layer), "per_layer": per_layer,
            "named": named}


def _listed(over: dict[str, float], where: dict[str, Any], fmt: str, most: int = 5) -> str:
    per_layer = where["per_layer"]
    shown = ", ".join(f"{name!r} {fmt.format(v)}" for name, v in list(per_layer.items())[:most])
    more = f" and {len(per_layer) - most} more" if len(per_layer) > most else ""
    return f"{len(per_layer)} layer(s): {shown}{more}"


def _layer_stat(probes: list[dict], key: str, reduce) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for probe in probes:
        for layer, stats in probe["activations"].items():
            if stats.get(key) is not None:
                values.setdefault(layer, []).append(stats[key])
    return {layer: float(reduce(v)) for layer, v in values.items()}


def gradient_findings(ev: dict) -> list[Finding]:
    """vanishing_gradients (from the per-layer gradient norms, or a signal fading in the forward
    pass at initialization or, healthy there, by the last probe) and exploding_gradients."""
    probes, weights = _probes(ev), _weights(ev)
    ratio = _depth_ratio(probes, weights)
    medians = _median_norms(probes, weights)
    to_last = _ratios_to_last(medians, weights)
    feeds = ev["run"]["watch"].get("feeds") or {}
    fading = fading_signal(probes[0], feeds) if probes else None
    faded = fading_signal(probes[-1], feeds) if len(probes) > 1 else None
    found = []
    if ratio is not None and ratio < VANISHING_RATIO:
        layers = [m for m, r in to_last.items() if r < VANISHING_RATIO] or [_module(weights[0])]
        found.append(finding("vanishing_gradients", "warning",
                             f"the first layer's gradient norm is {ratio:.1e} of the last layer's "
                             f"(median over {len(probes)} probes); under {VANISHING_RATIO:g} of the last layer "
                             f"{_module(weights[-1])!r}: {_quote(layers)}" + _also(fading),
                             {"first": weights[0], "last": weights[-1], "ratio": ratio,
                              "threshold": VANISHING_RATIO, "grad_norms": _norms(probes[0], weights),
                              "layers": layers, "per_layer": {m: to_last[m] for m in layers if m in to_last},
                              "ratio_to_last": to_last, "grad_norm": medians, "signal": fading}))
    elif fading is not None and fading["ratio"] < SIGNAL_RATIO:
        found.append(finding("vanishing_gradients", "warning", _fading_message(fading, probes, weights),
                             {**fading, "probe": "first", "epoch": probes[0]["epoch"], "threshold": SIGNAL_RATIO,
                              "grad_norms": _norms(probes[0], weights),
                              "first_probe_gradient_ratio": _depth_ratio(probes[:1], weights),
                              "recovered_at_step": _recovery(probes, feeds), "signal": fading}))
    elif faded is not None and faded["ratio"] < SIGNAL_RATIO:
        shrink = _weight_shrink(probes, weights)
        found.append(finding("vanishing_gradients", "warning",
                             _faded_message(faded, fading, probes, shrink,
                                            (ev.get("settings") or {}).get("weight_decay")),
                             {**faded, "probe": "last", "epoch": probes[-1]["epoch"], "threshold": SIGNAL_RATIO,
                              "ratio_at_initialization": None if fading is None else fading["ratio"],
                              "grad_norms": _norms(probes[-1], weights),
                              "last_probe_gradient_ratio": _depth_ratio(probes[-1:], weights),
                              "weight_norm_ratio": shrink, "signal": faded}))
    explode = _explosion(ev, probes, ratio, weights, to_last)
    if explode:
        severity = "error" if ev["run"]["diverged"] or explode.get("nonfinite") else "warning"
        found.append(finding("exploding_gradients", severity, explode.pop("message"),
                             {**explode, "first": weights[0] if weights else None,
                              "last": weights[-1] if weights else None, "grad_norm": medians}))
    return found


def fading_signal(probe: dict, feeds: dict[str, str | None]) -> dict[str, Any] | None:
    """How the signal (``signal_std`` of each activation, forward order) falls through the layers
    of one probe: ``ratio`` (last over first), ``signal_std`` and ``gain`` (over the activation
    before) by layer, and ``layers``: those that shrink it, input side first, their gains in
    ``per_layer``. None with fewer than two activations. Dead ReLU layers are left out: a layer
    that outputs 0 has no signal to fade, and ``dead_relu`` names it."""
    chain = [(key, stats["signal_std"]) for key, stats in probe["activations"].items()
             if stats.get("signal_std") is not None and (stats.get("dead_fraction") or 0.0) < DEAD]
    if len(chain) < 2 or not chain[0][1]:
        return None
    named = [(feeds.get(key) or key.split("#")[0], std) for key, std in chain]
    gains = [(name, std / before if before else None) for (name, std), (_, before) in zip(named[1:], named)]
    per_layer = {name: gain for name, gain in gains if gain is not None and gain < 1.0}
    return {"ratio": chain[-1][1] / chain[0][1], "first": named[0][0], "last": named[-1][0],
            "signal_std": dict(named), "gain": dict(gains), "layers": list(per_layer), "per_layer": per_layer,
            "step": probe["step"]}


def _fading_message(fading: dict, probes: list[dict], weights: list[str]) -> str:
    gains = list(fading["per_layer"].values())
    grad = _depth_ratio(probes[:1], weights)
    shown = ", ".join(f"{name!r} {gain:.2g}x" for name, gain in list(fading["per_layer"].items())[:5])
    more = f" and {len(gains) - 5} more" if len(gains) > 5 else ""
    return (f"at initialization the signal fades through the layers: the output of layer {fading['last']!r} varies "
            f"{fading['ratio']:.1e} as much with the input as that of layer {fading['first']!r} (std across the "
            f"batch {fading['signal_std'][fading['last']]:.2g} vs {fading['signal_std'][fading['first']]:.2g}; "
            f"under {SIGNAL_RATIO:g}, Glorot & Bengio 2010); {len(gains)} layer(s) shrink it"
            + (f", by {min(gains):.2g}-{max(gains):.2g}x each" if gains else "") + f": {shown}{more}"
            + (f"; the first layer's gradient is {grad:.1e} of the last layer's" if grad is not None else ""))


def _faded_message(faded: dict, fading: dict | None, probes: list[dict], shrink: dict[str, float],
                   weight_decay: float | None) -> str:
    """A signal healthy at initialization, faded by the last probe: where, how much, and what shrank."""
    last = probes[-1]
    gains = list(faded["per_layer"].values())
    shown = ", ".join(f"{name!r} {gain:.2g}x" for name, gain in list(faded["per_layer"].items())[:5])
    more = f" and {len(gains) - 5} more" if len(gains) > 5 else ""
    ratios = sorted(shrink.values())
    return (f"by the end of training the signal fades through the layers: at the last probe (step {last['step']}, "
            f"epoch {last['epoch']}) the output of layer {faded['last']!r} varies {faded['ratio']:.1e} as much with "
            f"the input as that of layer {faded['first']!r} (std across the batch "
            f"{faded['signal_std'][faded['last']]:.2g} vs {faded['signal_std'][faded['first']]:.2g}; under "
            f"{SIGNAL_RATIO:g}, Glorot & Bengio 2010)"
            + (f", {fading['ratio']:.1e} at initialization" if fading is not None else "")
            + f"; {len(gains)} layer(s) shrink it" + (f", by {min(gains):.2g}-{max(gains):.2g}x each" if gains else "")
            + f": {shown}{more}"
            + (f"; the weight matrices ended at {ratios[0]:.2g}-{ratios[-1]:.2g}x their initial norm" if ratios else "")
            + (f" (weight_decay {weight_decay:g} pulls them to 0)" if weight_decay and ratios and ratios[0] < 1 else ""))


def _weight_shrink(probes: list[dict], weights: list[str]) -> dict[str, float]:
    """Each weight layer's norm at the last probe over its norm at the first, by module name."""
    out = {}
    for w in weights:
        first, last = (p["params"].get(w, {}).get("weight_norm") for p in (probes[0], probes[-1]))
        if first and last is not None and math.isfinite(first) and math.isfinite(last):
            out[_module(w)] = last / first
    return out


def _also(fading: dict | None) -> str:
    if fading is None or fading["ratio"] >= SIGNAL_RATIO:
        return ""
    return (f"; at initialization the signal also fades in the forward pass, layer {fading['last']!r} varying "
            f"{fading['ratio']:.1e} as much with the input as layer {fading['first']!r}")


def _recovery(probes: list[dict], feeds: dict[str, str | None]) -> int | None:
    """The first probed step whose signal no longer fades under ``SIGNAL_RATIO`` (None: never)."""
    for probe in probes[1:]:
        fading = fading_signal(probe, feeds)
        if fading is not None and fading["ratio"] >= SIGNAL_RATIO:
            return probe["step"]
    return None


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


def _median_norms(probes: list[dict], weights: list[str]) -> dict[str, float]:
    """Each weight layer's median gradient norm over the probes, by module name, input side first."""
    out = {}
    for w in weights:
        value = _median(p["params"].get(w, {}).get("grad_norm") for p in probes)
        if value is not None:
            out[_module(w)] = value
    return out


def _ratios_to_last(medians: dict[str, float], weights: list[str]) -> dict[str, float]:
    """Each layer's median gradient norm over the last layer's (AUTOTRAINER's ratio, per layer)."""
    last = medians.get(_module(weights[-1])) if weights else None
    if not last:
        return {}
    return {m: v / last for m, v in medians.items()}


def _norms(probe: dict, weights: list[str]) -> dict[str, float | None]:
    return {w: probe["params"][w]["grad_norm"] for w in weights}


def _explosion(ev: dict, probes: list[dict], ratio: float | None, weights: list[str],
               to_last: dict[str, float]) -> dict[str, Any] | None:
    nonfinite = next((p for p in probes if p["nonfinite"]), None)
    if nonfinite is not None:
        layers = list(dict.fromkeys(_module(n) for n in nonfinite["nonfinite"]))
        return {"message": f"non-finite gradients at step {nonfinite['step']} (epoch {nonfinite['epoch']}) "
                           f"in {nonfinite['nonfinite'][:5]}", "nonfinite": nonfinite["nonfinite"],
                "step": nonfinite["step"], "epoch": nonfinite["epoch"], "layers": layers,
                "per_layer": {m: None for m in layers}}
    norms = [(p["step"], p["grad_norm"]) for p in probes if p["grad_norm"]]
    if len(norms) >= 2:
        step, peak = max(norms[1:], key=lambda sn: sn[1])
        if peak >= GROWTH * norms[0][1]:
            growth = _layer_growth(probes, weights)
            layers = [m for m, g in growth.items() if g >= GROWTH] or sorted(growth, key=growth.get, reverse=True)[:1]
            return {"message": f"the gradient norm grew from {norms[0][1]:.3g} at step {norms[0][0]} "
                               f"to {peak:.3g} at step {step} ({peak / norms[0][1]:.0f}x)"
                               + (f"; most in {_quote(layers)}" if layers else ""),
                    "initial_norm": norms[0][1], "peak_norm": peak, "step": step, "growth": peak / norms[0][1],
                    "threshold": GROWTH, "layers": layers, "per_layer": {m: growth[m] for m in layers},
                    "growth_per_layer": growth}
    if ratio is not None and ratio > EXPLODING_RATIO:
        layers = [m for m, r in to_last.items() if r > EXPLODING_RATIO] or [_module(weights[0])]
        return {"message": f"the first layer's gradient norm is {ratio:.3g}x the last layer's (median "
                           f"over {len(probes)} probes); over {EXPLODING_RATIO:g}x the last layer "
                           f"{_module(weights[-1])!r}: {_quote(layers)}", "ratio": ratio,
                "threshold": EXPLODING_RATIO, "layers": layers,
                "per_layer": {m: to_last[m] for m in layers if m in to_last}, "ratio_to_last": to_last}
    return None


def _layer_growth(probes: list[dict], weights: list[str]) -> dict[str, float]:
    """Each weight layer's peak gradient norm after the first probe over its first (finite, non-zero)."""
    out = {}
    for w in weights:
        values = [p["params"].get(w, {}).get("grad_norm") for p in probes]
        first, later = values[0], [v for v in values[1:] if v is not None and math.isfinite(v)]
        if first and later:
            out[_module(w)] = max(later) / first
    return out
