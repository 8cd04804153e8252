"""One trial of the practice cycle: a configuration → a model trained with early stopping.

Why a class: the objective holds what every trial shares — the prepared data, the run directory
it writes the trial's checkpoint to (so a killed run resumes with its models) and the event log
it writes every epoch to. ``checkpoints/best.pt`` is not written here but by whoever tells the
study (``pipeline.rundir._best.publish_best``), so concurrent workers cannot leave a worse one.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from knobs.pipeline.rundir._members import save_trial_checkpoint, trial_checkpoint
from knobs.pipeline.inputs._practices import trial_practices
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.inputs._prepared import PreparedData
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.train import Callback, Diverged, EarlyStopping, ReportToTrial, Trainer
from knobs.trial import Trial

__all__ = ["TrialObjective", "StopAfter", "make_trainer", "curve", "trial_seed"]


_OPTIMIZER_OPTION_KEYS = ("momentum", "eps", "rho", "alpha")


#: search metrics the epoch record holds only when the Trainer computes them: the record key → the
#: ``Trainer(metrics=...)`` that does
RECORDED = {"val_balanced_accuracy": {"val_balanced_accuracy": "balanced_accuracy"},
            "val_macro_f1": {"val_macro_f1": "macro_f1"}, "val_roc_auc": {"val_roc_auc": "roc_auc"}}


def make_trainer(train_cfg: Any, params: dict[str, Any], metric: str, seed: int, callbacks=(),
                 task: str = "classification", loss: Any = None, batch_transform: Any = None,
                 stop_early: bool = True) -> Trainer:
    """A Trainer from the [train] section with the trial's parameters laid over it.

    ``stop_early=False`` trains without early stopping (a refit, which has no validation rows).
    """
    options = {k: params[k] for k in _OPTIMIZER_OPTION_KEYS if k in params}
    if "beta1" in params or "beta2" in params:
        options["betas"] = (params.get("beta1", 0.9), params.get("beta2", 0.999))
    return Trainer(
        optimizer=params.get("optimizer", "adam"),
        lr=params.get("lr", 1e-3),
        weight_decay=params.get("weight_decay", 0.0),
        optimizer_options=options or None,
        schedule=params.get("schedule", train_cfg.schedule),
        epochs=int(params.get("epochs", train_cfg.epochs)),
        batch_size=int(params.get("batch_size", train_cfg.batch_size)),
        l1=params.get("l1", 0.0),
        clip_grad_norm=params.get("clip_grad_norm"),
        clip_grad_value=params.get("clip_grad_value"),
        early_stopping=(EarlyStopping(patience=train_cfg.patience, min_delta=train_cfg.min_delta, monitor=metric)
                        if stop_early else None),
        device=train_cfg.device,
        precision=train_cfg.precision,
        channels_last=train_cfg.channels_last,
        accumulate=train_cfg.accumulate,
        metrics=RECORDED.get(metric),
        seed=seed,
        callbacks=tuple(callbacks),
        task=task,
        loss=loss,
        batch_transform=batch_transform,
    )


def trial_seed(seed: int, trial: Any) -> int:
    """The run's seed + the trial's number, or the seed the trial carries (``attrs["seed"]``: an
    autopilot step trains with the seed of the configuration it changes, so the change is the
    only difference between the two)."""
    return int(trial.attrs.get("seed", seed + trial.number))


class _ReportEpochs(ReportToTrial):
    """The public ``ReportToTrial`` (feeds the pruner), plus the run's event log and progress
    display, once per epoch."""

    def __init__(self, trial: Trial, metric: str, events: EventLog, on_epoch: Callable[[dict], None]):
        super().__init__(trial, monitor=metric)
        self.events, self.on_epoch = events, on_epoch

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        self.events("epoch", trial=self.trial.number, **record)
        self.on_epoch(record)
        super().on_epoch_end(trainer, record)


class TrialObjective:
    """``objective(config, trial) -> float`` for ``Study.optimize``."""

    def __init__(self, cfg: Any, data: PreparedData, fixed: dict[str, Any], rundir: RunDir | None,
                 events: EventLog | None, on_epoch: Callable[[dict], None] = lambda r: None):
        self.cfg, self.data, self.fixed = cfg, data, fixed
        self.rundir, self.events, self.on_epoch = rundir, events, on_epoch
        self.metric = cfg.search.metric

    def fit(self, params: dict[str, Any], data: PreparedData, seed: int, callbacks=(),
            until: int | None = None, number: int | None = None) -> tuple[torch.nn.Module, Any]:
        """Train a fresh model on ``data`` with the trial's practices; return (model, history).

        Args:
            until: train exactly this many epochs, with no validation and no early stopping (the
                refit on every non-test row); the schedule still spans ``epochs``, as in the search.
            number: the trial's number, for the event log.

        Raises:
            Diverged: the loss became NaN/inf (a runtime error: the study records the trial FAILED
                and goes on).
        """
        torch.manual_seed(seed)
        model = build_model(self.cfg, params, ModelInfo.of(data))
        practices = trial_practices(self.cfg, data, params, seed, model)
        stop = [] if until is None else [StopAfter(until)]
        trainer = make_trainer(self.cfg.train, params, self.metric, seed, [*practices.callbacks, *callbacks, *stop],
                               task=data.trainer_task, loss=practices.loss, batch_transform=practices.batch_transform,
                               stop_early=until is None)
        try:
            history = trainer.fit(model, train=practices.train, val=data.val if until is None else None)
        except Diverged as e:
            if self.events is not None:
                self.events("diverged", trial=number, message=str(e))
            raise
        return model, history

    def __call__(self, config: dict[str, Any], trial: Trial) -> float:
        params = {**self.fixed, **config}
        report = _ReportEpochs(trial, self.metric, self.events, self.on_epoch)
        model, history = self.fit(params, self.data, trial_seed(self.cfg.seed, trial), [report], number=trial.number)
        best = history.best
        value = float(best[self.metric])
        trial.set_attr("best_epoch", best["epoch"])
        trial.set_attr("val_accuracy", best.get("val_accuracy"))
        trial.set_attr("val_loss", best.get("val_loss"))
        if self.metric in RECORDED:
            trial.set_attr(self.metric, best.get(self.metric))
        trial.set_attr("epochs_run", len(history.records))
        trial.set_attr("curve", curve(history.records))
        save_trial_checkpoint(trial_checkpoint(self.rundir, trial.number), model, params, trial.number, value,
                              self.cfg.model, self.data)
        return value


class StopAfter(Callback):
    """Ends a fit after a fixed number of epochs (the refit's; it has no validation to stop on)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, trainer: Trainer, record: dict) -> None:
        if record["epoch"] >= self.epochs:
            trainer.stop()


def curve(records: list[dict]) -> dict[str, list]:
    """Per-epoch learning curves as columns (compact JSON for the trial's attrs)."""
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy", *RECORDED, "lr")
    return {k: [r.get(k) for r in records] for k in keys}
