"""``timm:<name>``: any timm architecture, with weights from a local file only.

Why ``pretrained=False`` always: timm's own ``pretrained=True`` downloads from the Hugging Face
hub, and nothing may be downloaded at run time. The architecture comes from timm; the weights from
``model.weights`` (a state_dict saved from the same architecture, e.g. one downloaded once and
copied next to the data). Without ``model.weights`` the model starts from timm's random init —
that is a fresh network, not a pretrained one, so it is refused rather than silently trained.

The preprocessing is timm's own: ``timm.data.resolve_data_config`` of the model's pretrained
config (input size, mean, std), and the head is ``get_classifier()``'s module.

NOTE: timm imports torchvision, which must be built for the installed torch; the registry has no
CPU torchvision for torch 2.13.0+cpu (0.28.0 is a CUDA build whose ops fail to load), so on such a
machine this family reports the import error and the install hint.
"""

from __future__ import annotations

import difflib

from torch import nn

from knobs.models._backbone import TIMM_PREFIX, Backbone, BackboneError, UnknownBackbone, import_extra
from knobs.models._checks import check_dropout, check_int
from knobs.models._weights import load_weights_file

__all__ = ["timm_backbone"]

PACKAGES = "timm (with a torchvision built for the installed torch)"
INSTALL = "pip install 'knobs[timm]' (timm pulls torchvision, which must match your torch exactly)"


def timm_backbone(arch: str) -> Backbone:
    """The ``timm:<arch>`` family.

    Raises:
        MissingPackage: timm (or torchvision) cannot be imported.
        UnknownBackbone: timm has no architecture ``arch`` (close names suggested).
    """
    family = TIMM_PREFIX + arch
    timm = import_extra("timm", family, PACKAGES, INSTALL)
    known = timm.list_models()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=3, cutoff=0.6)
        raise UnknownBackbone(f"model.family {family!r}: timm has no model {arch!r}"
                              + (f" (did you mean {', '.join(TIMM_PREFIX + c for c in close)}?)" if close else "")
                              + "; timm.list_models() lists them")
    probe = timm.create_model(arch, pretrained=False, num_classes=1)
    config = timm.data.resolve_data_config({}, model=probe)
    head = _head_name(probe, family)
    return Backbone(name=family, kind="image", build=_builder(arch, head), head=head,
                    hyperparameters={"dropout": 0.0}, input_size=tuple(int(s) for s in config["input_size"]),
                    mean=tuple(float(m) for m in config["mean"]), std=tuple(float(s) for s in config["std"]),
                    package=PACKAGES)


def _builder(arch: str, head: str):
    family = TIMM_PREFIX + arch

    def build(n_classes: int, weights: str | None = None, *, dropout: float = 0.0) -> nn.Module:
        """timm's ``arch`` with ``weights`` (required) and a fresh head of ``n_classes`` outputs."""
        import timm

        if weights is None:
            raise BackboneError(f"model.family {family!r}: timm models get their pretrained weights from a local "
                                f"file; set model.weights = \"<state_dict .pth or .safetensors of {arch}>\"")
        model = timm.create_model(arch, pretrained=False, num_classes=check_int("n_classes", n_classes, 1),
                                  drop_rate=check_dropout(dropout))
        return load_weights_file(model, weights, head=head, family=family)

    return build


def _head_name(model: nn.Module, family: str) -> str:
    """The dotted name of the module ``get_classifier()`` returns (the Linear the new task replaces)."""
    classifier = model.get_classifier()
    for name, module in model.named_modules():
        if module is classifier and name:
            return name
    raise BackboneError(f"model.family {family!r}: its classifier is not a submodule; this architecture cannot be "
                        f"used for transfer")
