"""Model families built from a config (MLP, small ConvNet, text models) and weight-initialization schemes.

Example:
    >>> from knobs.models import build_model
    >>> net = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=8, depth=2)
"""

from knobs.models._activations import ACTIVATIONS
from knobs.models._build import FAMILIES, build_model, hyperparameters
from knobs.models._convnet import POOLINGS, ConvNet
from knobs.models._init import INIT_SCHEMES, init_weights
from knobs.models._mlp import MLP
from knobs.models._text import TEXT_FAMILIES, TextBag, TextCNN

__all__ = [
    "ACTIVATIONS", "FAMILIES", "INIT_SCHEMES", "POOLINGS", "TEXT_FAMILIES", "ConvNet", "MLP", "TextBag", "TextCNN",
    "build_model", "hyperparameters", "init_weights",
]
