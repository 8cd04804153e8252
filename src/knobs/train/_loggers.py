"""Where a fit's epochs go besides ``History``: a CSV file, TensorBoard, a progress bar.

Why callbacks: each is a sink of the per-epoch record the loop already builds (``on_epoch_end``),
so none costs the hot loop anything. Each releases what it opened in ``on_fit_end`` or, when an
exception ends the fit (a ``Diverged`` loss, a pruned trial), in ``on_exception`` — a progress
display left running would block the next fit's.

Scalars logged are the numeric keys of the record (``train_loss``, ``val_loss``,
``val_accuracy``, the trainer's ``metrics``, ``lr``, ``seconds``); ``lr_steps`` is not.

Example:
    >>> trainer = Trainer(callbacks=[CSVLogger("runs/a/log.csv"), ProgressBar()])   # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError
from knobs.train._callbacks import Callback

__all__ = ["CSVLogger", "TensorBoardLogger", "ProgressBar"]

_SKIPPED = ("lr_steps",)


def _scalars(record: dict) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if k not in _SKIPPED and k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}


class _Sink(Callback):
    """A callback holding something open during a fit: ``_close`` releases it when the fit ends,
    however it ends."""

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        self._close()

    def on_exception(self, trainer: Any, error: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        raise NotImplementedError


class CSVLogger(_Sink):
    """One row per epoch in ``path`` (the columns of the first record; written and flushed as
    each epoch ends, so a killed run keeps its rows).

    Args:
        path: the CSV file (parent directories are created).
        append: add rows to an existing file (a resumed fit) instead of starting it anew.
    """

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self.path, self.append = Path(path), append
        self._file: Any = None
        self._writer: csv.DictWriter | None = None

    def on_fit_start(self, trainer: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._header = not (self.append and self.path.exists() and self.path.stat().st_size > 0)
        self._file = open(self.path, "a" if self.append else "w", newline="")
        self._writer = None

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        if self._writer is None:
            fields = [k for k in record if k not in _SKIPPED]
            self._writer = csv.DictWriter(self._file, fieldnames=fields, extrasaction="ignore")
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({k: ("" if v is None else v) for k, v in record.items() if k not in _SKIPPED})
        self._file.flush()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


class TensorBoardLogger(_Sink):
    """Each epoch's scalars as TensorBoard events in ``logdir`` (``torch.utils.tensorboard``),
    step = epoch; ``tensorboard --logdir`` shows them.

    Needs the ``tensorboard`` package: ``pip install 'knobs[tensorboard]'``; without it the
    constructor raises ``ConfigError`` saying so.

    Args:
        logdir: the run's event directory.
        prefix: put before every tag (e.g. ``"trial-3/"`` to compare trials in one directory).
    """

    def __init__(self, logdir: str | os.PathLike, prefix: str = "") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("TensorBoardLogger needs the tensorboard package: pip install 'knobs[tensorboard]' "
                              "(or pip install tensorboard)") from None
        self._writer_class = SummaryWriter
        self.logdir, self.prefix = Path(logdir), prefix
        self._writer: Any = None

    def on_fit_start(self, trainer: Any) -> None:
        self._writer = self._writer_class(log_dir=str(self.logdir))

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        for key, value in _scalars(record).items():
            if math.isfinite(value):
                self._writer.add_scalar(self.prefix + key, value, global_step=record["epoch"])
        self._writer.flush()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ProgressBar(_Sink):
    """A rich progress bar over the planned epochs, showing the last record's losses, metrics and LR.

    Args:
        description: the bar's label (e.g. ``f"trial {trial.number}"``).
        console: a ``rich.console.Console`` (default: rich's, on stdout).
        transient: remove the bar when the fit ends.
    """

    def __init__(self, description: str = "fit", console: Any = None, transient: bool = False) -> None:
        self.description, self.console, self.transient = description, console, transient
        self._progress: Any = None

    def on_fit_start(self, trainer: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("{task.fields[last]}"),
                                  console=self.console, transient=self.transient)
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=trainer.epochs, last="")

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        shown = "  ".join(f"{k} {v:.4g}" for k, v in _scalars(record).items() if k != "seconds")
        self._progress.update(self._task, completed=record["epoch"], last=shown)

    def _close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
