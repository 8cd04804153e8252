"""A small VGG-style ConvNet: ``depth`` blocks of Conv → [BatchNorm] → activation → [pool], then a head.

Why this shape: same-padded odd kernels keep the arithmetic simple (only pooling shrinks the
image), channels double after each block so the compute per block stays roughly level as the
image halves, and the head is an MLP on the flattened feature map. Small images (8×8 digits)
limit the depth; that is checked up front with a message saying how deep the input allows.

Example:
    >>> import torch
    >>> net = ConvNet((1, 8, 8), 10, channels=8, depth=2)
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
"""

from __future__ import annotations

import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.models._activations import check_activation, make_activation
from knobs.models._checks import check_choice, check_dropout, check_int, check_shape
from knobs.models._init import check_init, init_weights

__all__ = ["ConvNet", "POOLINGS"]

POOLINGS = ("max", "avg", "none")


class ConvNet(nn.Module):
    """A convolutional classifier producing logits.

    Args:
        input_shape: ``(channels, height, width)`` of one image.
        n_classes: number of outputs.
        channels: channels of the first block; each later block doubles them.
        depth: number of conv blocks (≥ 1).
        kernel_size: odd kernel size (same padding).
        pooling: "max", "avg" or "none"; a 2×2 pool after each block.
        dropout: drop probability before each head layer.
        batch_norm: BatchNorm2d after each conv (and BatchNorm1d in the head).
        head_width: hidden units of the head (0: the head is one linear layer).
        activation: a name in ``knobs.models.ACTIVATIONS``.
        init: a name in ``knobs.models.INIT_SCHEMES``.
    """

    def __init__(self, input_shape, n_classes: int, channels: int = 32, depth: int = 2,
                 kernel_size: int = 3, pooling: str = "max", dropout: float = 0.0,
                 batch_norm: bool = False, head_width: int = 128, activation: str = "relu",
                 init: str = "kaiming") -> None:
        super().__init__()
        c_in, height, width = check_shape(input_shape, 3, "(channels, height, width) such as (1, 8, 8)")
        hp = self.hparams = {
            "channels": check_int("channels", channels, 1), "depth": check_int("depth", depth, 1),
            "kernel_size": _check_kernel(kernel_size), "pooling": check_choice("pooling", pooling, POOLINGS),
            "dropout": check_dropout(dropout), "batch_norm": bool(batch_norm),
            "head_width": check_int("head_width", head_width, 0),
            "activation": check_activation(activation), "init": init,
        }
        check_init(init)
        n_out = check_int("n_classes", n_classes, 1)
        _check_depth(min(height, width), hp, input_shape)
        blocks: list[nn.Module] = []
        for i in range(hp["depth"]):
            c_out = hp["channels"] * 2**i
            blocks += _conv_block(c_in, c_out, hp)
            c_in = c_out
        self.features = nn.Sequential(*blocks)
        flat = c_in * _shrink(height, hp) * _shrink(width, hp)
        self.head = _head(flat, n_out, hp)
        init_weights(self, init, activation=activation, output=self.head[-1], small_output=n_out == 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _check_kernel(value) -> int:
    k = check_int("kernel_size", value, 1)
    if k % 2 == 0:
        raise ConfigError(f"kernel_size: expected an odd size (same padding), got {k}")
    return k


def _shrink(size: int, hp: dict) -> int:
    """Spatial size after all blocks: each 2×2 pool halves it (floor)."""
    return size if hp["pooling"] == "none" else size >> hp["depth"]


def _check_depth(side: int, hp: dict, input_shape) -> None:
    """Each pooled block halves the image: it must keep at least one pixel."""
    if _shrink(side, hp) >= 1:
        return
    deepest = side.bit_length() - 1
    raise ConfigError(
        f"depth: {hp['depth']} pooled blocks shrink input_shape {tuple(input_shape)} below one "
        f"pixel; use depth <= {deepest} or pooling = 'none'"
    )


def _conv_block(c_in: int, c_out: int, hp: dict) -> list[nn.Module]:
    k = hp["kernel_size"]
    block: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not hp["batch_norm"])]
    if hp["batch_norm"]:
        block.append(nn.BatchNorm2d(c_out))
    block.append(make_activation(hp["activation"]))
    if hp["pooling"] == "max":
        block.append(nn.MaxPool2d(2))
    elif hp["pooling"] == "avg":
        block.append(nn.AvgPool2d(2))
    return block


def _head(flat: int, n_out: int, hp: dict) -> nn.Sequential:
    """Flatten → [Dropout → Linear → BN → act] → Dropout → Linear (the last layer gives logits)."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = flat
    if hp["head_width"] > 0:
        if hp["dropout"] > 0:
            layers.append(nn.Dropout(hp["dropout"]))
        layers.append(nn.Linear(fan_in, hp["head_width"], bias=not hp["batch_norm"]))
        if hp["batch_norm"]:
            layers.append(nn.BatchNorm1d(hp["head_width"]))
        layers.append(make_activation(hp["activation"]))
        fan_in = hp["head_width"]
    if hp["dropout"] > 0:
        layers.append(nn.Dropout(hp["dropout"]))
    layers.append(nn.Linear(fan_in, n_out))
    return nn.Sequential(*layers)
