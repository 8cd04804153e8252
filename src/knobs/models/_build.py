"""Build a model family from a config: the name-to-class table lives here, at the edge.

Why check the keys here: a search space entry with a typo (``widht``) would otherwise surface as a
``TypeError`` deep in a trial; instead it stops the run naming the key and the valid ones.

Example:
    >>> net = build_model("mlp", input_shape=(64,), n_classes=10, width=32, depth=1)
    >>> net.hparams["width"]
    32
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from knobs.errors import ConfigError
from knobs.models._convnet import ConvNet
from knobs.models._mlp import MLP
from knobs.models._text import TextBag, TextCNN

__all__ = ["FAMILIES", "build_model", "hyperparameters"]

FAMILIES: dict[str, type[nn.Module]] = {"mlp": MLP, "convnet": ConvNet, "text_bag": TextBag, "text_cnn": TextCNN}


def hyperparameters(family: str) -> dict[str, Any]:
    """The hyperparameters of ``family`` with their defaults."""
    params = inspect.signature(_family(family)).parameters
    return {n: p.default for n, p in params.items() if n not in ("input_shape", "n_classes")}


def build_model(family: str, *, input_shape, n_classes: int, **hparams: Any) -> nn.Module:
    """A fresh, initialized model of ``family`` producing ``n_classes`` logits.

    Args:
        family: "mlp", "convnet", "text_bag" or "text_cnn".
        input_shape: shape of one example, e.g. ``(64,)``, ``(1, 8, 8)``, or ``(L,)`` token
            positions for the text families (which also need ``vocab_size``).
        n_classes: number of outputs.
        **hparams: the family's hyperparameters (see ``hyperparameters(family)``).

    Raises:
        ConfigError: unknown family, hyperparameter, activation, init scheme or a bad value.
    """
    valid = hyperparameters(family)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ConfigError(
            f"model hyperparameter {', '.join(map(repr, unknown))} is not one of the {family} family's: "
            f"{', '.join(valid)}"
        )
    return FAMILIES[family](input_shape, n_classes, **hparams)


def _family(name: str) -> type[nn.Module]:
    if name not in FAMILIES:
        raise ConfigError(f"model family: unknown {name!r}; expected one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
