"""The DANN network: feature extractor G_f, label classifier G_y, domain classifier G_d behind a
gradient reversal layer, and the paper's two schedules (Ganin & Lempitsky 2015, Ganin et al. 2016).

Shapes: ``features(x)`` → ``(n, d)``; ``classifier`` → ``(n, C)`` logits; ``discriminator`` →
``(n, 1)`` logit of "this example comes from the target domain".

Schedules over training progress p ∈ [0, 1] (p = step / total steps):

- reversal strength λ_p = 2 / (1 + exp(−γ·p)) − 1 with γ = 10: starts at 0 so the domain
  classifier's early, noisy signal does not disturb features that are still forming, and tends to 1.
- learning rate μ_p = μ₀ / (1 + α·p)^β with α = 10, β = 0.75.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    >>> dann = DANN.from_model(net)
    >>> dann(torch.zeros(4, 64)).shape, dann.heads(torch.zeros(4, 64))[1].shape
    (torch.Size([4, 10]), torch.Size([4, 1]))
"""

from __future__ import annotations

import math

import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.models import init_weights
from knobs.transfer._grl import GradientReversal
from knobs.transfer._head import find_head, head_linear

__all__ = ["DANN", "dann_lambda", "dann_lr_factor", "domain_classifier"]


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(−γ·p)) − 1: 0 at p = 0, ≈ 1 by the end of training."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def dann_lr_factor(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """μ_p / μ₀ = 1 / (1 + α·p)^β."""
    return (1.0 + alpha * p) ** -beta


def domain_classifier(in_features: int, width: int = 100, depth: int = 1) -> nn.Sequential:
    """An MLP from features to one domain logit (the paper's small-digit setting: one hidden layer of 100)."""
    if not isinstance(in_features, int) or in_features < 1:
        raise ConfigError(f"domain classifier: in_features must be a positive int, got {in_features!r}")
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.ReLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1))
    net = nn.Sequential(*layers)
    init_weights(net, "kaiming", activation="relu", output=layers[-1])
    return net


class DANN(nn.Module):
    """Feature extractor, label classifier and domain classifier joined by a gradient reversal.

    ``forward(x)`` gives class logits only, so a trained DANN evaluates, ensembles and saves like
    any classifier; ``heads(x)`` gives ``(class_logits, domain_logits)`` for training.

    Args:
        features: G_f, inputs → ``(n, d)`` features.
        classifier: G_y, features → class logits.
        discriminator: G_d, features → one domain logit.
    """

    def __init__(self, features: nn.Module, classifier: nn.Module, discriminator: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.grl = GradientReversal(0.0)
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and domain logits from one pass through the feature extractor."""
        h = self.features(x)
        return self.classifier(h), self.discriminator(self.grl(h))

    @classmethod
    def from_model(cls, model: nn.Module, *, head: str | None = None, width: int = 100, depth: int = 1) -> "DANN":
        """Split a classifier at its head: everything before it is G_f, the head's last Linear is G_y.

        ``model`` is changed in place (that Linear becomes ``nn.Identity``) and becomes G_f.

        Raises:
            ConfigError: no head found (see ``find_head``).
        """
        target = head_linear(model, find_head(model, head))
        classifier = model.get_submodule(target)
        parent, _, leaf = target.rpartition(".")
        setattr(model.get_submodule(parent), leaf, nn.Identity())
        return cls(model, classifier, domain_classifier(classifier.in_features, width, depth))
