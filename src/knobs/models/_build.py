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

from knobs._validation import did_you_mean
from knobs.errors import ConfigError
from knobs.models._backbone import PRETRAINED_FAMILIES, TIMM_PREFIX, backbone, is_pretrained
from knobs.models._convnet import ConvNet
from knobs.models._mlp import MLP
from knobs.models._text import TextBag, TextCNN

__all__ = ["FAMILIES", "build_model", "build_backbone", "hyperparameters", "family_names"]

FAMILIES: dict[str, type[nn.Module]] = {"mlp": MLP, "convnet": ConvNet, "text_bag": TextBag, "text_cnn": TextCNN}


def family_names() -> list[str]:
    """Every ``model.family`` value: knobs' own families, the pretrained ones, and ``timm:<name>``."""
    return [*FAMILIES, *PRETRAINED_FAMILIES, f"{TIMM_PREFIX}<name>"]


def hyperparameters(family: str) -> dict[str, Any]:
    """The hyperparameters of ``family`` with their defaults."""
    if is_pretrained(family):
        return dict(backbone(family).hyperparameters)
    params = inspect.signature(_family(family)).parameters
    return {n: p.default for n, p in params.items() if n not in ("input_shape", "n_classes")}


def build_model(family: str, *, input_shape, n_classes: int, weights: str | None = None, **hparams: Any) -> nn.Module:
    """A fresh, initialized model of ``family`` producing ``n_classes`` logits.

    Args:
        family: "mlp", "convnet", "text_bag", "text_cnn", or a pretrained family
            ("efficientnet_lite0", "minilm", "timm:<name>": see ``build_backbone``).
        input_shape: shape of one example, e.g. ``(64,)``, ``(1, 8, 8)``, or ``(L,)`` token
            positions for the text families (which also need ``vocab_size``).
        n_classes: number of outputs.
        weights: pretrained families only: a local state_dict file replacing the shipped weights.
        **hparams: the family's hyperparameters (see ``hyperparameters(family)``).

    Raises:
        ConfigError: unknown family, hyperparameter, activation, init scheme or a bad value.
    """
    if is_pretrained(family):
        return build_backbone(family, input_shape=input_shape, n_classes=n_classes, weights=weights, **hparams)
    if weights is not None:
        raise ConfigError(f"model.weights: only the pretrained families ({', '.join(PRETRAINED_FAMILIES)}, "
                          f"{TIMM_PREFIX}<name>) load a weights file; {family!r} starts from its init scheme")
    valid = hyperparameters(family)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ConfigError(
            f"model hyperparameter {', '.join(map(repr, unknown))}{did_you_mean(unknown[0], valid)} is not one of "
            f"the {family} family's: {', '.join(valid)}"
        )
    return FAMILIES[family](input_shape, n_classes, **hparams)


def build_backbone(family: str, *, input_shape=None, n_classes: int, weights: str | None = None,
                   **hparams: Any) -> nn.Module:
    """A pretrained backbone with a fresh head for ``n_classes`` (its preprocessing: ``backbone(family)``).

    Raises:
        UnknownBackbone, MissingPackage: see ``backbone``.
        WrongDataKind: ``input_shape`` is of the other kind of data (token ids for an image model…).
        WeightsError: ``weights`` missing, unreadable, or of another architecture (keys named).
        ConfigError: a hyperparameter the family does not take.
    """
    spec = backbone(family)
    spec.check_input_shape(input_shape)
    unknown = sorted(set(hparams) - set(spec.hyperparameters))
    if unknown:
        raise ConfigError(f"model hyperparameter {', '.join(map(repr, unknown))}"
                          f"{did_you_mean(unknown[0], spec.hyperparameters)} is not one of the {family} family's: "
                          f"{', '.join(spec.hyperparameters) or '(none)'}")
    return spec.build(n_classes, weights, **hparams)


def _family(name: str) -> type[nn.Module]:
    if name not in FAMILIES:
        raise ConfigError(f"model family: unknown {name!r}; expected one of {', '.join(family_names())}")
    return FAMILIES[name]
