"""Early stopping on a validation metric, always handing back the best weights.

Why restore always: the weights at the last epoch are ``patience`` epochs past the best ones (or
simply the last ones when epochs run out); reporting the best epoch's metric while keeping other
weights is the bug Keras carried until 2023. The best weights are copied (on the device) each time
the metric improves by more than ``min_delta``, and put back in ``on_fit_end``.

Any metric of the record can be watched: "val_loss", "val_accuracy", "train_loss", or a name of the
trainer's ``metrics`` (``Trainer(metrics={"f1": "macro_f1"})`` → ``EarlyStopping(monitor="f1")``).
The direction is inferred for the built-in names and ``knobs.metrics`` functions; a metric of your
own needs ``mode``.

Example:
    >>> stopper = EarlyStopping(patience=3, monitor="val_accuracy")   # mode "max" inferred
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from knobs.errors import ConfigError
from knobs.train._callbacks import Callback
from knobs.train._metrics import metric_mode, monitor_hint

__all__ = ["EarlyStopping", "as_early_stopping", "improved", "MONITORS"]

MONITORS = ("val_loss", "val_accuracy", "train_loss")


def improved(value: float, best: float | None, min_delta: float, mode: str) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (NaN never improves)."""
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without improvement; restore the best weights at the end.

    Args:
        patience: epochs without improvement before stopping (0: stop at the first one).
        min_delta: an improvement must exceed this much.
        monitor: "val_loss" (minimized), "val_accuracy" (maximized), "train_loss", or the name of
            one of the trainer's ``metrics``.
        mode: "min" or "max"; inferred from ``monitor`` when None (a metric of your own must say).
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0, monitor: str = "val_loss",
                 mode: str | None = None) -> None:
        # NOTE: NumPy scalars (a grid's int64) are the Python numbers they hold, as the Trainer reads its settings
        self.patience = patience.item() if isinstance(patience, np.integer) else patience
        self.min_delta = min_delta.item() if isinstance(min_delta, np.floating | np.integer) else min_delta
        self.monitor = monitor
        self.mode = mode
        self._metric_mode: str | None = None
        self.reset()

    @property
    def mode_(self) -> str:
        return self.mode or self._metric_mode or metric_mode(self.monitor) or "min"

    def check(self, has_val: bool, metrics: dict | None = None, task: str = "classification") -> None:
        """Validate the settings against the trainer's ``metrics`` and ``task`` (called before any work).

        NOTE: a regression's ``val_accuracy`` is None every epoch, so early stopping on it never saw an improvement
        and ended the fit after ``patience`` epochs with no best weights to restore, silently (2 of 10 epochs)."""
        p = self.patience
        if not isinstance(p, int) or isinstance(p, bool) or p < 0:
            raise ConfigError(f"early_stopping.patience: expected an integer >= 0, got {p!r}")
        if not isinstance(self.min_delta, (int, float)) or not self.min_delta >= 0:
            raise ConfigError(f"early_stopping.min_delta: expected a number >= 0, got {self.min_delta!r}")
        metrics = metrics or {}
        if self.monitor not in MONITORS and self.monitor not in metrics:
            known = ", ".join([*MONITORS, *metrics])
            raise ConfigError(f"early_stopping.monitor: unknown {self.monitor!r}"
                              f"{monitor_hint(self.monitor, [*MONITORS, *metrics])}; expected one of {known} "
                              f"(add your own with Trainer(metrics={{name: fn}}))")
        if task == "regression" and self.monitor == "val_accuracy":
            raise ConfigError("early_stopping.monitor: 'val_accuracy' has no value for a regression (it is None every "
                              "epoch); watch 'val_loss', or a metric of your own (Trainer(metrics={name: fn}))")
        if self.mode not in (None, "min", "max"):
            raise ConfigError(f"early_stopping.mode: expected 'min' or 'max', got {self.mode!r}")
        self._metric_mode = metric_mode(self.monitor, metrics)
        if self.mode is None and self._metric_mode is None:
            raise ConfigError(f"early_stopping.mode: say 'min' or 'max' for the metric {self.monitor!r} "
                              f"(EarlyStopping(monitor={self.monitor!r}, mode='max'))")
        if (self.monitor.startswith("val") or self.monitor in metrics) and not has_val:
            raise ConfigError(f"early_stopping.monitor: {self.monitor!r} needs validation data (fit(..., val=...))")

    def reset(self) -> None:
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.wait = 0
        self.stopped = False

    def on_fit_start(self, trainer: Any) -> None:
        self.reset()

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        if improved(record[self.monitor], self.best_value, self.min_delta, self.mode_):
            self.best_value, self.best_epoch, self.wait = float(record[self.monitor]), record["epoch"], 0
            self.best_state = {k: v.detach().clone() for k, v in trainer.model_.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):
            self.stopped = True
            trainer.stop()

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        if self.best_state is not None:
            trainer.model_.load_state_dict(self.best_state)

    def state_dict(self) -> dict:
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "wait": self.wait,
                "stopped": self.stopped, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        self.wait, self.stopped, self.best_state = state["wait"], state["stopped"], state["best_state"]


def as_early_stopping(value: Any) -> Any:
    """``Trainer(early_stopping=...)`` as an ``EarlyStopping``: one as given, a mapping of its arguments
    (``{"monitor": "macro_f1", "patience": 3}``, as a config writes it) or True (its defaults); None stays None.

    NOTE: a mapping failed at the fit's first step with "'dict' object has no attribute 'check'".

    Raises:
        ConfigError: a mapping with keys ``EarlyStopping`` does not take, or another kind of value."""
    if value is None or isinstance(value, EarlyStopping):
        return value
    if value is True:
        return EarlyStopping()
    if isinstance(value, dict):
        known = ("patience", "min_delta", "monitor", "mode")
        unknown = [key for key in value if key not in known]
        if unknown:
            raise ConfigError(f"early_stopping: unknown {', '.join(map(repr, unknown))}; expected keys among "
                              f"{', '.join(known)}")
        return EarlyStopping(**value)
    raise ConfigError(f"early_stopping: expected an EarlyStopping, a mapping of its arguments (e.g. {{'monitor': "
                      f"'val_loss', 'patience': 5}}), True or None; got {value!r}")
