"""``EpochSnapshots``: the weights at chosen epochs of one fit, as ensemble members.

Why: checkpoints of one run at different epochs are the cheapest ensemble there is (horizontal
or temporal ensembling); they are also the raw material to check weight averaging against — the
mean of the snapshots' weights is what ``SWA`` computes.

Example:
    >>> snaps = EpochSnapshots(epochs=[20, 30, 40])  # doctest: +SKIP
    >>> Trainer(epochs=40, callbacks=[snaps]).fit(model, train, val)  # doctest: +SKIP
    >>> [s.epoch for s in snaps.snapshots_]  # doctest: +SKIP
    [20, 30, 40]
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from knobs.ensemble._snapshot import SnapshotKeeper
from knobs.errors import ConfigError

__all__ = ["EpochSnapshots"]


class EpochSnapshots(SnapshotKeeper):
    """Copy the weights at the end of the given epochs, or of every ``every``-th epoch.

    Args:
        epochs: 1-based epochs to keep (each in ``[1, trainer.epochs]``); or
        every: keep every ``every``-th epoch (give exactly one of the two).
        keep: keep only the last ``keep`` snapshots; ``None`` keeps all.
        directory: keep snapshots as checkpoint files there instead of in memory.

    Raises (at ``fit``):
        ConfigError: neither or both of ``epochs`` and ``every``, or an epoch outside the fit.
    """

    def __init__(self, epochs: Sequence[int] | None = None, every: int | None = None, keep: int | None = None,
                 directory: str | os.PathLike | None = None) -> None:
        super().__init__(keep=keep, directory=directory)
        self.epochs = epochs
        self.every = every

    def on_fit_start(self, trainer: Any) -> None:
        super().on_fit_start(trainer)
        if (self.epochs is None) == (self.every is None):
            raise ConfigError("EpochSnapshots needs exactly one of epochs=[...] (which epochs) or every=k")
        if self.every is not None and not _is_int(self.every, 1):
            raise ConfigError(f"EpochSnapshots every must be an integer >= 1, got {self.every!r}")
        if self.epochs is not None:
            epochs = list(self.epochs)
            if not epochs or not all(_is_int(e, 1) and e <= trainer.epochs for e in epochs):
                raise ConfigError(f"EpochSnapshots epochs must be integers in [1, {trainer.epochs}] (the Trainer's "
                                  f"epochs), got {self.epochs!r}")
            self._at = set(epochs)

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        epoch = record["epoch"]
        due = epoch % self.every == 0 if self.every is not None else epoch in self._at
        if due:
            self.take(trainer, epoch, record.get("lr_steps", [record["lr"]])[-1])


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
