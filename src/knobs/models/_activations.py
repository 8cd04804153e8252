"""Activation functions by name: the one table the model families and init schemes share.

Why a table of classes rather than functionals: each block owns a fresh module, so a model prints
its activations and ``torch.nn.Module.apply`` finds them.
"""

from __future__ import annotations

from torch import nn

from knobs.errors import ConfigError

__all__ = ["ACTIVATIONS", "make_activation", "check_activation"]

#: Name → module class. ``leaky_relu`` keeps torch's slope 0.01 (the init gain uses the same).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "selu": nn.SELU,
    "elu": nn.ELU,
}


def check_activation(name: object) -> str:
    """Return ``name`` if it names an activation, else raise ``ConfigError`` listing the valid ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ConfigError(f"activation: unknown {name!r}; expected one of {', '.join(ACTIVATIONS)}")
    return name


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``."""
    return ACTIVATIONS[check_activation(name)]()
