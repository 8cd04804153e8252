"""Model families built from a config (MLP, small ConvNet, text models), pretrained backbones
(EfficientNet-Lite0, MiniLM, timm architectures with local weights) and weight-initialization schemes.

Example:
    >>> from knobs.models import build_model
    >>> net = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=8, depth=2)
"""

from knobs.models._activations import ACTIVATIONS
from knobs.models._backbone import (PRETRAINED_FAMILIES, TIMM_PREFIX, Backbone, BackboneError, MissingPackage,
                                    UnknownBackbone, WrongDataKind, backbone, is_pretrained)
from knobs.models._build import FAMILIES, build_backbone, build_model, family_names, hyperparameters
from knobs.models._convnet import POOLINGS, ConvNet
from knobs.models._init import INIT_SCHEMES, init_weights
from knobs.models._mlp import MLP
from knobs.models._text import TEXT_FAMILIES, TextBag, TextCNN
from knobs.models._weights import GivenWeights, WeightsError, fit_weights, read_state_dict

__all__ = [
    "ACTIVATIONS", "FAMILIES", "INIT_SCHEMES", "POOLINGS", "PRETRAINED_FAMILIES", "TEXT_FAMILIES", "TIMM_PREFIX",
    "Backbone", "BackboneError", "ConvNet", "GivenWeights", "MLP", "MissingPackage", "TextBag", "TextCNN", "UnknownBackbone",
    "WeightsError", "WrongDataKind", "backbone", "build_backbone", "build_model", "family_names", "fit_weights",
    "hyperparameters", "init_weights", "is_pretrained", "read_state_dict",
]
