"""Pure statistics of one sampled training step: update ratios, gradient norms, unit health.

Glossary of shapes: ``output`` is an activation module's output, ``(batch, units)`` for dense
layers or ``(batch, channels, *spatial)`` for convolutions, where a channel counts as one unit.

Example:
    >>> import torch
    >>> round(update_ratio(torch.ones(4), torch.full((4,), 1.001)), 6)
    0.001
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "DEAD_KINDS", "FLAT", "INPUT_KINDS", "SATURATING_KINDS", "SATURATION", "dead_fraction", "finite_or_none",
    "flat_below", "input_stats", "norm", "norms", "ratio", "saturated_fraction", "signal_std", "tail_below",
    "tail_fraction", "unit_stats", "update_ratio", "update_ratios", "zero_fraction",
]

#: Activations whose units can die (output exactly 0 on every input).
DEAD_KINDS = ("relu", "relu6")
#: Activations with flat regions, where the gradient through a unit vanishes: both tails of a
#: tanh or sigmoid, the negative side of an ELU, SELU, CELU or Softplus, the far negative tail of a
#: GELU or SiLU.
SATURATING_KINDS = ("tanh", "sigmoid", "elu", "selu", "celu", "softplus", "gelu", "silu")
# NOTE: none of these outputs exactly 0 on a whole side, so "dead" (max <= 0) would not mean a unit
# that stopped learning: GELU and SiLU dip below 0 and pass a gradient there. Their gradient fades
# for very negative inputs too — the flat tail where a unit learns as little as a dead ReLU's — but
# their output is not monotonic there (GELU's minimum is near x = -0.75), so the output does not
# tell the input, nor the gradient: they are measured on their input (``tail_below``).
#: Activations whose saturation is read from their input, not their output.
INPUT_KINDS = ("gelu", "silu")
# NOTE: a tanh unit counts as saturated when |tanh(x)| > 0.99 (its derivative 1 - t^2 is then
# below 0.02, 2% of its peak) — the cut Karpathy uses to chart saturated tanh units. A sigmoid is
# the same curve rescaled, sigma(x) = (1 + tanh(x / 2)) / 2, so the same cut is |2 sigma - 1| > 0.99.
SATURATION = 0.99
#: The same cut as a gradient: a unit is saturated where its local gradient is below this share of
#: the activation's largest slope (tanh: 1, sigmoid: 1/4; ELU, SELU, CELU, Softplus: the slope of
#: their linear side, 1 — SELU's λ).
FLAT = 1 - SATURATION ** 2
# NOTE: the ELU family and Softplus are monotonic, so the output tells the gradient, and "gradient
# below FLAT" is "output below a cut" (one comparison, as |tanh| > 0.99 is):
#   ELU(α):      y = α(e^x - 1) for x <= 0, gradient α e^x = y + α            → y < FLAT - α
#   CELU(α):     y = α(e^(x/α) - 1), gradient e^(x/α) = 1 + y / α             → y < α (FLAT - 1)
#   SELU:        y = λ α (e^x - 1), gradient / λ = α e^x = y / λ + α          → y < λ (FLAT - α)
#   Softplus(β): y = log(1 + e^(βx)) / β, gradient σ(βx) = 1 - e^(-βy)        → y < -log(1 - FLAT) / β
# (ELU with α = 1: saturated below -0.98, where x < -3.9.)
# GELU and SiLU, y = x Φ(x) and x σ(x), are not monotonic: their gradient, Φ(x) + x φ(x) and
# σ(x) (1 + x (1 - σ(x))), is 0 at their minimum (x ≈ -0.75, -1.28), negative below it and back to
# 0 from below in the far tail. The saturated part is that tail, where |gradient| stays under FLAT
# (of the slope 1 of their linear side) for every input further out: x < -2.79 (GELU), x < -5.39
# (SiLU) — like a dead ReLU's region, a unit there passes ~no gradient, and nothing near pulls it
# back. The narrow band around the minimum where |gradient| also dips under FLAT (GELU:
# -0.80 < x < -0.71) is not counted: it is a curved bottom a unit passes through (the gradient
# changes sign across it), not a flat region. GELU's tanh approximation has its cut within 0.003 of
# the exact one, so one cut serves both.
_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_TINY = 1e-30


def norm(tensor: torch.Tensor) -> float:
    """The L2 norm of a tensor as a Python float (computed in float32 or wider)."""
    return float(torch.linalg.vector_norm(tensor.detach().float()))


def norms(tensors: list[torch.Tensor], extra: list[torch.Tensor] = ()) -> list[float]:
    """The L2 norm of each tensor, then the values of the 0-d tensors ``extra``, read from the
    device once.

    NOTE: ``torch._foreach_norm`` (what ``torch.nn.utils.clip_grad_norm_`` and the optimizers use)
    takes all tensors in one fused call instead of one kernel launch and one sync per tensor.
    """
    values = list(torch._foreach_norm([t.detach() for t in tensors])) if tensors else []
    values += [e.detach().reshape(()) for e in extra]
    if not values:
        return []
    return torch.stack([v.float() for v in values]).tolist()


def ratio(moved: float, size: float) -> float:
    """``moved / size`` with the zero-size floor of ``update_ratio``."""
    return moved / max(size, _TINY)


def update_ratios(before: list[torch.Tensor], after: list[torch.Tensor]) -> list[float]:
    """``update_ratio`` of each (before, after) pair, computed with fused norms."""
    deltas = torch._foreach_sub([a.detach() for a in after], before)
    values = norms(list(deltas) + list(before))
    return [ratio(m, s) for m, s in zip(values[:len(before)], values[len(before):])]


def update_ratio(before: torch.Tensor, after: torch.Tensor) -> float:
    """``‖after − before‖ / ‖before‖``: how far one optimizer step moved a parameter tensor.

    NOTE: the scale-free health measure of a learning rate (CS231n, "ratio of weights:updates"):
    about 1e-3 is healthy; far below means the LR is too low, far above too high. A zero tensor
    (a bias at init) is measured against a floor of 1e-30 so it reads large, not NaN.
    """
    return ratio(norm(after.detach().float() - before.detach().float()), norm(before))


def _dead(out: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Units whose largest output is <= 0 (one ``amax`` per unit, the comparison on the few units)."""
    top = out.amax(dim=dims) if out.ndim >= 2 else out.amax().reshape(1)
    return (top <= 0).float().mean()


