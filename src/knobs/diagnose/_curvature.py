"""Curvature: the largest Hessian eigenvalue by power iteration, against the optimizer's stability edge.

Why: gradient descent on a quadratic of top curvature λ is stable only while ``lr < 2 / λ``; past it
the sharpest direction grows by ``|1 − lr·λ|`` per step and the loss leaves the basin (Cohen et al.,
"Gradient descent on neural networks typically occurs at the edge of stability", ICLR 2021).
Measured before training, the sharpness says a learning rate is too high for this curvature
before the run has to diverge to show it.

How: a few Hessian-vector products by double backward through one forward pass on a fixed batch
(Pearlmutter's trick, the way PyHessian computes it), in power iteration from a seeded random
start.

Stability edges (the sharpness above which the sharpest direction of a quadratic diverges):
SGD ``2 / lr``; heavy-ball momentum β ``(2 + 2β) / lr`` (Cohen et al. 2021, appendix); Nesterov
``(2 + 2β) / (lr (1 + 2β))``. SGD only: an adaptive optimizer's edge holds for the preconditioned
sharpness ``λ_max(P⁻¹H)`` with ``P`` from its second-moment state (Cohen et al., "Adaptive
gradient methods at the edge of stability", 2022), which does not exist before training; for
Adam, RMSprop and the rest no edge is given (None) and the sharpness is only recorded.

Example (a quadratic ½ xᵀ diag(1, 4, 9) x, whose top eigenvalue is 9):
    >>> import torch
    >>> x = torch.nn.Parameter(torch.ones(3))
    >>> loss = lambda: 0.5 * (torch.tensor([1.0, 4.0, 9.0]) * x * x).sum()
    >>> round(top_eigenvalue(loss, [x], tolerance=1e-9, iterations=100)["eigenvalue"], 4)
    9.0
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable, Sequence

import torch

__all__ = ["ITERATIONS", "TOLERANCE", "effective_lr", "is_sgd", "stability_edge", "top_eigenvalue"]

# NOTE: power iteration converges as (λ2/λ1)^k; 20 products reach 1e-3 on the spectra of small
# nets (PyHessian's default is 100 with tol 1e-3, for ResNets), at a few ms per product here.
ITERATIONS, TOLERANCE = 20, 1e-3


def top_eigenvalue(loss: Callable[[], torch.Tensor], params: Sequence[torch.Tensor], *,
                   iterations: int = ITERATIONS, tolerance: float = TOLERANCE, seed: int = 0) -> dict:
    """The eigenvalue of largest magnitude of the Hessian of ``loss()`` w.r.t. ``params``.

    Args:
        loss: computes the scalar loss (called once: its graph is reused for every product, so
            dropout masks and batch-norm statistics stay fixed).
        params: the tensors the Hessian is taken over.
        iterations, tolerance: stop after ``iterations`` products or when the estimate changes
            by less than ``tolerance`` (relative).
        seed: the random start vector.

    Returns:
        ``{"eigenvalue", "iterations", "converged"}``; the eigenvalue is None when a product is not
        finite.
    """
    params = list(params)
    grads = torch.autograd.grad(loss(), params, create_graph=True, allow_unused=True)
    # NOTE: a parameter the loss does not reach, or whose gradient is constant, has a zero row in
    # the Hessian: it is left out of the products (its entries of Hv are zero).
    used = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
    if not used:
        return {"eigenvalue": 0.0, "iterations": 0, "converged": True}
    params, grads = [params[i] for i in used], [grads[i] for i in used]
    generator = torch.Generator().manual_seed(seed)
    v = _normalized([torch.randn(p.shape, generator=generator, dtype=p.dtype).to(p.device) for p in params])
    value, done = math.nan, 0
    for done in range(1, iterations + 1):
        hv = torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True, allow_unused=True)
        hv = [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(params, hv)]
        new = float(sum((a * b).sum() for a, b in zip(v, hv)))
        if not math.isfinite(new):
            return {"eigenvalue": None, "iterations": done, "converged": False}
        converged = abs(new - value) <= tolerance * abs(new)
        value, v = new, _normalized(hv)
        if converged:
            return {"eigenvalue": value, "iterations": done, "converged": True}
    return {"eigenvalue": value, "iterations": done, "converged": False}


def _normalized(vectors: list[torch.Tensor]) -> list[torch.Tensor]:
    total = math.sqrt(sum(float((t * t).sum()) for t in vectors)) or 1.0
    return [t / total for t in vectors]


def _sgd_momentum(optimizer: Any, options: dict | None) -> tuple[float, float, bool] | None:
    """(momentum β, dampening, Nesterov) of an SGD-family optimizer — a knobs name, ``torch.optim.SGD``
    (or a subclass) or a ``functools.partial`` of it, as ``Trainer`` takes them; None for any other.

    NOTE: a user who writes ``Trainer(optimizer=torch.optim.SGD)`` trains plain SGD (torch's default
    momentum is 0); the options given at the call override a partial's, as in ``build_optimizer``.
    """
    options = dict(options or {})
    while isinstance(optimizer, functools.partial):
        options = {**optimizer.keywords, **options}
        optimizer = optimizer.func
    if inspect.isclass(optimizer) and issubclass(optimizer, torch.optim.SGD):
        optimizer = "sgd"
    name = optimizer.lower() if isinstance(optimizer, str) else None
    if name not in ("sgd", "momentum", "nesterov"):
        return None
    beta = float(options.get("momentum", 0.9 if name != "sgd" else 0.0))
    return beta, float(options.get("dampening", 0.0)), bool(options.get("nesterov")) or name == "nesterov"


def is_sgd(optimizer: Any) -> bool:
    """Whether ``optimizer`` (a knobs name, ``torch.optim.SGD`` or a subclass, or a partial of one) is
    SGD — plain, momentum or Nesterov — whose step the curvature and the batch set directly."""
    return _sgd_momentum(optimizer, None) is not None


def stability_edge(optimizer: Any, lr: float, options: dict | None = None) -> dict | None:
    """``{"edge", "rule"}``: the sharpness above which SGD (with or without momentum) at ``lr`` is
    unstable on a quadratic; None for the other optimizers."""
    sgd = _sgd_momentum(optimizer, options)
    if sgd is None:
        return None
    beta, dampening, nesterov = sgd
    lr = lr * (1 - dampening)  # dampening scales every step
    if nesterov:
        return {"edge": (2 + 2 * beta) / (lr * (1 + 2 * beta)),
                "rule": f"(2 + 2β) / (lr (1 + 2β)) with Nesterov momentum β = {beta:g}"}
    return {"edge": (2 + 2 * beta) / lr,
            "rule": "2 / lr" if beta == 0 else f"(2 + 2β) / lr with momentum β = {beta:g}"}


def effective_lr(optimizer: Any, lr: float, options: dict | None = None) -> float | None:
    """The step SGD takes per unit of a steady gradient: ``lr (1 − dampening) / (1 − β)`` with
    momentum β (heavy ball and Nesterov alike); None for the other optimizers, whose step is not
    a multiple of the gradient."""
    sgd = _sgd_momentum(optimizer, options)
    if sgd is None:
        return None
    beta, dampening, _ = sgd
    return lr * (1 - dampening) / (1 - beta)
