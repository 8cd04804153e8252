"""A ``Trainer`` inside a study's objective: epochs reported to the trial, its model kept on disk.

Why callbacks and not a study-aware trainer: the study layer never imports torch, and a trainer
that knows studies could not be used without one. A trial is duck-typed here (``number``,
``config``, ``report``, ``set_attr``), so these work with ``study.optimize``, ask/tell and
worker processes alike.

The way back from a study to models is a convention: ``SaveTrialModel`` writes
``directory/trial-N.pt`` when the fit ends and records the path as ``attrs["checkpoint"]``;
``load_trial_models(study.top_trials(k), build)`` rebuilds each model from its config and loads
the weights — the members of an ensemble of the top trials (``knobs.ensemble.TorchMember``).

Example:
    >>> def objective(config, trial):                                   # doctest: +SKIP
    ...     trainer = Trainer(lr=config["lr"], epochs=20, early_stopping=EarlyStopping(),
    ...                       callbacks=[ReportToTrial(trial), SaveTrialModel(trial, "models")])
    ...     return trainer.fit(make_net(config), train, val).best["val_loss"]
    >>> study.optimize(objective, n_trials=20)                          # doctest: +SKIP
    >>> nets = load_trial_models(study.top_trials(5), make_net)         # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from torch import nn

from knobs.errors import ConfigError
from knobs.train._callbacks import Callback
from knobs.train._checkpoint import CheckpointError, load_checkpoint, restore_model, save_checkpoint
from knobs.train._metrics import monitor_hint

__all__ = ["ReportToTrial", "SaveTrialModel", "load_trial_models", "CHECKPOINT_ATTR"]

#: The trial attribute ``SaveTrialModel`` writes and ``load_trial_models`` reads.
CHECKPOINT_ATTR = "checkpoint"


class ReportToTrial(Callback):
    """``trial.report(epoch, record[monitor])`` after every epoch, so the study's pruner can stop
    a hopeless trial (``knobs.Pruned`` propagates out of ``fit``; ``optimize`` records it pruned).

    Args:
        trial: the live trial the objective received.
        monitor: a key of the epoch record: "val_loss", "val_accuracy", "train_loss" or the name
            of one of the trainer's ``metrics``. It should be what the objective returns, so the
            pruner compares like with like.
    """

    def __init__(self, trial: Any, monitor: str = "val_loss") -> None:
        self.trial, self.monitor = trial, monitor

    def on_fit_start(self, trainer: Any) -> None:
        known = ("train_loss", "val_loss", "val_accuracy", *getattr(trainer, "metrics_", {}))
        if self.monitor not in known:
            raise ConfigError(f"ReportToTrial(monitor={self.monitor!r}): the epoch record has no such key"
                              f"{monitor_hint(self.monitor, known)}; expected one of {', '.join(known)}")

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        if self.monitor not in record:
            shown = ", ".join(k for k in record if k not in ("epoch", "lr_steps", "seconds"))
            raise ConfigError(f"ReportToTrial(monitor={self.monitor!r}): the epoch record has no such key; "
                              f"expected one of {shown}")
        value = record[self.monitor]
        if value is None:
            raise ConfigError(f"ReportToTrial(monitor={self.monitor!r}): the value is None (it needs "
                              f"validation data: fit(..., val=...)); monitor 'train_loss' without it")
        self.trial.report(record["epoch"], float(value))


class SaveTrialModel(Callback):
    """When the fit ends, write the model to ``directory/trial-N.pt`` and record the path as the
    trial's ``attrs["checkpoint"]``.

    It saves after early stopping put the best weights back (its ``on_fit_end`` runs before the
    user's callbacks), so the file holds the weights the trial's value was measured on. A pruned
    or failed trial writes nothing. The file is a knobs checkpoint (``load_checkpoint``) whose
    ``extra`` holds the trial's number and config.
    """

    def __init__(self, trial: Any, directory: str | os.PathLike) -> None:
        self.trial, self.directory = trial, Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / f"trial-{self.trial.number}.pt"

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        extra = {"trial": int(self.trial.number), "config": dict(self.trial.config),
                 "best_epoch": getattr(history, "best_epoch", None)}
        path = save_checkpoint(self.path, model=trainer.model_, extra=extra, epoch=trainer.epoch_, rng=False)
        self.trial.set_attr(CHECKPOINT_ATTR, str(path))


def load_trial_models(trials: Sequence[Any], build: Callable[[dict], nn.Module],
                      map_location: Any = "cpu") -> list[nn.Module]:
    """The models of ``trials`` (e.g. ``study.top_trials(k)``), in eval mode, in their order.

    Args:
        trials: trial records whose ``attrs["checkpoint"]`` names a file ``SaveTrialModel`` wrote.
        build: ``build(config) -> nn.Module``: the same architecture the objective trained.
        map_location: where the weights are loaded (``"cpu"``, ``"cuda"``).

    Raises:
        CheckpointError: a trial has no checkpoint attribute, the file is gone or unreadable, or
            it holds weights of another architecture (the keys that differ are named).
    """
    if not callable(build):
        raise ConfigError(f"load_trial_models(build=...) must be callable as build(config) -> nn.Module, got {build!r}")
    models = []
    for trial in trials:
        path = trial.attrs.get(CHECKPOINT_ATTR)
        if not path:
            raise CheckpointError(f"trial {trial.number} has no attrs[{CHECKPOINT_ATTR!r}]; train it with "
                                  f"knobs.train.SaveTrialModel(trial, directory) among the Trainer's callbacks")
        model = build(dict(trial.config))
        if not isinstance(model, nn.Module):
            raise ConfigError(f"load_trial_models: build(config) must return an nn.Module, got {type(model).__name__}")
        state = load_checkpoint(path, map_location=map_location)
        restore_model(model, state, source=f"trial {trial.number}'s checkpoint {path}")
        models.append(model.to(map_location).eval())
    return models
