"""Image data for a pretrained image backbone (``efficientnet_lite0``, ``timm:<name>``): kept as images,
left unstandardized.

Why not knobs' own preparation: the ConvNet gets images standardized per channel with the training
split's statistics, and the MLP gets them flattened. A pretrained network needs neither: it needs the
images (channels, height, width) as its weights were trained on them — resized to its input size and
normalized with *its* mean and std (ImageNet's, or [-1, 1] for Lite0). So the prepared data keeps
the loaded images' shape and their [0, 1] pixels (no standardizer: ``preprocess.json`` records
"none", and ``knobs predict`` decodes files the same way), and the model itself resizes and
normalizes each batch on its device (``pipeline/model/_backbone_model.py``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

from knobs.errors import ConfigError

__all__ = ["BACKBONE_SPACE", "CONVNET_SPACE", "image_backbone", "is_image_backbone", "backbone_input_shape", "search_space",
           "check_backbone_transfer"]

#: What an image backbone's run searches when the config gives no ``[search.space]``: the training keys
#: that matter when fine-tuning (the default space's width and depth are the MLP's, which a backbone
#: does not have). AdamW with decoupled weight decay is the usual fine-tuning optimizer.
BACKBONE_SPACE = {"lr": {"low": 1e-4, "high": 3e-3, "log": True},
                  "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
                  "optimizer": "adamw"}


@functools.lru_cache(maxsize=8)
def image_backbone(family: str) -> Any:
    """The ``knobs.models.Backbone`` of ``family`` when it is a pretrained *image* family, else None.

    Cached: a timm family builds a probe model to read its preprocessing, and a run asks often.

    Raises:
        UnknownBackbone, MissingPackage: see ``knobs.models.backbone``.
    """
    from knobs.models import TIMM_PREFIX, backbone, is_pretrained

    if not is_pretrained(family):
        return None
    if family.startswith(TIMM_PREFIX):
        return backbone(family)
    spec = backbone(family)
    return spec if spec.kind == "image" else None


def is_image_backbone(family: Any) -> bool:
    """Whether ``family`` names a pretrained image backbone (see ``image_backbone``)."""
    from knobs.models import TIMM_PREFIX, is_pretrained

    if not is_pretrained(family):
        return False
    return family.startswith(TIMM_PREFIX) or image_backbone(family) is not None


#: What a ``convnet`` run searches when the config gives no ``[search.space]``: the default space's training keys
#: with the ConvNet's own capacity keys in place of the MLP's width and depth (its blocks halve the image each: the
#: depth's range stops where the smaller side would fall below one pixel).
CONVNET_SPACE = {"lr": {"low": 3e-4, "high": 3e-2, "log": True},
                 "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
                 "channels": {"low": 16, "high": 64, "log": True, "type": "int"},
                 "depth": {"low": 1, "high": 3, "type": "int"},
                 "dropout": {"low": 0.0, "high": 0.4},
                 "optimizer": {"choices": ["adam", "adamw", "nesterov"]}}


def search_space(cfg: Any, image_shape: tuple[int, ...] | None = None) -> dict[str, Any]:
    """``[search.space]`` as given; when the config gives none, ``BACKBONE_SPACE`` for an image backbone's run
    and ``CONVNET_SPACE`` for a ``convnet`` run on images of ``image_shape`` ``(C, H, W)`` (the default space is
    the MLP's: its width is no ConvNet key)."""
    if "space" in cfg.search.model_fields_set or cfg.model.builder is not None:
        return cfg.search.space
    if is_image_backbone(cfg.model.family):
        return dict(BACKBONE_SPACE)
    if cfg.model.family == "convnet" and image_shape is not None:
        deepest = max(1, int(math.log2(max(1, min(image_shape[-2:])))))
        depth = {**CONVNET_SPACE["depth"], "high": min(CONVNET_SPACE["depth"]["high"], deepest)}
        return {**CONVNET_SPACE, "depth": depth if depth["high"] > 1 else 1}
    return cfg.search.space


def backbone_input_shape(dataset: Any, family: str) -> tuple[int, ...] | None:
    """The input shape of the prepared data for an image backbone: the images' own ``(C, H, W)``;
    None when ``family`` is not an image backbone.

    Raises:
        ConfigError: the data are not images (a table or texts), naming the family and the data.
    """
    if not is_image_backbone(family):
        return None
    if dataset.image_shape is None:
        kind = "texts" if dataset.loading.get("kind") == "text" else "a table of features"
        raise ConfigError(f"model.family {family!r} is a pretrained image model: it needs images (a folder of class "
                          f"folders), but {dataset.source} holds {kind}; use model.family = \"mlp\" for a table"
                          + (" or a text family (\"text_bag\", \"text_cnn\", \"minilm\")" if kind == "texts" else ""))
    return tuple(int(s) for s in dataset.image_shape)


def check_backbone_transfer(cfg: Any) -> None:
    """``[transfer]`` on an image backbone: the source, when given, replaces ``model.weights``.

    Without ``transfer.source`` the backbone's own weights (shipped, or ``model.weights``) are the
    source; with it, the file (a plain state_dict of the backbone, a knobs checkpoint of it, or a whole
    saved module of allow-listed classes) gives the starting weights. Whether they fit the backbone is
    checked when the run builds its reference model, before anything is written.

    Raises:
        ConfigError: both ``transfer.source`` and ``model.weights`` given.
    """
    from knobs.transfer import parse_transfer

    source = parse_transfer(cfg.transfer).source
    if source is not None and cfg.model.weights is not None:
        raise ConfigError(f"transfer.source = {source!r} and model.weights = {cfg.model.weights!r}: both give the "
                          f"{cfg.model.family!r} backbone its starting weights; keep one (transfer.source for a whole "
                          f"saved module or a knobs checkpoint, model.weights for a state_dict)")
