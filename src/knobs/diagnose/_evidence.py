"""Collecting the evidence a diagnosis rests on, as plain data.

Four sources, each a small function, each working on a deep copy of the user's model (which is
never trained): the model checks (initial loss, gradient check without and with the L2 term,
tiny-subset overfit), one training run watched by ``knobs.watch.Watch`` (plus the final model's
score on the training rows), the same training at 10x or 1/10 the learning rate when the watched
run asks for it, and a scikit-learn reference on the same split.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from knobs.checks import CheckResult, check_initial_loss, gradient_check, overfit_tiny
from knobs.diagnose._reference import MAX_ROWS, r2, reference_scores
from knobs.diagnose._spectral import layer_spectra
from knobs.train import Diverged, Trainer, check_schedule
from knobs.watch import Watch

__all__ = ["Settings", "lr_probe", "model_checks", "reference", "watched_run"]


@dataclass
class Settings:
    """The training settings being diagnosed (what ``diagnose`` was called with); the defaults are
    ``knobs.train.Trainer``'s, so a diagnosis with no settings checks the Trainer's default setup.

    ``loss``, ``schedule``, ``precision`` and ``options`` (the Trainer's other keyword arguments:
    clipping, L1, batch transform, batch keys) are trained as given; ``planned_epochs`` is the
    length the schedule spans (the Trainer's ``epochs``): the diagnosis stops after ``epochs`` of
    it. ``loaders`` (train, val): the DataLoaders the watched runs train on instead of the tensors.
    """

    task: str = "classification"
    optimizer: Any = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 20
    weight_decay: float = 0.0
    optimizer_options: dict | None = None
    n_classes: int | None = None
    seed: int = 0
    device: str = "cpu"
    loss: Any = None
    schedule: Any = None
    precision: str = "auto"
    options: dict | None = None
    planned_epochs: int | None = None
    loaders: tuple | None = None
    inputs: str = "features"

    def trainer(self, lr: float | None = None, callbacks=()) -> Trainer:
        planned = max(self.epochs, self.planned_epochs or 0)
        stop = (_StopAfter(self.epochs),) if planned > self.epochs else ()
        return Trainer(optimizer=self.optimizer, lr=self.lr if lr is None else lr,
                       weight_decay=self.weight_decay, optimizer_options=self.optimizer_options,
                       epochs=planned, batch_size=self.batch_size, device=self.device,
                       precision=self.precision, seed=self.seed, callbacks=(*callbacks, *stop), task=self.task,
                       loss=self.loss, schedule=self.schedule, **(self.options or {}))

    def fit_data(self, train, val) -> tuple:
        """What the training runs read: the DataLoaders when given, else the tensors."""
        return self.loaders if self.loaders is not None else (train, val)

    def check_loss(self) -> Any:
        """The loss the gradient check differentiates: the trained one (on float64 copies)."""
        if self.loss is None:
            return "cross_entropy" if self.task == "classification" else "mse"
        loss = copy.deepcopy(self.loss).double() if isinstance(self.loss, nn.Module) else self.loss
        return loss

    def to_dict(self) -> dict[str, Any]:
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _DESCRIBED}
        return {**plain, "optimizer": _name(self.optimizer), "loss": _name(self.loss),
                "schedule": None if self.schedule is None else check_schedule(self.schedule),
                "options": {k: _name(v) if callable(v) else v for k, v in (self.options or {}).items()},
                "loaders": self.loaders is not None}


_DESCRIBED = ("optimizer", "loss", "schedule", "options", "loaders")


def _name(value: Any) -> Any:
    """A JSON-able name for a loss, optimizer or transform (a string stays itself)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    text = repr(value)
    return text if " at 0x" not in text else getattr(value, "__qualname__", type(value).__qualname__)


class _StopAfter:
    """Ends the fit after ``epochs``: a diagnosis watches the first epochs of a longer schedule."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if record["epoch"] >= self.epochs:
            trainer.stop()


def model_checks(model: nn.Module, X: torch.Tensor, y: torch.Tensor, s: Settings) -> list[CheckResult]:
    """Initial loss, gradient check (again with the L2 term when there is weight decay), and the
    tiny-subset overfit — each on a copy of ``model``."""
    fresh = lambda: copy.deepcopy(model)  # noqa: E731
    loss = s.check_loss()
    results = [check_initial_loss(fresh, X, y, task=s.task, n_classes=s.n_classes, seeds=(s.seed,), inputs=s.inputs),
               gradient_check(model, X, y, loss=loss, seed=s.seed)]
    if s.weight_decay:
        results.append(gradient_check(model, X, y, loss=loss, seed=s.seed, l2=s.weight_decay))
    results.append(overfit_tiny(fresh, X, y, task=s.task, n_classes=s.n_classes, seed=s.seed, loss=s.loss))
    return results


def watched_run(model: nn.Module, train, val, s: Settings, every: int) -> dict[str, Any]:
    """Train a copy for ``s.epochs`` under a ``Watch``; score the final model on the training rows."""
    watch = Watch(every=every)
    run = _fit(model, train, val, s, s.lr, [watch])
    run["watch"] = watch.to_dict()
    run["step_losses"] = [v if math.isfinite(v) else None for v in watch.step_losses]
    run["spectral"] = layer_spectra(watch.model) if watch.model is not None else {}  # α per weight layer, trained
    return run


def lr_probe(model: nn.Module, train, val, s: Settings, factor: float) -> dict[str, Any]:
    """The same training (same init, same batches) at ``factor`` × the learning rate."""
    run = _fit(model, train, val, s, s.lr * factor, [])
    return {"factor": factor, "lr": s.lr * factor, "diverged": run["diverged"],
            "final_train_loss": run["final_train_loss"], "train_score": run["train_score"],
            "val_score": run["val_score"]}


def _fit(model: nn.Module, train, val, s: Settings, lr: float, callbacks: list) -> dict[str, Any]:
    """One training run; a divergence ends the run, not the diagnosis."""
    net = copy.deepcopy(model)
    trainer = s.trainer(lr=lr, callbacks=callbacks)
    diverged = None
    try:
        trainer.fit(net, *s.fit_data(train, val))
    except Diverged as error:
        diverged = {"epoch": error.epoch, "step": error.step, "lr": error.lr}
    finally:
        for callback in callbacks:
            callback.close()
    records = [_plain(r) for r in trainer.history_.records]
    final = records[-1] if records and diverged is None else None
    return {"records": records, "diverged": diverged,
            "final_train_loss": final["train_loss"] if final else None,
            "train_score": None if final is None else _score(trainer, net, train, s),
            "val_score": None if final is None else _val_score(final, val, s)}


def _score(trainer: Trainer, net: nn.Module, data, s: Settings) -> float | None:
    """Accuracy (classification) or R² (regression) of ``net`` on at most ``MAX_ROWS`` rows."""
    X, y = data[0], data[1]  # sample weights (a third item) shape the training, not the score
    rows = torch.as_tensor(np.random.default_rng(s.seed).permutation(len(y))[:MAX_ROWS])
    X, y = X[rows], y[rows]
    metrics = trainer.evaluate(net, (X, y))
    if s.task == "classification":
        return metrics["accuracy"]
    return _finite(r2(metrics["loss"], _numpy(y)))


def _val_score(record: dict[str, Any], val, s: Settings) -> float | None:
    if s.task == "classification":
        return record.get("val_accuracy")
    return None if record.get("val_loss") is None else _finite(r2(record["val_loss"], _numpy(val[1])))


def reference(train, val, s: Settings) -> dict[str, Any]:
    """The scikit-learn reference: validation score of a linear and a k-NN model."""
    return reference_scores(train, val, s.task, seed=s.seed)


def _numpy(t) -> np.ndarray:
    return np.asarray(t.detach().cpu() if hasattr(t, "detach") else t, dtype=np.float64)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
