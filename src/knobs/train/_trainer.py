"""The training loop: the loop owns the state, features live in callbacks and small modules.

Why this shape (Ignite's): ``fit`` validates everything before it spends compute, builds the
optimizer (``_optimizers``), the schedule (``_schedules``) and the minibatches (``_batches``), then
runs epochs. Early stopping and periodic checkpoints are callbacks; ``trainer.stop()`` is the one
way to end the loop early. The hot loop is lean on purpose: losses stay on the device and are read
once per epoch (one synchronization), the LR is read from the optimizer's param group, and step
records are built only when a callback listens to ``on_step_end``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> X, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    >>> trainer = Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=16)
    >>> history = trainer.fit(nn.Linear(4, 2), train=(X, y), val=(X, y))
    >>> [r["epoch"] for r in history.records]
    [1, 2]
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from knobs.errors import ConfigError, DataError
from knobs.train._batches import (BatchKeys, check_outputs, epoch_batches, forward, input_dtype, make_batches,
                                  materialize_lazy, model_output)
from knobs.train._predict import device_of, predict
from knobs.train._callbacks import check_callbacks, hooks
from knobs.train._checkpoint import Checkpointer
from knobs.train._device import (check_channels_last, configure_backends, resolve_device, resolve_precision,
                                 use_channels_last)
from knobs.train._early_stopping import EarlyStopping, as_early_stopping
from knobs.train._history import History, best_epoch
from knobs.train._holdout import hold_out
from knobs.train._losses import (LOSSES, check_loss_reads_logits, class_probabilities, label_probabilities, per_example,
                                with_float_targets)
from knobs.train._metrics import TASKS, measure, resolve_metrics
from knobs.train._optimizers import build_optimizer, check_optimizer, optimizer_name
from knobs.train._regularization import clip_gradients, l1_penalty, penalized
from knobs.train._resume import restore_trainer, save_trainer
from knobs.train._rng import forked_rng
from knobs.train._schedules import build_schedule, check_schedule

__all__ = ["Trainer", "Diverged"]


class Diverged(RuntimeError):
    """The training loss became NaN or infinite.

    Why a ``RuntimeError`` and not a ``KnobsError``: it is an outcome of a configuration (too high
    a learning rate), not bad input. ``Study.optimize`` re-raises every ``KnobsError`` (a broken
    setup fails every trial alike) but records other errors as failed trials, so one diverging
    trial is a FAILED trial (``fail_reason`` naming step, epoch and LR) and the search goes on.
    """

    def __init__(self, *, epoch: int, step: int, lr: float, loss: float) -> None:
        self.epoch, self.step, self.lr, self.loss = epoch, step, lr, loss
        super().__init__(
            f"training diverged: loss {loss} at step {step} (epoch {epoch}, lr {lr:.4g}); "
            f"lower lr, clip gradients (clip_grad_norm) or add warmup"
        )

    def __reduce__(self) -> tuple:
        # NOTE: keyword-only arguments: the default pickling (``cls(*args)``) cannot rebuild it,
        # and a trial run in a worker process sends its error home pickled.
        return _diverged, (self.epoch, self.step, self.lr, self.loss)


def loss_on(loss: Any, model: nn.Module, device: torch.device) -> Any:
    """A loss module moved to ``device``, its floating buffers and parameters cast to the model's float dtype.

    NOTE: ``nn.CrossEntropyLoss(weight=torch.tensor(class_weights(y)))`` holds float64 weights (NumPy's), and
    torch refuses them against float32 logits ("expected scalar type Float but found Double") at the first step.
    A loss function that is not a module is returned as it is; torch's BCE losses are given float targets shaped as
    the outputs (``_losses.with_float_targets``)."""
    if not isinstance(loss, nn.Module):
        return loss
    loss = loss.to(device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    tensors = [*loss.parameters(), *loss.buffers()]
    if dtype is not None and any(t.is_floating_point() and t.dtype != dtype for t in tensors):
        loss = loss.to(dtype)
    return with_float_targets(loss)


def _diverged(epoch: int, step: int, lr: float, loss: float) -> Diverged:
    return Diverged(epoch=epoch, step=step, lr=lr, loss=loss)


class Trainer:
    """Trains a model with every knob of the practice cycle.

    Args:
        optimizer: a name in ``knobs.train.OPTIMIZERS`` (any case: "Adam", "SGD"), a
            ``torch.optim`` class (``torch.optim.SGD``) or ``functools.partial`` of one (called with
            the parameter groups, ``lr`` and ``optimizer_options``), or a callable
            ``params -> Optimizer`` that sets everything itself.
        lr: learning rate (the schedule's α₀).
        weight_decay: L2 on the weights (decoupled for "adamw"); biases and norm parameters are exempt.
        optimizer_options: e.g. ``{"momentum": 0.9}`` or ``{"betas": (0.9, 0.99)}``.
        schedule: None, a name, or ``{"name": ..., key: value}`` (see ``knobs.train.SCHEDULES``),
            or a ``torch.optim.lr_scheduler`` class / callable ``optimizer -> scheduler``
            (``functools.partial(StepLR, step_size=10)``), stepped once per epoch.
        epochs: planned epochs.
        batch_size: minibatch size for training.
        l1: L1 penalty strength on the weights (added to the loss; biases and norm params exempt).
        clip_grad_norm: clip the global gradient L2 norm to this value.
        clip_grad_value: clip each gradient entry to ±this value.
        early_stopping: an ``EarlyStopping`` (its best weights are always restored), a mapping of its arguments
            (``{"monitor": "val_accuracy", "patience": 5}``), True (its defaults) or None.
        device: "auto", "cpu", "cuda", "cuda:N".
        precision: "auto" (bf16 on CUDA when supported, else fp32), "fp32", "bf16" (autocast on CUDA or the CPU), "fp16"
            (CUDA, with a loss scale).
        channels_last: "auto" (on CUDA, for a model with 2-D convolutions), True or False: keep the
            model's 4-D weights and the 4-D input batches in channels_last (NHWC) memory format
            (``knobs.train.use_channels_last``); the model stays in it after the fit.
        seed: seeds Python/NumPy/torch and the shuffling generator for the fit, and gives the
            caller's generator states back when it ends (a fit is reproducible for its seed and
            leaves the caller's random streams as they were); None seeds nothing and draws from
            the caller's generators.
        callbacks: objects with optional ``on_fit_start``/``on_step_end``/``on_epoch_end``/``on_fit_end``.
        task: "classification" (cross-entropy, accuracy), "regression" (MSE) or "multilabel" (several classes per
            row: targets ``(n, K)`` of 0 / 1, one logit per label, their binary cross-entropy; ``val_accuracy`` is
            the share of labels right; metrics ``macro_f1``, ``micro_f1``, ``subset_accuracy``,
            ``average_precision``, ``roc_auc``).
        checkpoint_dir: write ``last.pt`` there every ``checkpoint_every`` epochs (and at the end).
        checkpoint_every: epochs between checkpoints.
        eval_batch_size: minibatch size for validation (default: max(1024, batch_size)).
        loss: the training loss ``loss(outputs, targets) -> scalar`` (e.g.
            ``nn.CrossEntropyLoss(weight=w)`` or ``knobs.balance.FocalLoss()``); None means
            cross-entropy for classification (a one-logit binary model's binary cross-entropy), MSE for
            regression. Validation keeps the plain loss of the task so treatments stay comparable.
            ``nn.BCEWithLogitsLoss`` takes knobs' labels as float targets; ``nn.BCELoss`` is refused for a
            classifier (its outputs would be probabilities, read as logits).
        batch_transform: ``transform(xb, yb) -> (xb, yb)`` applied to every training batch on
            the device (augmentation, mixup); never to validation. Targets it returns as class
            probabilities (N, C) work with the default classification loss.
        metrics: validation metrics added to each epoch record under their names:
            ``{"f1": fn(outputs, y) -> float}`` (raw outputs, i.e. logits, and targets of the whole
            validation set as CPU tensors) or ``knobs.metrics`` names (``{"f1": "macro_f1"}``, or a
            list ``["macro_f1", "balanced_accuracy"]``; ``knobs.train.METRICS``: accuracy, balanced_accuracy,
            macro_f1, mean_iou, log_loss, roc_auc for classes, rmse, mae, r2 for a regression;
            ``MULTILABEL_METRICS`` for multi-label). ``EarlyStopping(monitor=name)`` and
            ``ReportToTrial(trial, monitor=name)`` can watch them.
        batch_keys: the keys of mapping batches, ``{"x": ..., "y": ..., "weight": ...}`` (default
            "x", "y", "weight"; a tuple of keys for "x" gives several inputs).
        weight_val_loss: with sample weights in the validation data, ``val_loss`` is their
            weighted mean too (default: unweighted, comparable across weightings).
        steps_per_epoch: the batches one epoch of a training DataLoader without ``len`` yields (a
            stream: an ``IterableDataset`` with no ``__len__``), which sizes the LR schedule (a
            one-cycle's total steps, a step schedule's epochs, warmup in epochs). Such a loader
            trains without it when nothing is sized by it (no schedule, ``constant`` or ``plateau``
            without ``warmup_epochs``, a torch scheduler you built). An epoch is still one pass
            over the stream, however many batches it yields. Only for a loader without ``len``.
        accumulate: batches whose gradients are summed before each optimizer step (gradient
            accumulation: the step of a batch ``accumulate`` times larger, in the memory of one).
            Each batch's loss is divided by the batches in its group, so the step follows their mean
            loss; an epoch's last group may be shorter. The LR schedule, ``step_`` and the step
            callbacks count optimizer steps; batch norm still sees one batch at a time.

    Data (``train``, ``val``, ``predict``) comes as ``(X, y)``, ``(X, y, sample_weight)``,
    ``{"x": X, "y": y}`` or a DataLoader whose batches take any of these forms or
    ``((x1, x2, ...), y)`` (the model is called as ``model(x1, x2, ...)``). Sample weights make the
    training loss a weighted mean (the loss must return per-example values: the default ones
    do, a custom one needs ``reduction="none"``).

    Attributes set by ``fit``: ``model_``, ``optimizer_``, ``schedule_``, ``device_``,
    ``precision_``, ``history_``, ``epoch_`` (completed epochs), ``step_`` (optimizer steps),
    ``metrics_`` (the validation metrics by name, resolved).
    """

    def __init__(self, optimizer: str = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer_options: dict | None = None, schedule: Any = None, epochs: int = 50,
                 batch_size: int = 64, l1: float = 0.0, clip_grad_norm: float | None = None,
                 clip_grad_value: float | None = None, early_stopping: EarlyStopping | dict | bool | None = None,
                 device: str = "auto", precision: str = "auto", seed: int | None = 0,
                 callbacks: Iterable[Any] = (), task: str = "classification",
                 checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 1,
                 eval_batch_size: int | None = None, loss: Callable[[Any, Any], Any] | None = None,
                 batch_transform: Callable[[Any, Any], tuple[Any, Any]] | None = None,
                 metrics: Any = None, batch_keys: Any = None, weight_val_loss: bool = False,
                 channels_last: bool | str = "auto", steps_per_epoch: int | None = None,
                 accumulate: int = 1, **unknown: Any) -> None:
        if unknown:
            raise _unknown_argument(next(iter(unknown)))
        # NOTE: numbers from NumPy or torch (np.logspace's float32, a DataFrame's int64, a 0-d tensor) were refused as
        # "expected a positive number, got np.float32(0.001)": they are read as the Python numbers they hold
        lr, weight_decay, epochs, batch_size, l1, clip_grad_norm, clip_grad_value, seed, checkpoint_every, \
            eval_batch_size, steps_per_epoch, accumulate = map(_plain_number, (
                lr, weight_decay, epochs, batch_size, l1, clip_grad_norm, clip_grad_value, seed, checkpoint_every,
                eval_batch_size, steps_per_epoch, accumulate))
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.optimizer_options = optimizer_options
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.l1 = l1
        self.clip_grad_norm = clip_grad_norm
        self.clip_grad_value = clip_grad_value
        self.early_stopping = as_early_stopping(early_stopping)
        self.device = device
        self.precision = precision
        self.seed = seed
        self.callbacks = tuple(callbacks)
        self.loss = loss
        self.batch_transform = batch_transform
        self.task = task
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.eval_batch_size = eval_batch_size
        self.metrics = metrics
        self.batch_keys = batch_keys
        self.weight_val_loss = weight_val_loss
        self.channels_last = channels_last
        self.steps_per_epoch = steps_per_epoch
        self.accumulate = accumulate
        self._stop = False

    # ---- public -------------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """Only for names the Trainer lacks: another tool's method is told knobs' (Lightning's ``trainer.test``), an
        attribute ``fit`` sets is told so."""
        if name.startswith("__"):
            raise AttributeError(name)
        hint = _FOREIGN_METHODS.get(name, "")
        if name.endswith("_") and not name.startswith("_"):
            hint = "; fit sets it: call trainer.fit(model, train, val) first"
        raise AttributeError(f"'Trainer' object has no attribute {name!r}{hint}")

    def stop(self) -> None:
        """Ask the loop to stop after the current epoch (its callbacks still run)."""
        self._stop = True

    @property
    def stopping(self) -> bool:
        """True when the epoch being finished is the last one."""
        return self._stop or self.epoch_ >= self.epochs

    def fit(self, model: nn.Module, train: Any, val: Any = None, *,
            resume_from: str | os.PathLike | None = None, **unknown: Any) -> History:
        """Train ``model`` in place and return its ``History``.

        Args:
            model: a module producing logits (or regression outputs); moved to the device.
            train: ``(X, y)`` tensors/arrays, a DataLoader or a torch ``Dataset``.
            val: the same for validation (needed for val_* metrics and early stopping on them), or a fraction
                (``0.2``): that share of ``train``'s rows held out, drawn with the trainer's seed (0 without one)
                and stratified by class — Keras' ``validation_split``, which takes the last rows unshuffled.
            resume_from: a checkpoint written by this trainer's ``checkpoint_dir`` or ``save``;
                training continues exactly where it stopped.

        Raises:
            ConfigError, DataError: bad settings or data, before any training.
            Diverged: the training loss became NaN/inf.
        """
        if unknown:
            raise _fit_argument(next(iter(unknown)))
        self._check_settings()
        if _array(train) and _array(val) and len(train) == len(val):
            # NOTE: Keras' fit(x, y): the labels were read as validation data, and the inputs alone refused
            raise DataError("train: fit takes the training data as one pair and validation as the next argument: "
                            "trainer.fit(model, (X, y)) or trainer.fit(model, (X, y), (X_val, y_val)); it was given X "
                            "and y separately, as Keras' fit(x, y) takes them")
        if isinstance(val, (float, int)) and not isinstance(val, bool):
            train, val = hold_out(train, val, task=self.task, seed=0 if self.seed is None else self.seed,
                                  keys=BatchKeys.of(self.batch_keys))
        with forked_rng(self.seed):
            self._prepare(model, train, val)
            try:
                for hook in hooks(self._callbacks, "on_fit_start"):
                    hook(self)
                if resume_from is not None:
                    restore_trainer(self, resume_from)
                while not self._stop and self.epoch_ < self.epochs:
                    self._run_epoch(self.epoch_ + 1)
                self._finish()
                for hook in hooks(self._callbacks, "on_fit_end"):
                    hook(self, self.history_)
            except BaseException as error:
                for hook in hooks(self._callbacks, "on_exception"):
                    hook(self, error)
                raise
        return self.history_

    def validate(self) -> "Trainer":
        """Check every setting that needs neither data nor a model; return ``self``.

        Names, keys and ranges of the optimizer, schedule, early stopping, device and precision
        are checked here, so a pipeline can reject a bad configuration before any work. ``fit``
        calls it first.

        Raises:
            ConfigError: naming the setting and what is expected.
        """
        self._check_settings()
        check_schedule(self.schedule)
        check_optimizer(self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                        options=self.optimizer_options)
        metrics = resolve_metrics(self.metrics, self.task)
        BatchKeys.of(self.batch_keys)
        if self.early_stopping is not None:
            self.early_stopping.check(has_val=True, metrics=metrics, task=self.task)
        resolve_precision(self.precision, resolve_device(self.device))
        return self

    def evaluate(self, model: nn.Module, data: Any) -> dict[str, float | None]:
        """``{"loss", "accuracy", **metrics}`` of ``model`` on ``data`` (any form ``fit`` takes),
        on the model's device.

        ``accuracy`` is None for regression; the loss is weighted only with ``weight_val_loss``.
        """
        self._check_settings()
        metrics = resolve_metrics(self.metrics, self.task)
        device = device_of(model)
        precision = resolve_precision(self.precision if device.type == "cuda" else "fp32", device)
        batches = make_batches(data, "data", task=self.task, device=device, batch_size=self._eval_batch_size(),
                               generator=None, shuffle=False, keys=BatchKeys.of(self.batch_keys),
                               dtype=input_dtype(model))
        loss, accuracy, values = measure(model, batches, self.task, precision, metrics, self.weight_val_loss)
        return {"loss": loss, "accuracy": accuracy, **values}

    def predict(self, model: nn.Module, data: Any, batch_size: int | None = None) -> torch.Tensor:
        """The model's raw outputs (logits for classification) for every row of ``data``, as one
        CPU tensor in row order.

        ``data``: inputs ``X`` (a tensor or array), a batch form ``fit`` takes (targets and weights
        are ignored), or a DataLoader (its order; inputs only, or any batch form; an item
        ``knobs.data.skip_unreadable`` left out gets a row of NaN, so row i stays item i's). Batches of
        ``batch_size`` (default ``eval_batch_size``) run on the model's device in eval mode without
        gradients, under the trainer's precision on CUDA; the model's mode is restored.
        """
        self._check_settings()
        if batch_size is not None:
            _check_int("batch_size", batch_size, 1)
        device = device_of(model)
        precision = resolve_precision(self.precision if device.type == "cuda" else "fp32", device)
        return predict(model, data, batch_size=batch_size or self._eval_batch_size(), precision=precision,
                       keys=BatchKeys.of(self.batch_keys))

    def predict_proba(self, model: nn.Module, data: Any, batch_size: int | None = None) -> torch.Tensor:
        """Class probabilities for every row of ``data`` (as ``predict`` reads it): the softmax of the logits, or
        ``[1 − p, p]`` with p the sigmoid of a one-logit binary classifier's output; for ``task="multilabel"`` each
        label's own probability, the sigmoid of its logit. Not for a regression.

        Raises:
            ConfigError: a regression trainer (``predict`` gives its values).
        """
        if self.task == "regression":
            raise ConfigError("predict_proba: a regression has no class probabilities; predict gives its values")
        out = self.predict(model, data, batch_size).double()
        return (label_probabilities(out) if self.task == "multilabel" else class_probabilities(out)).float()

    def save(self, path: str | os.PathLike) -> Path:
        """Checkpoint everything ``fit(resume_from=path)`` needs to continue identically."""
        return save_trainer(self, path)

    def settings(self) -> dict[str, Any]:
        """The settings that shape the training curve (a resumed fit must match them)."""
        return {
            "optimizer": optimizer_name(self.optimizer), "lr": self.lr, "weight_decay": self.weight_decay,
            "optimizer_options": dict(self.optimizer_options or {}),
            "schedule": check_schedule(self.schedule), "epochs": self.epochs,
            "batch_size": self.batch_size, "l1": self.l1, "clip_grad_norm": self.clip_grad_norm,
            "clip_grad_value": self.clip_grad_value, "seed": self.seed, "task": self.task,
            "loss": _describe(self.loss), "batch_transform": _describe(self.batch_transform),
            "steps_per_epoch": self.steps_per_epoch, "accumulate": self.accumulate,
        }

    # ---- setup ----------------------------------------------------------------------------------

    def _check_settings(self) -> None:
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        if self.eval_batch_size is not None:
            _check_int("eval_batch_size", self.eval_batch_size, 1)
        if self.steps_per_epoch is not None:
            _check_int("steps_per_epoch", self.steps_per_epoch, 1)
        _check_int("accumulate", self.accumulate, 1)
        _check_number("l1", self.l1, allow_zero=True)
        for name in ("clip_grad_norm", "clip_grad_value"):
            if getattr(self, name) is not None:
                _check_number(name, getattr(self, name), allow_zero=False)
        if self.task not in TASKS:
            from knobs._validation import did_you_mean

            raise ConfigError(f"task: unknown {self.task!r}{did_you_mean(self.task, TASKS)}; expected one of "
                              f"{', '.join(TASKS)}")
        check_loss_reads_logits(self.loss, self.task)
        for name, example in (("loss", "nn.CrossEntropyLoss(weight=w) or knobs.balance.FocalLoss()"),
                              ("batch_transform", "an augmentation taking and returning (xb, yb)")):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigError(f"{name}: expected a callable, e.g. {example}; got {getattr(self, name)!r}"
                                  f"{_LOSS_NAMES.get(str(getattr(self, name)).lower(), '') if name == 'loss' else ''}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ConfigError(f"seed: expected an integer or None, got {self.seed!r}")
        check_channels_last(self.channels_last)
        check_callbacks(self.callbacks)

    def _prepare(self, model: nn.Module, train: Any, val: Any) -> None:
        self.validate()
        schedule = check_schedule(self.schedule)
        self.metrics_ = resolve_metrics(self.metrics, self.task)
        keys = BatchKeys.of(self.batch_keys)
        if self.early_stopping is not None:
            self.early_stopping.check(has_val=val is not None, metrics=self.metrics_, task=self.task)
        monitor = self._monitor(val is not None)
        if schedule and schedule["name"] == "plateau" and val is None and (schedule["monitor"] or monitor) != "train_loss":
            raise ConfigError("schedule 'plateau': watches a validation metric; pass val=... or set monitor = 'train_loss'")
        if schedule and schedule["name"] == "plateau" and self.task == "regression" and \
                (schedule["monitor"] or monitor) == "val_accuracy":
            raise ConfigError("schedule 'plateau': watches 'val_accuracy', which has no value for a regression; set "
                              "monitor = 'val_loss'")
        self.device_ = resolve_device(self.device)
        self.precision_ = resolve_precision(self.precision, self.device_)
        configure_backends(self.device_, self.precision_)
        self.channels_last_ = use_channels_last(self.channels_last, self.device_, model)
        self._memory_format = torch.channels_last if self.channels_last_ else None
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(f"the model ({type(model).__name__}) has no trainable parameters: every one is frozen "
                              f"(requires_grad=False) or it has none; unfreeze what should learn, e.g. its head "
                              f"(knobs.transfer.freeze_layers keeps the layers you name frozen and no others)")
        if any(p.requires_grad and p.dtype == torch.float16 for p in model.parameters()):
            # NOTE: it trained, and diverged at step 2 named as a learning rate too high: Adam's eps (1e-8) is 0 in
            # float16 and updates below its resolution are lost; mixed precision keeps float32 master weights
            raise ConfigError("the model's trainable parameters are float16, which cannot hold small updates (Adam's "
                              "eps of 1e-8 rounds to 0, and training diverges); keep them float32 (model.float()) and "
                              "train with precision='fp16' on CUDA (autocast with a loss scale) or 'bf16', or make "
                              "the model .bfloat16()")
        # NOTE: a lazy module's uninitialized parameters take no memory format (torch failed on them): its model
        # moves first, takes its shapes from the data, then its format
        lazy = any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())
        self.model_ = model.to(self.device_) if self._memory_format is None or lazy else \
            model.to(self.device_, memory_format=self._memory_format)
        dtype = input_dtype(self.model_)
        self._train = make_batches(train, "train", task=self.task, device=self.device_, batch_size=self.batch_size,
                                   generator=self._generator(), shuffle=True, keys=keys, dtype=dtype)
        self._val = None if val is None else make_batches(
            val, "val", task=self.task, device=self.device_, batch_size=self._eval_batch_size(),
            generator=None, shuffle=False, keys=keys, dtype=dtype)
        if self.channels_last_:
            for batches in (self._train, self._val):
                if isinstance(getattr(batches, "X", None), torch.Tensor) and batches.X.ndim == 4:
                    # NOTE: once here; indexing a channels_last tensor keeps its format
                    batches.X = batches.X.contiguous(memory_format=torch.channels_last)
        if lazy:
            materialize_lazy(self.model_, self._train)
            if self._memory_format is not None:
                self.model_ = self.model_.to(memory_format=self._memory_format)
        check_outputs(self.model_, self._train, self._val, self.task)
        self.optimizer_ = build_optimizer(self.optimizer, self.model_, lr=self.lr,
                                          weight_decay=self.weight_decay, options=self.optimizer_options)
        self._epoch_steps = self._batches_per_epoch()
        self.schedule_ = build_schedule(self.schedule, self.optimizer_, epochs=self.epochs,
                                        steps_per_epoch=self._epoch_steps, monitor=monitor)
        self.scaler_ = torch.amp.GradScaler("cuda") if self.precision_.scaled else None
        self._weights = penalized(self.model_)
        self._params = [p for p in self.model_.parameters() if p.requires_grad]
        self._clipping = self.clip_grad_norm is not None or self.clip_grad_value is not None
        if self.loss is None:
            self._loss_fn = LOSSES[self.task]
        else:
            self._loss_fn = loss_on(self.loss, self.model_, self.device_)
        self._callbacks = self._callback_list()
        self._step_hooks = hooks(self._callbacks, "on_step_end")
        self._epoch_hooks = hooks(self._callbacks, "on_epoch_end")
        self.history_ = History(monitor=monitor)
        self.epoch_ = self.step_ = 0
        self._stop = False

    def _batches_per_epoch(self) -> int | None:
        """Optimizer steps per epoch: the training loader's ``len``, else ``steps_per_epoch``, in groups of
        ``accumulate`` batches (None when neither is known).

        Raises:
            ConfigError: ``steps_per_epoch`` given for a loader that has a ``len`` of its own.
        """
        counted = epoch_batches(self._train)
        if counted is not None and self.steps_per_epoch is not None:
            raise ConfigError(f"steps_per_epoch: {self.steps_per_epoch} given, but the training data has a length "
                              f"of its own ({counted} batches an epoch); leave steps_per_epoch out (it is for "
                              f"a DataLoader whose dataset has no __len__)")
        batches = self.steps_per_epoch if counted is None else counted
        return None if batches is None else -(-batches // self.accumulate)

    def _monitor(self, has_val: bool) -> str:
        if self.early_stopping is not None:
            return self.early_stopping.monitor
        return "val_loss" if has_val else "train_loss"

    def _eval_batch_size(self) -> int:
        return self.eval_batch_size or max(1024, int(self.batch_size))

    def _generator(self) -> torch.Generator:
        generator = torch.Generator(device=self.device_)
        seed = self.seed if self.seed is not None else int(torch.randint(2**62, (1,)))
        return generator.manual_seed(seed)

    def _callback_list(self) -> list[Any]:
        callbacks = [] if self.early_stopping is None else [self.early_stopping]
        callbacks += list(self.callbacks)
        if self.checkpoint_dir is not None:
            callbacks.append(Checkpointer(self.checkpoint_dir, every=self.checkpoint_every))
        return callbacks

    # ---- the loop -----------------------------------------------------------------------------

    def _run_epoch(self, epoch: int) -> None:
        start = time.perf_counter()
        train_loss, lrs = self._train_epoch(epoch)
        val_loss = val_accuracy = None
        values = dict.fromkeys(self.metrics_)
        if self._val is not None:
            val_loss, val_accuracy, values = measure(self.model_, self._val, self.task, self.precision_,
                                                     self.metrics_, self.weight_val_loss)
        record = {"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                  "val_accuracy": val_accuracy, **values, "lr": lrs[0], "seconds": time.perf_counter() - start}
        if any(lr != lrs[0] for lr in lrs):
            # NOTE: per-step schedules (one-cycle, cyclic, warmup) change the LR inside an epoch;
            # the record then carries the LR every step used, so the log shows what really ran.
            record["lr_steps"] = lrs
        self.history_.records.append(record)
        self.epoch_ = epoch
        if self.schedule_ is not None:
            self.schedule_.step_epoch(record)
        for hook in self._epoch_hooks:
            hook(self, record)

    def _train_epoch(self, epoch: int) -> tuple[float, list[float]]:
        schedule, step_hooks, k = self.schedule_, self._step_hooks, self.accumulate
        group = self.optimizer_.param_groups[0]
        losses, sizes, lrs, steps = [], [], [], []
        self.model_.train()
        # NOTE: a batch norm left in eval mode (a frozen backbone's own train()) takes a batch of one
        batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in self.model_.modules())
        transform = self.batch_transform
        # NOTE: exact once a streamed split's damaged rows are known; a stream without len: as the user said
        counted = epoch_batches(self._train)
        if schedule is not None:
            schedule.start_epoch(self._epoch_steps if counted is None else -(-counted // k))
        pending = 0  # batches whose gradients wait for the next optimizer step
        batch = -1
        for batch, (xb, yb, *wb) in enumerate(self._train):
            if transform is not None:
                xb, yb = transform(xb, yb)
            if len(yb) == 1 and batch_norm:
                raise _one_row_batch(batch, self._train)
            if pending == 0:
                self.optimizer_.zero_grad(set_to_none=True)
            lrs.append(group["lr"])
            # NOTE: each batch's loss is divided by its group's batches (the epoch's last group may be
            # shorter, known when the loader has a len), so the step follows the group's mean loss
            size = k if counted is None else min(k, counted - (batch - pending))
            losses.append(self._backward(xb, yb, wb[0] if wb else None, 1.0 / size))
            sizes.append(len(yb))
            steps.append(self.step_ + 1)
            pending += 1
            if pending == size:
                self._optimizer_step(epoch, batch, losses[-pending:], lrs[-1], schedule, step_hooks)
                pending = 0
        if pending:  # a stream's last, shorter group
            self._optimizer_step(epoch, batch, losses[-pending:], lrs[-1], schedule, step_hooks)
        if schedule is not None:
            schedule.end_epoch()
        # NOTE: the record's LRs are per optimizer step (a group's batches share theirs)
        step_lrs = [lr for i, lr in enumerate(lrs) if i == 0 or steps[i] != steps[i - 1]]
        return self._epoch_loss(epoch, losses, sizes, lrs, steps), step_lrs

    def _optimizer_step(self, epoch: int, batch: int, losses: list, lr: float, schedule: Any, step_hooks: list) -> None:
        """One optimizer step on the gradients gathered since the last one, then the schedule and the step hooks
        (``loss``: the mean of the group's batch losses)."""
        self._step()
        if schedule is not None:
            schedule.step_batch()
        self.step_ += 1
        if step_hooks:
            loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
            record = {"epoch": epoch, "step": self.step_, "batch": batch, "lr": lr, "loss": loss}
            for hook in step_hooks:
                hook(self, record)

    def _backward(self, xb: Any, yb: torch.Tensor, wb: torch.Tensor | None, scale: float) -> torch.Tensor:
        """Forward, loss and backward of one batch, its gradients added to the parameters' (``scale``: the
        share of its accumulation group); the batch's loss, detached."""
        if self._memory_format is not None and type(xb) is torch.Tensor and xb.ndim == 4:
            xb = xb.contiguous(memory_format=self._memory_format)  # a DataLoader's batch (in memory: done once)
        with self.precision_.autocast():
            out = self.model_(xb) if type(xb) is torch.Tensor else forward(self.model_, xb)
            if self.loss is None and type(out) is not torch.Tensor:  # a custom loss may take other outputs
                out = model_output(out, "train")
            loss = self._loss_fn(out, yb) if wb is None else self._weighted_loss(out, yb, wb)
        total = loss + self.l1 * l1_penalty(self._weights) if self.l1 else loss
        if scale != 1.0:
            total = total * scale
        (total if self.scaler_ is None else self.scaler_.scale(total)).backward()
        return loss.detach()

    def _step(self) -> None:
        """Clip (unscaled first under fp16) and step on the gathered gradients."""
        optimizer, scaler = self.optimizer_, self.scaler_
        if scaler is None:
            if self._clipping:
                clip_gradients(self._params, self.clip_grad_norm, self.clip_grad_value)
            optimizer.step()
        else:
            if self._clipping:
                scaler.unscale_(optimizer)
                clip_gradients(self._params, self.clip_grad_norm, self.clip_grad_value)
            scaler.step(optimizer)
            scaler.update()

    def _weighted_loss(self, out: torch.Tensor, yb: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
        """Σ wᵢ·lossᵢ / Σ wᵢ over the batch: the loss must give one value per example."""
        if self.loss is None:
            per = self._loss_fn(out, yb, reduction="none")
        else:
            per = self._loss_fn(out, yb)
            if per.ndim == 0:
                raise DataError("train: the batches carry sample weights but the loss returned one number; "
                                "pass a loss returning per-example values (reduction='none'), or drop the weights")
        return (per_example(per, yb) * wb).sum() / wb.sum()

    def _epoch_loss(self, epoch: int, losses: list, sizes: list, lrs: list, steps: list) -> float:
        """Example-weighted mean loss (one device sync); ``Diverged`` at the first non-finite batch (``steps``: the
        optimizer step each batch's gradients went into)."""
        if not losses:
            raise DataError(f"train: epoch {epoch} gave no rows to train on (every batch empty: a DataLoader whose "
                            f"every item was unreadable — see its dataset's `unreadable` — or one with no batches)")
        stacked = torch.stack(losses).float()
        weights = torch.tensor(sizes, dtype=stacked.dtype, device=stacked.device)
        mean = float((stacked * weights).sum() / weights.sum())
        if math.isfinite(mean):
            return mean
        k = int((~torch.isfinite(stacked)).nonzero()[0])
        raise Diverged(epoch=epoch, step=steps[k], lr=lrs[k], loss=float(stacked[k]))

    def _finish(self) -> None:
        history, es = self.history_, self.early_stopping
        if es is not None and es.best_epoch is not None:
            history.best_epoch = es.best_epoch
        else:
            mode = es.mode_ if es is not None else "min"
            history.best_epoch = best_epoch(history.records, history.monitor, mode)
        history.stopped_early = self.epoch_ < self.epochs

#: Other tools' Trainer methods → knobs' (Lightning's ``test``, Keras' ``evaluate`` on a model, ``history``)
_FOREIGN_METHODS = {
    "test": "; knobs' is trainer.evaluate(model, test)", "score": "; knobs' is trainer.evaluate(model, data)",
    "history": "; fit returns it: history = trainer.fit(model, train, val) (also trainer.history_ after a fit)",
    "lr_find": "; it is knobs.train.lr_find(model, train)", "tune": "; knobs.train.lr_find(model, train) finds an LR",
}

#: Keras' loss names → what they are here (a ``loss`` given by name was only told to be a callable)
_LOSS_NAMES = {
    **dict.fromkeys(("cross_entropy", "crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
                     "mse", "mean_squared_error", "binary_crossentropy", "bce"),
                    " — the task's default already (cross-entropy; a one-logit model's, or a multi-label task's, binary "
                    "cross-entropy; MSE for a regression): leave loss out"),
    "focal": " — knobs.balance.FocalLoss()", "huber": " — nn.HuberLoss()", "mae": " — nn.L1Loss()",
    "mean_absolute_error": " — nn.L1Loss()",
}

#: Other tools' Trainer / fit arguments whose knobs counterpart is not a renamed argument: what to do instead
_ELSEWHERE = {
    "validation_split": "pass the fraction as fit's val: trainer.fit(model, train, 0.2)",
    "validation_data": "pass it as fit's val: trainer.fit(model, train, val)",
    "class_weight": "weigh the loss: loss=nn.CrossEntropyLoss(weight=torch.tensor(knobs.balance.class_weights(y)))",
    "gradient_clip_algorithm": "clip_grad_norm clips the norm, clip_grad_value each value",
}


def _unknown_argument(name: str) -> ConfigError:
    """One message for a keyword ``Trainer`` does not take: another tool's name for one of its arguments
    (Lightning's ``max_epochs``, ``gradient_clip_val``, ``accumulate_grad_batches``; Keras' ``clipnorm``) is told the
    argument it means (Python's own words were "unexpected keyword argument")."""
    import inspect

    from knobs._validation import did_you_mean

    if name in _ELSEWHERE:
        return ConfigError(f"Trainer: no argument {name!r}; {_ELSEWHERE[name]}")
    known = [p for p in inspect.signature(Trainer.__init__).parameters if p not in ("self", "unknown")]
    return ConfigError(f"Trainer: unknown argument {name!r}{did_you_mean(name, known)}; it takes "
                       f"{', '.join(known)}")


def _plain_number(value: Any) -> Any:
    """A NumPy scalar or a one-element torch tensor as the Python number it holds; anything else as it is."""
    if isinstance(value, np.generic) and isinstance(value.item(), (int, float)) and not isinstance(value, np.bool_):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.requires_grad and \
            not value.dtype == torch.bool:
        return value.item()
    return value


def _array(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim >= 1


def _fit_argument(name: str) -> ConfigError:
    """One message for a keyword ``fit`` does not take: Keras' ``fit(epochs=..., batch_size=...)`` are the Trainer's
    settings here (Python's own words were "unexpected keyword argument")."""
    import inspect

    if name in ("validation_data", "validation_split"):
        return ConfigError(f"fit: no argument {name!r}; {_ELSEWHERE[name]}")
    if name in ("verbose", "shuffle"):
        return ConfigError(f"fit: no argument {name!r}; "
                           + ("training rows in memory or in a Dataset are drawn in a seeded random order "
                              "(Trainer(seed=...)); a DataLoader's own sampler orders its batches" if name == "shuffle"
                              else "a progress display is a callback: Trainer(callbacks=[knobs.train.ProgressBar()])"))
    settings = [p for p in inspect.signature(Trainer.__init__).parameters if p not in ("self", "unknown")]
    if name in settings:
        return ConfigError(f"fit: {name!r} is a Trainer setting: Trainer({name}=...).fit(model, train, val)")
    return ConfigError(f"fit: unknown argument {name!r}; it takes model, train, val and resume_from")


def _one_row_batch(batch: int, batches: Any) -> DataError:
    """A DataLoader's training batch of one row for a model with batch norm, whose training-mode statistics need two
    (torch's own words: "Expected more than 1 value per channel when training")."""
    loader = getattr(batches, "loader", None)
    try:
        rows = len(loader.dataset)
    except (AttributeError, TypeError):  # a stream (IterableDataset) has no length
        rows = 0
    size = getattr(loader, "batch_size", None)
    why = f" ({rows} rows in batches of {size} leave one over)" if rows and size else ""
    return DataError(f"train: batch {batch} of the DataLoader holds 1 row{why}, and batch norm cannot take the "
                     f"statistics of one row in training; give the DataLoader drop_last=True or another batch_size, "
                     f"or pass its Dataset itself (knobs never makes a batch of one)")


def _check_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


def _check_number(name: str, value: Any, *, allow_zero: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name}: expected a number {'>=' if allow_zero else '>'} 0, got {value!r}")


def _describe(fn: Any) -> str | None:
    """A stable name for a loss or transform in ``settings()`` (no memory addresses, so a
    resumed fit with the same function compares equal)."""
    if fn is None:
        return None
    text = repr(fn)
    if " at 0x" not in text:  # modules and objects with a real __repr__ (weights, gamma...)
        return text
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{getattr(fn, '__module__', None) or type(fn).__module__}.{name}"
