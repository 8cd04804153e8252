"""Transfer learning: start from a pretrained model, and adapt it to a shifted domain.

Two practices:

- **Reusing a pretrained model** (``apply_transfer``): replace its classifier head for the new
  classes, then train the head alone (feature extractor), everything with a lower LR for the body
  (fine-tuning, optionally with LRs decaying layer by layer), or everything but the first n layers.
  Frozen BatchNorm stays in eval mode. The source is a knobs checkpoint, any ``nn.Module``, a
  pretrained backbone (``knobs.models.backbone``), a plain state_dict of one (``family=``), or a
  whole saved module of an allow-listed class (read with ``weights_only=True``, never a raw pickle).
- **Unsupervised domain adaptation** (``DANN``, ``train_dann``): domain-adversarial training with a
  gradient reversal layer, from labelled source data and unlabelled target data.

Example:
    >>> from knobs.models import build_model
    >>> from knobs.train import Trainer
    >>> net = build_model("mlp", input_shape=(64,), n_classes=5, width=32, depth=2)
    >>> model, groups = apply_transfer(net, {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=5)
    >>> [(g["name"], g["lr_mult"]) for g in groups]
    [('head', 1.0), ('body.3', 0.1), ('body.1', 0.1)]
    >>> trainer = Trainer(lr=1e-3, epochs=5, callbacks=[ParamGroups(groups)])
"""

from knobs.transfer._apply import apply_transfer, frozen_layers, resolve_source
from knobs.transfer._callback import ParamGroups
from knobs.transfer._config import MODES, TransferConfig, parse_transfer
from knobs.transfer._dann import DANN, dann_lambda, dann_lr_factor, domain_classifier
from knobs.transfer._freeze import freeze, freeze_layers, is_pinned, keeps_running_stats, unfreeze
from knobs.transfer._groups import build_group_optimizer, layer_lr_mults, lr_groups, optimizer_groups
from knobs.transfer._grl import GradientReversal, GradientReversalFunction, grad_reverse
from knobs.transfer._head import find_head, head_linear, replace_head
from knobs.transfer._layers import LAYER_UNITS, NORM_TYPES, Layer, model_layers
from knobs.transfer._safe_load import ALLOWED_PACKAGES, UnsafeSource, read_source
from knobs.transfer._source import RECORDED_KEYS, SourceModel, load_source, load_weights
from knobs.transfer._train_dann import train_dann

__all__ = [
    "ALLOWED_PACKAGES", "DANN", "GradientReversal", "GradientReversalFunction", "LAYER_UNITS", "Layer", "MODES", "NORM_TYPES",
    "ParamGroups", "RECORDED_KEYS", "SourceModel", "TransferConfig", "apply_transfer", "build_group_optimizer",
    "dann_lambda", "dann_lr_factor", "domain_classifier", "find_head", "freeze", "freeze_layers", "frozen_layers",
    "grad_reverse", "head_linear", "is_pinned", "keeps_running_stats", "layer_lr_mults", "load_source",
    "load_weights", "lr_groups", "model_layers", "optimizer_groups", "parse_transfer", "read_source",
    "replace_head", "resolve_source", "train_dann", "unfreeze", "UnsafeSource",
]
