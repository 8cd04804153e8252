"""``TextAugment``: EDA applied to a training split's texts, offline and reproducible.

Why a training-split operation and not a batch transform: text models take token ids, so EDA
works on the raw training texts and the new sentences are then encoded like the originals.
Whether the vocabulary is fitted before or after augmenting is the caller's choice; ``knobs run``
fits it on the original texts and encodes the new sentences with it (synonyms it has never seen
become ``<unk>``), for the reasons in ``knobs.pipeline.inputs._augment.augmented_texts``. Validation and
test texts are never augmented.

Texts are tokenized as ``knobs.data.tokenize`` does (lowercase words and punctuation), and the
new sentences are those tokens joined by spaces, so the preprocessor reads them back unchanged.

Example:
    >>> aug = TextAugment({"n_aug": 2}, seed=0, thesaurus={"film": ["movie"]})
    >>> X, y = aug.augment_dataset(["a fine film"], [1])
    >>> len(X), y.tolist()
    (3, [1, 1, 1])
"""

from __future__ import annotations

import random
from typing import Any, Collection, Mapping, Sequence

import numpy as np

from knobs.augment._checks import merge_options, pick_params
from knobs.augment._eda import eda
from knobs.augment._stopwords import STOPWORDS
from knobs.augment._text_options import EDAOptions
from knobs.augment._thesaurus import as_thesaurus
from knobs.data import tokenize
from knobs.errors import ConfigError, DataError

__all__ = ["TextAugment"]


class TextAugment:
    """EDA (synonym replacement, random insertion, swap, deletion) for training texts.

    Args:
        config: a dict of ``EDAOptions`` names (e.g. ``{"alpha_sr": 0.1, "n_aug": 8}``) or an
            ``EDAOptions``; None uses the paper's defaults.
        seed: seeds the one random stream every call draws from (the same seed and the same
            calls give the same sentences); None is not reproducible.
        thesaurus: None for WordNet (see ``knobs.augment.find_wordnet``), a dict
            ``{word: [synonyms]}``, or an object with ``synonyms(word) -> list[str]``.
        stopwords: words never replaced; default ``knobs.augment.STOPWORDS``.
        **options: the options as keywords (``TextAugment(alpha_sr=0.1, n_aug=4)``), instead of or beside
            ``config``.

    Attributes set by ``check`` (called by the first text): ``options_``, ``thesaurus_``
    (None when no operation needs synonyms), ``stopwords_``, ``rng_``.
    """

    def __init__(self, config: Mapping[str, Any] | EDAOptions | None = None, *, seed: int | None = 0,
                 thesaurus: Any = None, stopwords: Collection[str] | None = None, **options: Any) -> None:
        self.config = merge_options(config, options, "TextAugment")
        self.seed = seed
        self.thesaurus = thesaurus
        self.stopwords = stopwords

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, prefix: str = "augment.", **kwargs: Any) -> "TextAugment":
        """An augmentation from a trial's hyperparameters: the keys under ``prefix``.

        Example:
            >>> TextAugment.from_params({"augment.n_aug": 4, "lr": 0.1}).config
            {'n_aug': 4}
        """
        return cls(pick_params(params, prefix), **kwargs)

    def check(self) -> "TextAugment":
        """Validate the options; open the thesaurus when synonyms are needed; return ``self``.

        Raises:
            ConfigError: an unknown option, a value out of range, a bad seed or thesaurus.
            DataError: WordNet is needed and not installed (the message says how to install it).
        """
        self.options_ = EDAOptions.from_dict(self.config)
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ConfigError(f"augment: seed must be an integer or None, got {self.seed!r}")
        self.stopwords_ = STOPWORDS if self.stopwords is None else _word_set(self.stopwords)
        self.thesaurus_ = as_thesaurus(self.thesaurus) if self.options_.uses_synonyms else None
        self.rng_ = random.Random(self.seed)
        return self

    def __call__(self, text: str) -> list[str]:
        """``n_aug`` new sentences made from ``text`` (the text itself not among them).

        Raises:
            DataError: ``text`` is not a string or has no words.
        """
        return self._augment(text, "text")

    def augment_dataset(self, texts: Any, labels: Any) -> tuple[Any, np.ndarray]:
        """The training texts followed by their new sentences, with the labels to match.

        Args:
            texts: a list of strings, or an array of shape (n,) or (n, 1) (a text ``Dataset.X``).
            labels: one label per text.

        Returns:
            ``(texts_out, labels_out)``: ``texts_out[:n]`` are the texts as given, then every
            text's ``n_aug`` sentences in text order; an (m, 1) array when the input was 2-D.

        Raises:
            DataError: a text is empty or not a string, or labels do not match the texts.
        """
        column = _text_column(texts)
        labels = np.asarray(labels)
        if labels.ndim == 0 or len(labels) != len(column):
            raise DataError(f"augment: expected one label per text ({len(column)}), got shape {labels.shape}")
        new, new_labels = [], []
        for i, text in enumerate(column):
            made = self._augment(text, f"texts[{i}]")
            new += made
            new_labels += [i] * len(made)
        out = list(column) + new
        y = np.concatenate([labels, labels[np.asarray(new_labels, dtype=np.int64)]])
        if isinstance(texts, np.ndarray) and texts.ndim == 2:
            return np.asarray(out, dtype=object).reshape(-1, 1), y
        return out, y

    def _augment(self, text: Any, where: str) -> list[str]:
        if not hasattr(self, "options_"):
            self.check()
        if not isinstance(text, str):
            raise DataError(f"augment: {where} must be a string, got {type(text).__name__}")
        words = tokenize(text)
        if not words:
            raise DataError(f"augment: {where} is empty (no words for EDA to work on): {text!r}; "
                            f"drop empty texts first")
        opts = self.options_
        made = eda(words, alpha_sr=opts.alpha_sr, alpha_ri=opts.alpha_ri, alpha_rs=opts.alpha_rs,
                   p_rd=opts.p_rd, n_aug=opts.n_aug, rng=self.rng_, thesaurus=self.thesaurus_,
                   stopwords=self.stopwords_)
        return [" ".join(tokens) for tokens in made]


def _word_set(words: Any) -> frozenset[str]:
    if isinstance(words, str) or not isinstance(words, Collection) or not all(isinstance(w, str) for w in words):
        raise ConfigError(f"augment: stopwords must be a collection of words such as {{'the', 'a'}}, got {words!r:.80}")
    return frozenset(w.lower() for w in words)


def _text_column(texts: Any) -> Sequence[Any]:
    if isinstance(texts, np.ndarray):
        if texts.ndim == 2 and texts.shape[1] == 1:
            return texts[:, 0].tolist()
        if texts.ndim == 1:
            return texts.tolist()
        raise DataError(f"augment: texts must have shape (n,) or (n, 1), got {texts.shape}")
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise DataError(f"augment: texts must be a list of strings, got {type(texts).__name__}")
    return texts
