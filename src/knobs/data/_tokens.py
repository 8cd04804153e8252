"""Text → tokens → indices: a lowercase regex tokenizer and a frequency-ranked vocabulary.

Pure functions; ``TextPreprocessor`` wires them. Index 0 is ``<pad>`` (what short texts are filled
with, ignored by the text models) and 1 is ``<unk>`` (every token outside the vocabulary).

Glossary of shapes: ``n`` texts, ``L`` token positions (the padded length).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import numpy as np

__all__ = ["PAD", "UNK", "SPECIALS", "tokenize", "build_vocab", "encode_tokens"]

PAD, UNK = 0, 1
SPECIALS = ("<pad>", "<unk>")

# A word (letters, digits, underscores, with an inner apostrophe such as "n't" or "don't"), or any
# single other visible character (punctuation carries sentiment: "!" and "?").
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words and punctuation marks.

    Example:
        >>> tokenize("It's GREAT, isn't it?!")
        ["it's", 'great', ',', "isn't", 'it', '?', '!']
    """
    return _TOKEN.findall(text.lower())


def build_vocab(texts: Iterable[Sequence[str]], min_freq: int = 2, max_size: int = 20000) -> list[str]:
    """The vocabulary of tokenized ``texts``: specials first, then tokens by falling count.

    Args:
        texts: token lists (the training split only: the vocabulary is a statistic of the data).
        min_freq: the fewest occurrences a token needs; rarer ones map to ``<unk>``, which is how
            ``<unk>`` gets trained at all.
        max_size: the most entries, the two specials included.

    Returns:
        ``vocab`` with ``vocab[i]`` the token of index ``i``; ties in count are broken
        alphabetically, so the same texts always give the same indices.

    Example:
        >>> build_vocab([["a", "b", "a"], ["b", "c"]], min_freq=2)
        ['<pad>', '<unk>', 'a', 'b']
    """
    counts = Counter(token for tokens in texts for token in tokens)
    kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                  key=lambda t: (-counts[t], t))
    return list(SPECIALS) + kept[:max(0, max_size - len(SPECIALS))]


def encode_tokens(texts: Sequence[Sequence[str]], index: dict[str, int], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token lists → ``(ids (n, L) int64 padded with PAD, lengths (n,) int64)``.

    Texts longer than ``length`` keep their first ``length`` tokens (``lengths`` is then
    ``length``).
    """
    ids = np.full((len(texts), length), PAD, dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for i, tokens in enumerate(texts):
        row = [index.get(token, UNK) for token in tokens[:length]]
        ids[i, :len(row)] = row
        lengths[i] = len(row)
    return ids, lengths
