"""The per-epoch record of a fit, and which epoch was best.

Why the best epoch is stored rather than recomputed: with early stopping it is the epoch whose
weights were restored (decided with ``min_delta``), which a plain argmin could disagree with.

Example:
    >>> h = History([{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.7}], best_epoch=2)
    >>> h.best["val_loss"]
    0.7
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

__all__ = ["History", "best_epoch"]


@dataclass
class History:
    """What ``Trainer.fit`` returns.

    Attributes:
        records: one dict per epoch: ``epoch`` (1-based), ``train_loss``, ``val_loss``,
            ``val_accuracy`` (None for regression or without validation data), ``lr`` (the LR of
            the epoch's first step), ``lr_steps`` (the LR of every step, present only when it
            changed within the epoch: per-step schedules and warmup) and ``seconds``.
        best_epoch: the epoch whose weights the model holds after early stopping, or the best
            epoch by ``monitor`` when training ran without early stopping.
        stopped_early: the loop ended before the planned epochs (``trainer.stop()``).
        monitor: the metric that decided ``best_epoch``.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    monitor: str = "val_loss"

    @property
    def best(self) -> dict[str, Any] | None:
        """The record of ``best_epoch``."""
        for record in self.records:
            if record["epoch"] == self.best_epoch:
                return record
        return None

    def column(self, key: str) -> list[Any]:
        """One metric over epochs, e.g. ``history.column("val_loss")``."""
        return [r.get(key) for r in self.records]

    def __getitem__(self, key: str) -> list[Any]:
        """``history["val_loss"]``: one metric over epochs, as Keras' ``history.history["val_loss"]`` reads.

        Raises:
            KeyError: a key no record holds, naming the ones they do (the closest first)."""
        known = list(dict.fromkeys(k for r in self.records for k in r))
        if key not in known:
            from knobs._validation import did_you_mean
            from knobs.train._metrics import monitor_hint

            # NOTE: Keras' "loss" is the training loss, which knobs records as "train_loss"
            hint = (" (did you mean 'train_loss'?)" if key == "loss" else
                    monitor_hint(key, known) or did_you_mean(key, known))
            raise KeyError(f"{key!r}: no epoch record holds it{hint}; they hold {', '.join(known)}")
        return self.column(key)

    def __len__(self) -> int:
        return len(self.records)

    def to_dict(self) -> dict[str, Any]:
        return {"records": [dict(r) for r in self.records], "best_epoch": self.best_epoch,
                "stopped_early": self.stopped_early, "monitor": self.monitor}


def best_epoch(records: Sequence[dict[str, Any]], monitor: str, mode: str) -> int | None:
    """The epoch with the best finite ``monitor`` value (first one on ties), or None."""
    best, chosen = None, None
    for record in records:
        value = record.get(monitor)
        if value is None or not math.isfinite(value):
            continue
        if best is None or (value < best if mode == "min" else value > best):
            best, chosen = value, record["epoch"]
    return chosen
