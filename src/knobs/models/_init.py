"""Weight initialization schemes by name, with the gain matched to the activation.

Why the gain matters: Glorot/Xavier keeps the variance of activations constant for linear units
and He/Kaiming does the same for ReLU units (half of them are zero, so the variance must double).
Using the gain of the activation the model actually has is what makes a deep net start trainable.
The output layer feeds a softmax, not an activation, so it always gets the linear gain. A single
regression output is scaled down further (``small_output``): its targets are standardized (mean 0,
variance 1), so a head that starts with output variance near 1 adds that much to the initial MSE
(about 2·Var(y) with He init) — "init well": predictions start at the target's mean.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> init_weights(net, "kaiming", activation="relu", output=net[2])
"""

from __future__ import annotations

import torch
from torch import nn

from knobs.errors import ConfigError

__all__ = ["INIT_SCHEMES", "check_init", "init_weights"]

#: Every accepted name → the canonical scheme it means.
INIT_SCHEMES: dict[str, str] = {
    "default": "default",
    "xavier": "xavier_uniform", "glorot": "xavier_uniform",
    "xavier_uniform": "xavier_uniform", "glorot_uniform": "xavier_uniform",
    "xavier_normal": "xavier_normal", "glorot_normal": "xavier_normal",
    "kaiming": "kaiming_normal", "he": "kaiming_normal",
    "kaiming_normal": "kaiming_normal", "he_normal": "kaiming_normal",
    "kaiming_uniform": "kaiming_uniform", "he_uniform": "kaiming_uniform",
    "orthogonal": "orthogonal",
}

# NOTE: GELU and ELU behave like ReLU away from zero, so they take ReLU's gain √2. SELU takes the
# linear gain (LeCun normal): self-normalizing nets need Var(w) = 1/fan_in exactly, and torch's
# own 'selu' gain (3/4) is tuned for a different purpose (its docs say so).
_GAIN_OF: dict[str, tuple[str, float | None]] = {
    "relu": ("relu", None), "leaky_relu": ("leaky_relu", 0.01), "tanh": ("tanh", None),
    "sigmoid": ("sigmoid", None), "gelu": ("relu", None), "elu": ("relu", None),
    "selu": ("linear", None), "linear": ("linear", None),
}

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def check_init(name: object) -> str:
    """The canonical scheme for ``name``; ``ConfigError`` listing the valid names otherwise."""
    if not isinstance(name, str) or name not in INIT_SCHEMES:
        raise ConfigError(f"init: unknown scheme {name!r}; expected one of {', '.join(INIT_SCHEMES)}")
    return INIT_SCHEMES[name]


#: the factor on a regression head's weights: its initial outputs have about 1% of the variance.
SMALL_OUTPUT = 0.1


def init_weights(model: nn.Module, scheme: str, *, activation: str, output: nn.Module | None = None,
                 small_output: bool = False) -> None:
    """Initialize every Linear/Conv weight of ``model`` in place; biases start at zero.

    Args:
        model: the network.
        scheme: any name in ``INIT_SCHEMES`` ("default" keeps PyTorch's own initialization).
        activation: the hidden activation; picks the gain.
        output: the layer producing logits, initialized with the linear gain.
        small_output: scale ``output``'s weights by ``SMALL_OUTPUT`` (a regression head).
    """
    canonical = check_init(scheme)
    if canonical == "default":
        return
    for module in model.modules():
        if isinstance(module, _WEIGHTED):
            act = "linear" if module is output else activation
            _init_layer(module, canonical, *_GAIN_OF[act])
    if small_output and output is not None:
        with torch.no_grad():
            output.weight.mul_(SMALL_OUTPUT)


def _init_layer(layer: nn.Module, scheme: str, nonlinearity: str, param: float | None) -> None:
    weight = layer.weight
    gain = nn.init.calculate_gain(nonlinearity, param)
    if scheme == "xavier_uniform":
        nn.init.xavier_uniform_(weight, gain=gain)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(weight, gain=gain)
    elif scheme == "kaiming_uniform":
        nn.init.kaiming_uniform_(weight, a=param or 0.0, mode="fan_in", nonlinearity=nonlinearity)
    elif scheme == "kaiming_normal":
        nn.init.kaiming_normal_(weight, a=param or 0.0, mode="fan_in", nonlinearity=nonlinearity)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(weight, gain=gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