def _zero(out: torch.Tensor) -> torch.Tensor:
    """The share of zeros of an output that is never negative (a ReLU's): ``1 - mean(sign)``."""
    return 1.0 - out.sign().mean()


def flat_below(kind: str, param: float | None = None) -> float:
    """The output below which an ELU, SELU, CELU or Softplus unit's gradient is under ``FLAT`` of its
    slope (see the NOTE above); ``param`` is ELU's and CELU's α or Softplus's β (default 1)."""
    param = 1.0 if param is None else float(param)
    if kind == "elu":
        return FLAT - param
    if kind == "celu":
        return param * (FLAT - 1)
    if kind == "selu":
        return _SELU_SCALE * (FLAT - _SELU_ALPHA)
    if kind == "softplus":
        return -math.log1p(-FLAT) / param
    raise ValueError(f"no flat side for {kind!r}")


def _gelu_slope(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _silu_slope(x: float) -> float:
    sigma = 1 / (1 + math.exp(-x))
    return sigma * (1 + x * (1 - sigma))


def _tail_start(slope, far: float = -40.0, step: float = 0.01) -> float:
    """The input where a GELU/SiLU's far negative tail ends: the first x, walking in from ``far``,
    where |slope| reaches ``FLAT`` (refined by bisection to float precision)."""
    low = far
    while abs(slope(low + step)) < FLAT:
        low += step
    high = low + step
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if abs(slope(mid)) < FLAT else (low, mid)
    return low


_TAILS = {"gelu": _tail_start(_gelu_slope), "silu": _tail_start(_silu_slope)}


def tail_below(kind: str) -> float:
    """The input below which a GELU or SiLU unit sits in its flat negative tail, its gradient under
    ``FLAT`` of its slope (see the NOTE above): -2.79 for GELU, -5.39 for SiLU."""
    if kind not in _TAILS:
        raise ValueError(f"no flat tail for {kind!r}")
    return _TAILS[kind]


def _in_tail(inputs: torch.Tensor, kind: str) -> torch.Tensor:
    return (inputs < tail_below(kind)).sum() / max(inputs.numel(), 1)


def tail_fraction(inputs: torch.Tensor, kind: str) -> float:
    """The fraction of a GELU's or SiLU's *inputs* in its flat negative tail (``tail_below``): its
    saturated share, which its output cannot tell (see the NOTE above)."""
    return float(_in_tail(inputs.detach().float(), kind))


def input_stats(inputs: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """The statistics of an ``INPUT_KINDS`` activation read from its input, as 0-d device tensors:
    ``saturated_fraction`` (``tail_fraction``). Taken before the call, which may overwrite its
    input (``nn.SiLU(inplace=True)``); empty for other kinds."""
    return {"saturated_fraction": _in_tail(inputs.detach().float(), kind)} if kind in INPUT_KINDS else {}


def _saturated(out: torch.Tensor, kind: str, param: float | None = None) -> torch.Tensor:
    if kind in ("tanh", "sigmoid"):
        centred = 2 * out - 1 if kind == "sigmoid" else out
        return (centred.abs() > SATURATION).sum() / max(centred.numel(), 1)
    return (out < flat_below(kind, param)).sum() / max(out.numel(), 1)


def _unit_dims(output: torch.Tensor) -> tuple[int, ...]:
    """Every axis but the unit axis 1 (all axes of an output with fewer than two)."""
    return tuple(range(output.ndim)) if output.ndim < 2 else (0, *range(2, output.ndim))


def _signal_std(output: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    out = output.detach().float()
    mean = out.mean(dim=_unit_dims(out), keepdim=True) if mean is None else mean
    # NOTE: centred first, not E[x²] − E[x]²: a tiny signal on a large bias (5e-6 on 0.1) would be
    # lost to float32 rounding; and not Tensor.var over dims, 4x slower on CPU here.
    return torch.linalg.vector_norm(out - mean) / math.sqrt(max(out.numel(), 1))


def signal_std(output: torch.Tensor) -> float:
    """How much a layer's output varies with the input: each unit's standard deviation across the
    batch (and positions), root-mean-square over units.

    NOTE: across the batch, not over all entries: a constant per unit (its bias) carries nothing of
    the input. Its ratio from layer to layer is the forward gain that Glorot & Bengio (2010) track
    to show a signal fading (or exploding) with depth; a layer near 0 here passes the next one no
    information, and in a network near its linear regime the backward pass shrinks by the same
    gains.
    """
    return float(_signal_std(output))


def dead_fraction(output: torch.Tensor) -> float:
    """The fraction of units that output exactly 0 for every sample (and position) in the batch.

    NOTE: a dead ReLU unit passes no gradient to its weights, so it never comes back; the
    fraction of units silent on a whole batch is what Lu et al. (2019) call "dying".
    """
    out = output.detach().float()
    return float(_dead(out, _unit_dims(out)))


def zero_fraction(output: torch.Tensor) -> float:
    """The fraction of all output entries that are <= 0 (ReLU sparsity; about 0.5 is normal)."""
    return float(_zero(output.detach().float().clamp_min(0)))  # any input: <= 0 counts as 0


def saturated_fraction(output: torch.Tensor, kind: str, param: float | None = None) -> float:
    """The fraction of outputs where the activation is flat: the tails of a tanh or sigmoid (see
    ``SATURATION``), the negative side of an ELU, SELU, CELU or Softplus (gradient under ``FLAT`` of
    its slope; ``param``: ELU's or CELU's α, Softplus's β). GELU and SiLU: ``tail_fraction`` of
    their input."""
    if kind in INPUT_KINDS:
        raise ValueError(f"{kind}'s output does not tell its gradient: tail_fraction(its input)")
    return float(_saturated(output.detach().float(), kind, param))


def unit_stats(output: torch.Tensor, kind: str, param: float | None = None) -> dict[str, torch.Tensor]:
    """The statistics of one activation output as 0-d device tensors (read later, in one sync):
    ``signal_std`` (see ``signal_std``; not finite when an entry is not: then no statistic of the
    output means anything, and a NaN compares false with 0 and would read as a dead unit), then
    ``dead_fraction`` and ``zero_fraction`` for ReLUs or ``saturated_fraction`` for
    ``SATURATING_KINDS`` (``param``: ELU's or CELU's α, Softplus's β) but ``INPUT_KINDS``, whose
    ``saturated_fraction`` comes from their input (``input_stats``).

    NOTE: this runs inside a training forward pass, and a probe's cost is mostly these passes over
    activations (bench/diagnose.py), so each statistic takes the cheapest pass that gives it. On
    a CPU, comparisons that make a boolean tensor and reductions of one cost 5-20x a float
    operation of the same size; so a ReLU unit is dead when its largest output is <= 0 (one
    ``amax`` per unit, the comparison on the few units), the share of zeros of a ReLU (never
    negative) is ``1 - mean(sign(output))``, and the spread tells whether the output is finite (a
    NaN or inf entry makes it NaN or inf; so does a spread that overflows float32, near 1e19,
    whose statistics would be meaningless anyway).
    """
    out = output.detach().float()
    dims = _unit_dims(out)
    stats = {"signal_std": _signal_std(out, out.mean(dim=dims, keepdim=True))}
    if kind in DEAD_KINDS:
        stats.update(dead_fraction=_dead(out, dims), zero_fraction=_zero(out))
    elif kind in SATURATING_KINDS and kind not in INPUT_KINDS:
        stats["saturated_fraction"] = _saturated(out, kind, param)
    return stats


def finite_or_none(value: float) -> float | None:
    """``value`` if finite, else None: probe records stay valid JSON (NaN/inf are not)."""
    return value if math.isfinite(value) else None
