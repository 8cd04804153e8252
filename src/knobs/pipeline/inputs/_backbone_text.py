"""A pretrained text family (``model.family = "minilm"``) on a text table: its own tokenizer, not knobs' vocabulary.

Why the data's preprocessor is swapped rather than the texts encoded apart: everything downstream —
the split, ``encode_splits`` fitted on the training split, fold mode, EDA on the raw training texts
([augment], encoded again after), the official test set, ``preprocess.json`` and so ``knobs predict``
and ``knobs evaluate`` — reads a text run through ``Dataset.preprocessor``. Giving the data set the
backbone's tokenizer (``knobs.data.PretrainedTokenizer``) keeps every one of those paths as it is:
the model receives ids of the vocabulary its embeddings were trained on, padded with 0 to the
longest training text (at most ``data.max_length``, itself at most the backbone's own limit).

``data.vocab_size`` and ``data.min_freq`` shape a vocabulary learnt from the data, which a
pretrained encoder does not have: set with such a family they are refused, not silently ignored.
A family that reads text given data of another kind (an image folder, a table of features) is one
message here, before anything is written.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from knobs.data import PretrainedTokenizer
from knobs.data._arrays import GivenData
from knobs.errors import ConfigError
from knobs.models import backbone

__all__ = ["TEXT_BACKBONES", "is_text_backbone", "with_backbone_tokenizer"]

#: The pretrained families that read texts (tests/test_minilm_runs.py holds it equal to the
#: families whose ``knobs.models.backbone(name).kind`` is "text"); spelled here so that asking
#: about a family builds no backbone.
TEXT_BACKBONES = ("minilm",)

#: [data] keys of knobs' own vocabulary, which a pretrained tokenizer replaces
_VOCABULARY_KEYS = ("vocab_size", "min_freq")


def is_text_backbone(family: Any) -> bool:
    """Whether ``model.family`` is a pretrained text encoder (which brings its own tokenizer)."""
    return family in TEXT_BACKBONES


def with_backbone_tokenizer(cfg: Any, given: GivenData) -> GivenData:
    """``given`` with the text backbone's tokenizer as the data set's preprocessor; any other
    family's data as it is.

    Raises:
        ConfigError: the data is not a text table (naming what it is and how to make it text),
            ``data.vocab_size`` / ``data.min_freq`` set, or ``data.max_length`` above the backbone's.
    """
    family = cfg.model.family
    if cfg.model.builder is not None or not is_text_backbone(family):
        return given
    dataset = given.dataset
    if dataset.loading.get("kind") != "text":
        raise ConfigError(f"model.family {family!r} is a pretrained text encoder: it reads a table of texts, but "
                          f"{dataset.source or 'the data'} is {_what(dataset)}; give a CSV/TSV with a text column "
                          f"and set data.text_column (or choose a family for this data: mlp, convnet, "
                          f"efficientnet_lite0)")
    spec = backbone(family)
    data = cfg.data
    for key in _VOCABULARY_KEYS:
        if key in data.model_fields_set:
            raise ConfigError(f"data.{key} = {getattr(data, key)}: model.family {family!r} reads texts with its own "
                              f"pretrained vocabulary (its tokenizer's), which is not learnt from the data; remove "
                              f"data.{key}")
    max_length = data.max_length if "max_length" in data.model_fields_set else spec.max_length
    if max_length > spec.max_length:
        raise ConfigError(f"data.max_length = {max_length}: model.family {family!r} reads at most {spec.max_length} "
                          f"tokens per text (what its tokenizer was set up for); set data.max_length <= "
                          f"{spec.max_length}, or remove it")
    tokenizer = PretrainedTokenizer(spec.tokenizer.to_json(), max_length=max_length, name=family)
    loading = {**dataset.loading, "tokenizer": family}
    return dataclasses.replace(given, dataset=dataclasses.replace(dataset, preprocessor=tokenizer, loading=loading))


def _what(dataset: Any) -> str:
    kind = dataset.loading.get("kind")
    if kind == "images" or dataset.image_shape is not None:
        return f"images of shape {list(dataset.image_shape or ())}"
    if kind in ("builder", "arrays"):
        return f"numbers as given ({kind}), {dataset.n_features} features per row"
    if dataset.feature_names:
        return f"a table of {len(dataset.feature_names)} feature column(s) ({', '.join(dataset.feature_names[:4])}" \
               f"{' …' if len(dataset.feature_names) > 4 else ''})"
    return f"a data set of {dataset.n_features} features per row"
