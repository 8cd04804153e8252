"""``Snapshot`` and ``SnapshotKeeper``: weights copied out of one fit, to become ensemble members.

Why keep weights during training: an ensemble of one run's own past weights costs no extra
training (Huang et al. 2017's snapshot ensembles, or checkpoints at several epochs). The keeper
is a ``knobs.train.Callback``; *when* to copy is decided by its subclasses (``CycleSnapshots`` at
the end of each learning-rate cycle, ``EpochSnapshots`` at chosen epochs). Copies live on the CPU
(``directory=None``) or in checkpoint files written atomically by ``knobs.train.save_checkpoint``.

Snapshots belong to one ``fit``: each ``fit`` starts an empty list (they are not part of the
trainer's resume state).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from knobs.ensemble._torch_member import TorchMember
from knobs.errors import ConfigError
from knobs.train import Callback, load_checkpoint, load_model_state, save_checkpoint

__all__ = ["Snapshot", "SnapshotKeeper"]


@dataclass(frozen=True)
class Snapshot:
    """Weights at one moment of a fit.

    Attributes:
        epoch: the epoch (1-based) the weights were taken in.
        step: optimizer steps taken so far.
        lr: the learning rate of the last step before the copy.
        state: the model's ``state_dict`` on the CPU (``None`` when kept on disk).
        path: the checkpoint file (``None`` when kept in memory).
    """

    epoch: int
    step: int
    lr: float
    state: dict[str, torch.Tensor] | None = None
    path: Path | None = None

    def weights(self) -> dict[str, torch.Tensor]:
        """The ``state_dict``, read from ``path`` when kept on disk."""
        return self.state if self.state is not None else load_checkpoint(self.path)["model"]

    def model(self, template: nn.Module) -> nn.Module:
        """A copy of ``template`` (same architecture, same device) holding these weights."""
        model = copy.deepcopy(template)
        load_model_state(model, self.weights(), source=f"snapshot of epoch {self.epoch}")
        return model

    def member(self, template: nn.Module, name: str | None = None) -> TorchMember:
        """This snapshot as an ensemble member."""
        return TorchMember(self.model(template), name=name or f"epoch-{self.epoch}")


class SnapshotKeeper(Callback):
    """Base callback: copies the trainer's weights when a subclass calls ``take``.

    Args:
        keep: keep only the last ``keep`` snapshots (Huang et al. ensemble the last m of M);
            ``None`` keeps all.
        directory: write each snapshot to ``directory/snapshot-e{epoch}-s{step}.pt`` instead of
            keeping it in memory.

    Attributes:
        snapshots_: the ``Snapshot`` list of the last fit, oldest first.
    """

    def __init__(self, keep: int | None = None, directory: str | os.PathLike | None = None) -> None:
        self.keep = keep
        self.directory = directory

    def on_fit_start(self, trainer: Any) -> None:
        if self.keep is not None and (isinstance(self.keep, bool) or not isinstance(self.keep, int) or self.keep < 1):
            raise ConfigError(f"{type(self).__name__} keep must be None or an integer >= 1, got {self.keep!r}")
        self.snapshots_: list[Snapshot] = []

    def take(self, trainer: Any, epoch: int, lr: float) -> Snapshot:
        """Copy ``trainer.model_``'s weights now; drop the oldest beyond ``keep``."""
        step = int(trainer.step_)
        if self.directory is None:
            state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model_.state_dict().items()}
            snapshot = Snapshot(epoch=epoch, step=step, lr=float(lr), state=state)
        else:
            path = Path(self.directory) / f"snapshot-e{epoch}-s{step}.pt"
            save_checkpoint(path, model=trainer.model_, extra={"epoch": epoch, "step": step, "lr": float(lr)},
                            epoch=epoch, rng=False)
            snapshot = Snapshot(epoch=epoch, step=step, lr=float(lr), path=path)
        self.snapshots_.append(snapshot)
        while self.keep is not None and len(self.snapshots_) > self.keep:
            dropped = self.snapshots_.pop(0)
            if dropped.path is not None:
                dropped.path.unlink(missing_ok=True)
        return snapshot

    def models(self, template: nn.Module) -> list[nn.Module]:
        """One copy of ``template`` per snapshot, oldest first."""
        return [s.model(template) for s in self._taken()]

    def members(self, template: nn.Module) -> list[TorchMember]:
        """The snapshots as ensemble members named ``epoch-N``, oldest first."""
        return [s.member(template) for s in self._taken()]

    def _taken(self) -> list[Snapshot]:
        snapshots = getattr(self, "snapshots_", None)
        if not snapshots:
            raise ConfigError(f"{type(self).__name__} holds no snapshots: fit a Trainer with it in callbacks first")
        return snapshots
