"""The multilayer perceptron: ``depth`` hidden blocks of Linear → [BatchNorm] → activation → [Dropout].

Why this block order: batch norm normalizes the pre-activations (as in Ioffe & Szegedy), and
dropout acts on what the next layer sees. ``depth=0`` is multinomial logistic regression, the
baseline any deeper model must beat.

Example:
    >>> import torch
    >>> net = MLP((64,), 10, width=32, depth=2)
    >>> net(torch.zeros(5, 64)).shape
    torch.Size([5, 10])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from knobs.models._activations import check_activation, make_activation
from knobs.models._checks import check_dropout, check_int, check_shape
from knobs.models._init import check_init, init_weights

__all__ = ["MLP"]


class MLP(nn.Module):
    """A fully connected classifier producing logits.

    Args:
        input_shape: shape of one example; it is flattened (so images work too).
        n_classes: number of outputs (1 for regression).
        width: units per hidden layer.
        depth: number of hidden layers (0: a linear model).
        activation: a name in ``knobs.models.ACTIVATIONS``.
        dropout: drop probability after each hidden activation.
        batch_norm: add BatchNorm1d before each activation.
        init: a name in ``knobs.models.INIT_SCHEMES``.
    """

    def __init__(self, input_shape, n_classes: int, width: int = 128, depth: int = 2,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 init: str = "kaiming") -> None:
        super().__init__()
        shape = check_shape(input_shape, None, "a tuple of positive ints such as (64,)")
        self.hparams = {
            "width": check_int("width", width, 1), "depth": check_int("depth", depth, 0),
            "activation": check_activation(activation), "dropout": check_dropout(dropout),
            "batch_norm": bool(batch_norm), "init": init,
        }
        check_init(init)
        n_out = check_int("n_classes", n_classes, 1)
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = math.prod(shape)
        for _ in range(self.hparams["depth"]):
            layers += _hidden_block(fan_in, self.hparams)
            fan_in = self.hparams["width"]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(fan_in, n_out)
        init_weights(self, init, activation=activation, output=self.head, small_output=n_out == 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _hidden_block(fan_in: int, hp: dict) -> list[nn.Module]:
    # NOTE: a bias right before batch norm is cancelled by its mean subtraction; leave it out.
    block: list[nn.Module] = [nn.Linear(fan_in, hp["width"], bias=not hp["batch_norm"])]
    if hp["batch_norm"]:
        block.append(nn.BatchNorm1d(hp["width"]))
    block.append(make_activation(hp["activation"]))
    if hp["dropout"] > 0:
        block.append(nn.Dropout(hp["dropout"]))
    return block
