"""Easy Data Augmentation (Wei & Zou 2019) as pure functions of a token list and a seeded RNG.

The four operations, each changing about ``α·n`` of a sentence's ``n`` words:

- synonym replacement (SR): ``max(1, α_sr·n)`` distinct non-stopwords are each replaced, at every
  occurrence, by a random synonym;
- random insertion (RI): ``max(1, α_ri·n)`` times, a random synonym of a random non-stopword is
  inserted at a random position;
- random swap (RS): ``max(1, α_rs·n)`` times, two random positions swap their words;
- random deletion (RD): each word is dropped with probability ``p_rd`` (one is always kept).

``eda`` makes ``n_aug`` new sentences: the active operations share them evenly (the reference
code gives each ``n_aug // 4 + 1`` and then trims; sharing among the active ones keeps exactly
``n_aug`` when some are off). Every random choice comes from the ``random.Random`` passed in, and
synonym lists are sorted, so a seed fixes the output.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable, Collection, Sequence

__all__ = ["synonym_replacement", "random_insertion", "random_swap", "random_deletion", "eda", "OPERATIONS"]

OPERATIONS = ("sr", "ri", "rs", "rd")
_INSERT_TRIES = 10  # the reference code's bound on looking for a word that has synonyms


def _candidates(words: Sequence[str], stopwords: Collection[str]) -> list[str]:
    """Distinct words that may be replaced: no stopwords, no punctuation, in first-seen order."""
    return list(dict.fromkeys(w for w in words if w not in stopwords and any(c.isalpha() for c in w)))


def synonym_replacement(words: Sequence[str], n: int, rng: random.Random, thesaurus: Any,
                        stopwords: Collection[str]) -> list[str]:
    """Replace up to ``n`` distinct non-stopwords (every occurrence) by a random synonym each."""
    out = list(words)
    candidates = _candidates(words, stopwords)
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        synonyms = thesaurus.synonyms(word)
        if not synonyms:
            continue
        synonym = rng.choice(synonyms)
        out = [synonym if w == word else w for w in out]
        replaced += 1
        if replaced >= n:
            break
    return " ".join(out).split()  # multi-word synonyms ("motion picture") become several tokens


def random_insertion(words: Sequence[str], n: int, rng: random.Random, thesaurus: Any,
                     stopwords: Collection[str]) -> list[str]:
    """Insert ``n`` times a random synonym of a random non-stopword at a random position."""
    out = list(words)
    for _ in range(n):
        candidates = _candidates(out, stopwords)
        for _ in range(_INSERT_TRIES if candidates else 0):
            synonyms = thesaurus.synonyms(rng.choice(candidates))
            if synonyms:
                out.insert(rng.randint(0, len(out)), rng.choice(synonyms))
                break
    return " ".join(out).split()


def random_swap(words: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """Swap the words at two random distinct positions, ``n`` times."""
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: Sequence[str], p: float, rng: random.Random) -> list[str]:
    """Drop each word with probability ``p``; a sentence never becomes empty."""
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() >= p]
    return kept or [rng.choice(list(words))]


def eda(words: Sequence[str], *, alpha_sr: float, alpha_ri: float, alpha_rs: float, p_rd: float,
        n_aug: int, rng: random.Random, thesaurus: Any, stopwords: Collection[str]) -> list[list[str]]:
    """``n_aug`` augmented token lists of ``words`` (the original not among them).

    Operations with strength 0 are off; with all four off, nothing is made.
    """
    n = len(words)
    ops: list[Callable[[], list[str]]] = []
    if alpha_sr > 0:
        ops.append(lambda: synonym_replacement(words, max(1, int(alpha_sr * n)), rng, thesaurus, stopwords))
    if alpha_ri > 0:
        ops.append(lambda: random_insertion(words, max(1, int(alpha_ri * n)), rng, thesaurus, stopwords))
    if alpha_rs > 0:
        ops.append(lambda: random_swap(words, max(1, int(alpha_rs * n)), rng))
    if p_rd > 0:
        ops.append(lambda: random_deletion(words, p_rd, rng))
    if not ops or n_aug == 0:
        return []
    per_op = math.ceil(n_aug / len(ops))
    made = [op() for op in ops for _ in range(per_op)]
    rng.shuffle(made)
    return made[:n_aug]
