"""Texts → padded token ids with a pretrained model's own tokenizer (a Hugging Face ``tokenizers`` JSON).

Why not ``TextPreprocessor``: a pretrained text encoder (``model.family = "minilm"``) learnt one
embedding per id of *its* WordPiece vocabulary; ids from a vocabulary fitted on the run's training
texts would index the wrong rows. So nothing about the vocabulary is fitted here: only the padded
length is learnt from the training split (the longest training text in tokens, at most
``max_length``), as ``TextPreprocessor`` does, so short-text data sets do not pay for 128 positions.

Why the tokenizer's whole JSON lives in the state (``preprocess.json``, ~0.5 MB for MiniLM): a run's
predictions must re-apply exactly the tokenization it was trained with, whatever version of the
model's wheel is installed later, and ``knobs.data`` stays free of ``knobs.models``.

Ids are padded with 0: knobs' text inputs are 0-padded, and the models find each text's real
tokens as its non-zero ids (a tokenizer whose padding id is not 0 is refused).

Example:
    >>> pre = PretrainedTokenizer(tokenizer_json, max_length=128).fit(train_texts)   # doctest: +SKIP
    >>> pre.transform(np.array([["a fine film"]]))                                  # doctest: +SKIP
    array([[ 101, 1037, 2986, 2143,  102,    0, ...]])
"""

from __future__ import annotations

import importlib
import json

import numpy as np

from knobs.errors import ConfigError, DataError

__all__ = ["PretrainedTokenizer", "PAD_ID"]

PAD_ID = 0


class PretrainedTokenizer:
    """Encode texts with a fixed pretrained tokenizer; learn only the padded length on the training split.

    Args:
        tokenizer_json: the tokenizer as ``tokenizers.Tokenizer.to_str()`` writes it (its own padding
            and truncation settings are replaced by this class's).
        max_length: the most tokens kept per text (special tokens included).
        name: whose tokenizer it is (the ``model.family``), for messages and the run's records.

    Attributes:
        length_: the padded length: the longest training text in tokens, at most ``max_length``.
    """

    kind = "pretrained_tokenizer"

    def __init__(self, tokenizer_json: str = "", max_length: int = 128, name: str = "") -> None:
        self.tokenizer_json = tokenizer_json
        self.max_length = max_length
        self.name = name

    def fit(self, X) -> "PretrainedTokenizer":
        """Learn the padded length from the training texts; return ``self``."""
        lengths = [len(e.ids) for e in self._encode(X, "fit", length=None)]
        if not lengths:
            raise DataError(f"{self._who()}.fit needs at least one training text")
        self.length_ = min(self.max_length, max(lengths))
        return self

    def transform(self, X) -> np.ndarray:
        """The token ids ``(n, length_)`` int64, cut at ``length_`` and 0-padded."""
        self._require_fitted()
        encoded = self._encode(X, "transform", length=self.length_)
        return np.asarray([e.ids for e in encoded], dtype=np.int64).reshape(len(encoded), self.length_)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def audit(self, X) -> dict:
        """What encoding does to these texts: the share of unknown-token ids and the texts cut short."""
        self._require_fitted()
        encoded = self._encode(X, "audit", length=None)
        unk = self._tokenizer().token_to_id(self._unk)
        total = sum(len(e.ids) for e in encoded)
        unknown = sum(e.ids.count(unk) for e in encoded) if unk is not None else 0
        return {"rows": len(encoded), "tokens": total, "unknown_rate": round(unknown / total, 4) if total else 0.0,
                "truncated": sum(len(e.ids) > self.length_ for e in encoded)}

    def state_dict(self) -> dict:
        """The settings, the padded length and the tokenizer's JSON."""
        self._require_fitted()
        return {"name": self.name, "max_length": self.max_length, "length": self.length_,
                "tokenizer": self.tokenizer_json}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        try:
            self.name, self.tokenizer_json = str(state["name"]), str(state["tokenizer"])
            self.max_length, self.length_ = int(state["max_length"]), int(state["length"])
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"PretrainedTokenizer state must hold name, max_length, length and tokenizer "
                              f"({error!r})") from None
        self._tokenizer()  # a damaged JSON is named now, not on the first text

    # ---- helpers ---------------------------------------------------------------------------------

    def _encode(self, X, step: str, length: int | None) -> list:
        """``tokenizers`` Encodings of the texts in ``X``: cut and padded to ``length``, or whole."""
        texts = np.asarray(X, dtype=object)
        if texts.ndim == 2 and texts.shape[1] == 1:
            texts = texts[:, 0]
        if texts.ndim != 1:
            raise DataError(f"{self._who()}.{step} expects one text per row, (n,) or (n, 1); got an array of "
                            f"shape {texts.shape}")
        tokenizer = self._tokenizer()
        if length is None:
            tokenizer.no_truncation()
            tokenizer.no_padding()
        else:
            tokenizer.enable_truncation(length)
            tokenizer.enable_padding(length=length, pad_id=PAD_ID, pad_token=self._pad)
        return tokenizer.encode_batch([str(t) for t in texts])

    def _tokenizer(self):
        """The ``tokenizers.Tokenizer`` of the JSON (built once), its padding id checked."""
        if getattr(self, "_cached", None) is None:
            if not self.tokenizer_json:
                raise ConfigError(f"{self._who()}: no tokenizer given (tokenizer_json is empty)")
            try:
                tokenizers = importlib.import_module("tokenizers")
            except ImportError as error:
                raise ConfigError(f"{self._who()} needs the tokenizers package ({error}); install it with: "
                                  f"pip install 'knobs[pretrained]'") from None
            try:
                tokenizer = tokenizers.Tokenizer.from_str(self.tokenizer_json)
                doc = json.loads(self.tokenizer_json)
            except Exception as error:  # noqa: BLE001 — the Rust side raises its own exception types
                raise ConfigError(f"{self._who()}: the tokenizer JSON cannot be read ({error})") from None
            self._pad = (doc.get("padding") or {}).get("pad_token") or "[PAD]"
            self._unk = (doc.get("model") or {}).get("unk_token") or "[UNK]"
            pad = tokenizer.token_to_id(self._pad)
            if pad is not None and pad != PAD_ID:
                raise ConfigError(f"{self._who()}: its padding token {self._pad!r} has id {pad}, but knobs' text "
                                  f"inputs are padded with id {PAD_ID}")
            self._cached = tokenizer
        return self._cached

    def _require_fitted(self) -> None:
        if not hasattr(self, "length_"):
            raise ConfigError(f"this {self._who()} is not fitted; call fit(texts_train) first")

    def _who(self) -> str:
        return f"PretrainedTokenizer({self.name})" if self.name else "PretrainedTokenizer"

    def __getstate__(self) -> dict:
        # NOTE: the Rust tokenizer is rebuilt from its JSON; copies (encode_splits deep-copies the
        # unfitted preprocessor) and pickles carry only the plain attributes.
        return {k: v for k, v in vars(self).items() if k not in ("_cached", "_pad", "_unk")}

    def __repr__(self) -> str:
        fitted = f"length {self.length_}" if hasattr(self, "length_") else "not fitted"
        return f"PretrainedTokenizer({self.name or 'tokenizer'}, max_length={self.max_length}, {fitted})"
