"""Sentence vectors of a frozen text encoder, kept by the token ids they were computed from.

Why: with the encoder frozen (``[transfer] mode = "feature_extractor"``) only the head learns, yet
every epoch of every trial would run the 6-layer encoder again over the same training and
validation texts — on a CPU nearly all of a trial's time. A frozen encoder maps the same ids to the
same vector, so each text is encoded once and then looked up: the first epoch of the first trial
pays, the rest of the search trains a Linear head on cached vectors.

What makes that safe: the key is the text's ids without their padding, so any padded length finds
the same entry; the cache belongs to one set of encoder weights (the pipeline keeps one per weights
file) and is consulted only while the encoder is frozen — a fine-tuned encoder changes its outputs
every step and never reads it. The vectors are those of the encoder in eval mode (no dropout), which
is what a frozen encoder computes anyway (``SentenceClassifier.embed``). It stops growing at
``max_rows`` texts (then further texts are encoded each time, still correctly): texts made anew each
trial (EDA) would otherwise fill memory, which is why the pipeline attaches it only without them.

Example:
    >>> cache = SentenceCache()
    >>> encode = lambda ids: ids.float().sum(1, keepdim=True)     # any (N, L) -> (N, H) function
    >>> cache.vectors(torch.tensor([[5, 6, 0], [7, 0, 0]]), encode).tolist()
    [[11.0], [7.0]]
    >>> len(cache), cache.misses
    (2, 2)
    >>> cache.vectors(torch.tensor([[7, 0]]), encode).tolist(), cache.misses   # other padding, same text
    ([[7.0]], 2)
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["SentenceCache"]

#: ~300 MB of 384-float vectors
MAX_ROWS = 200_000


class SentenceCache:
    """``vectors(ids, encode)``: each row's vector, from the cache or ``encode`` (then kept), as float32.

    Attributes:
        misses: texts encoded so far (the rest were looked up); for measurements and tests.
    """

    def __init__(self, max_rows: int = MAX_ROWS, pad_id: int = 0) -> None:
        self.max_rows, self.pad_id = max_rows, pad_id
        self._vectors: dict[bytes, torch.Tensor] = {}
        self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def vectors(self, ids: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``(N, H)`` vectors of the ``(N, L)`` ids; ``encode`` runs once on the rows not cached."""
        rows = ids.detach().cpu()
        lengths = (rows != self.pad_id).sum(1).tolist()
        keys = [row[:n].numpy().tobytes() for row, n in zip(rows, lengths)]
        missing = [i for i, key in enumerate(keys) if key not in self._vectors]
        fresh = {}
        if missing:
            computed = encode(ids[missing]).detach().float().cpu()  # one dtype, whatever autocast did
            fresh = dict(zip(missing, computed))
            self.misses += len(missing)
            for i in missing:
                if len(self._vectors) < self.max_rows:
                    self._vectors[keys[i]] = fresh[i]
        out = torch.stack([fresh[i] if i in fresh else self._vectors[key] for i, key in enumerate(keys)])
        return out.to(ids.device)

    def __deepcopy__(self, memo: dict) -> "SentenceCache":
        # NOTE: a copied model (SWA / EMA averages, best-weights snapshots) shares the cache: it is a
        # lookup of the frozen encoder's outputs, not state of the model.
        return self
