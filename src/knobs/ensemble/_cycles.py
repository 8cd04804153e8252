"""Snapshot ensembles (Huang, Li, Pleiss, Liu, Hopcroft & Weinberger, ICLR 2017): M cycles, M members.

One run with a learning rate that restarts M times visits M minima; the weights at the end of
each cycle (where the LR is lowest) are the members, for the cost of one training run. The
schedule is torch's own: ``snapshot_schedule(cycles, epochs)`` is the Trainer spec of
``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` with one cycle per ``epochs / cycles``
(Huang et al.'s shifted cosine, stepped every optimizer step); the Trainer's ``cyclic`` schedule
(``CyclicLR``) works too.

Why cycle ends are found from the LR and not from a period: the callback watches the LR each
step and copies the weights when a falling LR is about to rise (``is_cycle_end``), so it follows
whatever the schedule really does — warmup in front, ``T_mult > 1`` cycles that grow, triangular
cycles — with no second copy of the schedule's arithmetic to drift out of sync.

Example:
    >>> snaps = CycleSnapshots()  # doctest: +SKIP
    >>> Trainer(lr=0.05, epochs=50, schedule=snapshot_schedule(cycles=5, epochs=50),  # doctest: +SKIP
    ...         callbacks=[snaps]).fit(model, train, val)
    >>> probs = member_probs(snaps.members(model), X_test)  # 5 members  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from knobs.ensemble._snapshot import SnapshotKeeper
from knobs.errors import ConfigError
from knobs.train import check_schedule

__all__ = ["CycleSnapshots", "snapshot_schedule", "is_cycle_end"]


def snapshot_schedule(cycles: int, epochs: int, eta_min: float = 0.0) -> dict[str, Any]:
    """The Trainer ``schedule`` for ``cycles`` cosine cycles over ``epochs``: warm restarts every ``epochs / cycles``.

    Example:
        >>> snapshot_schedule(cycles=5, epochs=50)
        {'name': 'cosine', 'T_0': 10, 'T_mult': 1, 'eta_min': 0.0}
    """
    for name, value in (("cycles", cycles), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"snapshot_schedule {name} must be an integer >= 1, got {value!r}")
    if epochs % cycles:
        raise ConfigError(f"snapshot_schedule epochs ({epochs}) must be a multiple of cycles ({cycles}), so that "
                          "every cycle ends on an epoch boundary")
    return {"name": "cosine", "T_0": epochs // cycles, "T_mult": 1, "eta_min": eta_min}


def is_cycle_end(prev_lr: float | None, lr: float, next_lr: float) -> bool:
    """Whether the step taken at ``lr`` ended a cycle: the LR was falling and rises next."""
    return prev_lr is not None and lr < prev_lr and next_lr > lr


class CycleSnapshots(SnapshotKeeper):
    """Copy the weights at the end of every learning-rate cycle of a fit.

    A cycle ends at the step after which the LR rises while it was falling before; the last
    epoch's final weights count as the end of a cycle when the LR was still falling then (a
    triangular cycle's last step), so M cycles give M snapshots either way.

    Args:
        keep: keep only the last ``keep`` snapshots; ``None`` keeps all.
        directory: keep snapshots as checkpoint files there instead of in memory.

    Raises (at ``fit``):
        ConfigError: the Trainer has no restarting schedule (``cosine`` with ``T_0``, or ``cyclic``).
    """

    def on_fit_start(self, trainer: Any) -> None:
        super().on_fit_start(trainer)
        spec = check_schedule(trainer.schedule)
        restarts = spec is not None and (spec["name"] == "cyclic" or (spec["name"] == "cosine" and spec["T_0"]))
        if not restarts:
            raise ConfigError(f"CycleSnapshots needs a schedule that restarts the learning rate, got schedule="
                              f"{trainer.schedule!r}; use schedule=snapshot_schedule(cycles, epochs) (cosine with "
                              "warm restarts) or {'name': 'cyclic'}")
        self._prev_lr: float | None = None
        self._falling = False
        self._last_step = -1

    def on_step_end(self, trainer: Any, step_record: dict) -> None:
        lr = step_record["lr"]
        next_lr = trainer.optimizer_.param_groups[0]["lr"]
        if is_cycle_end(self._prev_lr, lr, next_lr):
            self.take(trainer, step_record["epoch"], lr)
            self._last_step = trainer.step_
        self._falling = self._prev_lr is not None and lr < self._prev_lr
        self._prev_lr = lr

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        # NOTE: runs before EarlyStopping's on_fit_end restores its best weights, so the last
        # snapshot is the weights the run ended with.
        if trainer.stopping and self._falling and self._last_step != trainer.step_:
            self.take(trainer, record["epoch"], self._prev_lr)
            self._last_step = trainer.step_
