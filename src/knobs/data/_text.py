"""Texts → padded token indices, with a vocabulary learned on the training split.

Why fitted on train only: which words are in the vocabulary (and so which ones are ``<unk>``) is a
statistic of the data; a vocabulary built from every row would give validation and test words
embeddings of their own. The padded length is learned the same way: the longest training text,
capped at ``max_length``.

Why ids and not (ids, lengths) as the model input: the text models find a text's length from its
non-``<pad>`` positions, so one index tensor carries both, and every layer of knobs that takes an
``X`` tensor (Trainer, checks, ensembles, the vault) works unchanged. ``encode`` still returns the
lengths for users who want them.
"""

from __future__ import annotations

import numpy as np

from knobs.data._tokens import SPECIALS, build_vocab, encode_tokens, tokenize
from knobs.errors import ConfigError, DataError

__all__ = ["TextPreprocessor", "MAX_VOCAB"]

# NOTE: knobs' Trainer feeds inputs as float32, which holds every integer below 2**24 exactly;
# a larger vocabulary would corrupt token ids on the way to the embedding.
MAX_VOCAB = 2**24


class TextPreprocessor:
    """Tokenize, build a vocabulary on the training texts, and encode texts as padded indices.

    Args:
        vocab_size: the most vocabulary entries, ``<pad>`` and ``<unk>`` included.
        min_freq: the fewest training occurrences a token needs to get its own index.
        max_length: the most tokens kept per text (the rest is cut and counted by ``audit``).

    Attributes:
        vocab_: ``vocab_[i]`` is the token of index ``i`` (0 ``<pad>``, 1 ``<unk>``).
        length_: the padded length: the longest training text, at most ``max_length``.

    Example:
        >>> pre = TextPreprocessor(min_freq=1).fit(np.array([["a fine film"], ["a dull film"]]))
        >>> pre.vocab_
        ['<pad>', '<unk>', 'a', 'film', 'dull', 'fine']
        >>> pre.transform(np.array([["A new film"]])).tolist()
        [[2, 1, 3]]
    """

    kind = "text"

    def __init__(self, vocab_size: int = 20000, min_freq: int = 2, max_length: int = 256) -> None:
        self.vocab_size = vocab_size
        self.min_freq = min_freq
        self.max_length = max_length

    def fit(self, X) -> "TextPreprocessor":
        """Learn the vocabulary and padded length from the training texts; return ``self``."""
        self._validate_params()
        tokens = self._tokens(X, "fit")
        if not tokens:
            raise DataError("TextPreprocessor.fit needs at least one training text")
        self.vocab_ = build_vocab(tokens, self.min_freq, self.vocab_size)
        self.length_ = min(self.max_length, max(len(t) for t in tokens))
        self._index = {token: i for i, token in enumerate(self.vocab_)}
        return self

    def encode(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (n, length_) int64, lengths (n,) int64)`` of the texts in ``X``."""
        return encode_tokens(self._tokens(X, "transform"), self._index, self.length_)

    def transform(self, X) -> np.ndarray:
        """The padded token ids ``(n, length_)`` of the texts in ``X``."""
        return self.encode(X)[0]

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def audit(self, X) -> dict:
        """What encoding does to these texts: the share of ``<unk>`` tokens and the texts cut short."""
        tokens = self._tokens(X, "audit")
        total = sum(len(t) for t in tokens)
        unknown = sum(token not in self._index for t in tokens for token in t)
        return {"rows": len(tokens), "tokens": total,
                "unknown_rate": round(unknown / total, 4) if total else 0.0,
                "truncated": sum(len(t) > self.length_ for t in tokens)}

    def _tokens(self, X, step: str) -> list[list[str]]:
        if step != "fit" and not hasattr(self, "vocab_"):
            raise ConfigError("this TextPreprocessor is not fitted; call fit(texts_train) first")
        texts = np.asarray(X)
        if texts.ndim == 2 and texts.shape[1] == 1:
            texts = texts[:, 0]
        if texts.ndim != 1:
            raise DataError(f"TextPreprocessor.{step} expects one text per row, (n,) or (n, 1); "
                            f"got an array of shape {texts.shape}")
        tokens = [tokenize(str(text)) for text in texts]
        empty = [i for i, t in enumerate(tokens) if not t]
        if empty:
            raise DataError(f"TextPreprocessor.{step}: {len(empty)} empty texts (first in row "
                            f"{empty[0]}); every text needs at least one token")
        return tokens

    def _validate_params(self) -> None:
        for name, value, low in (("vocab_size", self.vocab_size, len(SPECIALS) + 1),
                                 ("min_freq", self.min_freq, 1), ("max_length", self.max_length, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.vocab_size > MAX_VOCAB:
            raise ConfigError(f"vocab_size must be at most {MAX_VOCAB} (token ids travel as float32), "
                              f"got {self.vocab_size}")

    def state_dict(self) -> dict:
        """The settings, the vocabulary and the padded length, as JSON-able values."""
        if not hasattr(self, "vocab_"):
            raise ConfigError("this TextPreprocessor is not fitted; call fit(texts_train) first")
        return {"vocab_size": self.vocab_size, "min_freq": self.min_freq, "max_length": self.max_length,
                "length": self.length_, "vocab": list(self.vocab_)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        try:
            self.vocab_size, self.min_freq = int(state["vocab_size"]), int(state["min_freq"])
            self.max_length, self.length_ = int(state["max_length"]), int(state["length"])
            vocab = [str(token) for token in state["vocab"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"TextPreprocessor state must hold vocab_size, min_freq, max_length, "
                              f"length and vocab ({error!r})") from None
        if tuple(vocab[:len(SPECIALS)]) != SPECIALS:
            raise ConfigError(f"TextPreprocessor state: the vocabulary must start with {SPECIALS}")
        self._validate_params()
        self.vocab_, self._index = vocab, {token: i for i, token in enumerate(vocab)}

    def __repr__(self) -> str:
        fitted = f"{len(self.vocab_)} tokens, length {self.length_}" if hasattr(self, "vocab_") else "not fitted"
        return f"TextPreprocessor(vocab_size={self.vocab_size}, min_freq={self.min_freq}, {fitted})"

