"""Gradient check: backpropagated gradients against central differences of the loss.

Why: a hand-written ``autograd.Function`` (or a custom layer that detaches or scales wrongly) still
trains, just badly, and nothing downstream says why. Comparing with finite differences in float64
finds it in a fraction of a second.

How: on a float64 deep copy of the model in eval mode (dropout off, batch norm using its running
statistics, so the loss is a deterministic function of the parameters), for up to ``n_coords``
coordinates of every trainable parameter tensor,

    g_num = (L(θ + ε e_i) - L(θ - ε e_i)) / 2ε,   rel_i = |g_num - g_an| / max(|g_num| + |g_an|, tiny)

and a coordinate passes when ``|g_num - g_an| <= max(rtol * (|g_num| + |g_an|), atol)``
(so ``tiny = atol / rtol``).

Regularization on and off (CS231n's advice): check first with ``l2=0`` (the data loss alone), then
with the L2 term the training uses. A strong penalty's gradient, exact by construction, can
dominate and hide a wrong data-loss gradient, so a pass only counts once the data loss passed alone.
Dropout is off throughout (eval mode); augmentation is not part of a model's forward, so it is off
by construction.

NOTE: ``torch.autograd.gradcheck`` answers pass/fail for the full Jacobian and raises on the first
mismatch; knobs needs the worst relative error per parameter tensor as evidence, and samples
coordinates so a wide model is checked in milliseconds, so the differences are taken here.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from knobs.checks._result import CheckResult
from knobs.errors import ConfigError, DataError
from knobs.train._batches import cast_inputs, input_dtype, materialize_lazy, model_output
from knobs.train._losses import classification_loss, multilabel_loss, with_float_targets

__all__ = ["gradient_check", "LOSSES"]

def _main(out: Any) -> torch.Tensor:
    """The model's one tensor of outputs (a Hugging Face model's ``logits`` by name), else ``model_output``'s
    message: a built-in loss reads it, a custom one takes what the model returned, as in the Trainer."""
    return model_output(out, "the gradient checks")


LOSSES: dict[str, Callable[[Any, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": lambda out, y: classification_loss(_main(out), y.long()),  # one logit: its BCE
    "mse": lambda out, y: F.mse_loss(_main(out).reshape(y.shape), y),
    "binary_cross_entropy": lambda out, y: _label_loss(_main(out), y),  # multi-label
}


def _label_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return multilabel_loss(out, y.to(out.dtype).reshape(out.shape))
TINY = 1e-12
ROUNDING = 10.0


def gradient_check(
    model: nn.Module,
    X,
    y,
    *,
    n_samples: int = 4,
    loss: str | Callable = "cross_entropy",
    eps: float = 1e-6,
    atol: float = 1e-8,
    rtol: float = 1e-5,
    n_coords: int = 32,
    seed: int = 0,
    l2: float = 0.0,
) -> CheckResult:
    """Compare analytic and numeric gradients of the loss w.r.t. every trainable parameter.

    Args:
        model: the model (not modified: a float64 deep copy is checked).
        X, y: data; the first ``n_samples`` rows are used.
        n_samples: rows in the loss.
        loss: ``"cross_entropy"``, ``"mse"``, ``"binary_cross_entropy"`` (multi-label: one logit per label against
            0 / 1 targets), or a callable ``(outputs, y) -> scalar``.
        eps: the central-difference step (float64 keeps its error near ``eps**2``).
        atol, rtol: per-coordinate tolerances (see the module doc).
        n_coords: coordinates checked per parameter tensor (all of a smaller tensor).
        seed: picks the coordinates.
        l2: adds ``l2 / 2 · Σ‖W‖²`` over the weights (the ≥ 2-D parameters, as the Trainer's weight
            decay) to the loss: the "regularization on" pass.

    Returns:
        A ``CheckResult`` measuring the worst relative error, the parameter holding it, and the
        worst error of every parameter tensor.
    """
    loss_fn = LOSSES.get(loss) if isinstance(loss, str) else with_float_targets(loss)
    if loss_fn is None:
        raise ConfigError(f"gradient_check loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    if not isinstance(l2, (int, float)) or isinstance(l2, bool) or not l2 >= 0 or l2 == float("inf"):
        raise ConfigError(f"gradient_check l2 must be a finite number >= 0, got {l2!r}")
    X, y = _rows(X, y, n_samples, loss)
    model = copy.deepcopy(model)
    materialize_lazy(model, X)  # a lazy model's shapes first: float64 needs them
    net = model.double().eval()
    X = cast_inputs(X, input_dtype(net))  # float64, or ids into an embedding table as integers
    objective = _objective(net, X, y, loss_fn, float(l2))
    params = {name: p for name, p in net.named_parameters() if p.requires_grad}
    if not params:
        return CheckResult("gradient_check", False, "warning", {}, "trainable parameters",
                           "the model has no trainable parameters to check")
    analytic, value = _analytic(objective, params)
    # NOTE: each loss evaluation carries a float64 rounding error of about eps_64·|L| (eps_64 =
    # 2.2e-16), so a central difference cannot resolve gradients finer than ~eps_64·|L| / eps.
    # A loss in the thousands (unscaled inputs, a huge init) would otherwise fail coordinates with
    # near-zero gradients on rounding alone; the floor (10x that bound) keeps them honest.
    atol = max(atol, ROUNDING * np.finfo(np.float64).eps * abs(value) / eps)
    rng = np.random.default_rng(seed)
    per_param = {name: _compare(objective, p, analytic[name], rng, n_coords, eps, atol, rtol)
                 for name, p in params.items()}
    return _verdict(per_param, rtol, atol, float(l2))


def _objective(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn, l2: float):
    """The scalar being differentiated: the data loss, plus the L2 term when ``l2 > 0``."""
    weights = [p for p in net.parameters() if p.requires_grad and p.ndim >= 2]

    def objective() -> torch.Tensor:
        value = loss_fn(net(X), y)
        if l2:
            value = value + 0.5 * l2 * sum((w * w).sum() for w in weights)
        return value
    return objective


def _rows(X, y, n: int, loss) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.as_tensor(np.asarray(X[:n]) if not isinstance(X, torch.Tensor) else X[:n])
    X = X.double() if X.is_floating_point() else X  # integers: ids for an embedding model (cast_inputs decides)
    y = torch.as_tensor(np.asarray(y[:n]) if not isinstance(y, torch.Tensor) else y[:n])
    if len(X) == 0 or len(X) != len(y):
        raise DataError(f"gradient_check needs rows with one target each; got X {tuple(X.shape)}, "
                        f"y {tuple(y.shape)}")
    if loss == "cross_entropy":
        return X, y.long()
    return X, (y.double() if y.is_floating_point() else y)  # a custom loss keeps integer labels


def _analytic(objective, params: dict[str, nn.Parameter]) -> tuple[dict[str, torch.Tensor], float]:
    """Backpropagated gradients (zeros for parameters the loss does not reach), and the loss."""
    loss = objective()
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {name: torch.zeros_like(p) if g is None else g.detach()
            for (name, p), g in zip(params.items(), grads)}, float(loss.detach())


def _compare(objective, param, grad, rng, n_coords, eps, atol, rtol) -> dict:
    """Central differences at sampled coordinates of one tensor, against its analytic gradient."""
    flat = param.data.view(-1)
    coords = rng.choice(flat.numel(), size=min(n_coords, flat.numel()), replace=False)
    numeric = np.array([_central_difference(objective, flat, int(i), eps) for i in coords])
    analytic = grad.reshape(-1)[torch.as_tensor(coords)].numpy()
    diff = np.abs(numeric - analytic)
    # NOTE: the floor atol / rtol makes "rel <= rtol" the same test as
    # "|diff| <= max(rtol * (|g_num| + |g_an|), atol)": gradients near zero (dead units) are judged
    # by the absolute error instead of amplifying rounding noise.
    rel = diff / np.maximum(np.abs(numeric) + np.abs(analytic), max(atol / rtol, TINY))
    return {"max_rel_error": float(rel.max()), "max_abs_error": float(diff.max()),
            "checked": len(coords), "failed": int((rel > rtol).sum())}


def _central_difference(objective, flat: torch.Tensor, i: int, eps: float) -> float:
    original = flat[i].item()
    with torch.no_grad():
        flat[i] = original + eps
        up = objective().item()
        flat[i] = original - eps
        down = objective().item()
        flat[i] = original
    return (up - down) / (2 * eps)


def _verdict(per_param: dict[str, dict], rtol: float, atol: float, l2: float) -> CheckResult:
    worst_name = max(per_param, key=lambda name: per_param[name]["max_rel_error"])
    worst = per_param[worst_name]
    failed = {name: r["failed"] for name, r in per_param.items() if r["failed"]}
    measured = {"max_rel_error": worst["max_rel_error"], "worst_parameter": worst_name,
                "per_parameter": per_param, "failed_parameters": sorted(failed), "l2": l2, "atol": atol}
    found = (f"worst relative error {worst['max_rel_error']:.2e} in {worst_name!r}"
             + (f" (loss with the L2 term, l2 = {l2:g})" if l2 else ""))
    if not failed:
        message = f"{found}: backpropagation agrees with finite differences"
    else:
        message = (f"{found}; gradients disagree with finite differences in {sorted(failed)}: a "
                   f"custom backward or an in-place/detached operation computes wrong gradients")
    return CheckResult("gradient_check", not failed, "info" if not failed else "error", measured,
                       f"relative error <= {rtol:g} (or absolute <= {atol:g}) at every checked "
                       f"coordinate", message)
