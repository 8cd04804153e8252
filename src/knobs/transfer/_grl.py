"""The gradient reversal layer of domain-adversarial training (Ganin & Lempitsky 2015).

Why a layer that lies about its gradient: DANN wants features that help the label classifier and
*hurt* the domain classifier. Putting ``R_λ`` between the feature extractor and the domain
classifier does that with one ordinary backward pass: forward it is the identity, backward it
multiplies the incoming gradient by −λ. The domain classifier still descends its loss; the
features receive −λ times that gradient, so they ascend it (the saddle point of the paper's
objective E = L_y − λ·L_d).

NOTE: because the backward is deliberately not the derivative of the forward, ``gradcheck`` of
``R_λ`` alone must fail; the tests instead check that the reversed gradient is exactly −λ times a
gradcheck-verified one, and gradcheck the backward map itself (linear in the cotangent).

Example:
    >>> x = torch.ones(3, requires_grad=True)
    >>> grad_reverse(x, 0.5).sum().backward()
    >>> x.grad
    tensor([-0.5000, -0.5000, -0.5000])
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["GradientReversalFunction", "grad_reverse", "GradientReversal"]


class GradientReversalFunction(torch.autograd.Function):
    """Identity forward; gradient × (−λ) backward. λ is a number, not a tensor (no gradient)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambda_: float) -> torch.Tensor:
        ctx.lambda_ = float(lambda_)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        # Written with differentiable ops, so double backward (and gradgradcheck) works.
        return grad_output * -ctx.lambda_, None


def grad_reverse(x: torch.Tensor, lambda_: float = 1.0) -> torch.Tensor:
    """``x`` unchanged forward; its gradient multiplied by ``-lambda_`` backward."""
    return GradientReversalFunction.apply(x, lambda_)


class GradientReversal(nn.Module):
    """``grad_reverse`` as a module whose ``lambda_`` a schedule sets during training.

    Args:
        lambda_: the reversal strength λ ≥ 0 (0 cuts the domain gradient from the features).
    """

    def __init__(self, lambda_: float = 1.0) -> None:
        super().__init__()
        self.lambda_ = lambda_

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambda_)

    def extra_repr(self) -> str:
        return f"lambda_={self.lambda_:g}"
