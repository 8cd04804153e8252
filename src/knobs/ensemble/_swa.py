"""``SWA``: stochastic weight averaging and Polyak/EMA averaging as a Trainer callback.

Izmailov et al. (2018): averaging the weights visited late in training (at a constant or cyclic
learning rate) lands in a flatter, better-generalizing region than any single iterate — one model
with an ensemble's benefit at one model's inference cost. Everything numeric is torch's
``torch.optim.swa_utils``: ``AveragedModel`` keeps the running mean (or an exponential moving
average), ``SWALR`` anneals the learning rate to ``swa_lr``, ``update_bn`` recomputes the batch-norm
statistics.

Why the batch-norm pass is not optional: the running statistics a network carries belong to
*its* weights; the averaged weights never produced any activations, so their batch-norm layers
would normalize with the statistics of other weights. Forgetting this pass is the bug that has
destroyed SWA accuracy in other libraries; here it runs at the end of every fit, over the
training data (or ``bn_data``).

Example:
    >>> swa = SWA(start=30, swa_lr=0.01)  # doctest: +SKIP
    >>> Trainer(optimizer="sgd", lr=0.05, epochs=40, callbacks=[swa]).fit(model, train, val)  # doctest: +SKIP
    >>> probs = swa.member().predict_proba(X_test)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn

from knobs.ensemble._torch_member import TorchMember
from knobs.errors import ConfigError
from knobs.train import Callback

__all__ = ["SWA", "EVERY"]

EVERY = ("epoch", "step")


class SWA(Callback):
    """Average the weights of the late part of a fit; recompute batch-norm statistics at its end.

    Args:
        start: the first epoch (1-based) whose weights enter the average.
        swa_lr: ``None`` leaves the LR to the Trainer's schedule (e.g. a cyclic one); a number
            makes ``SWALR`` anneal the LR to it over ``anneal_epochs`` epochs from the end of
            epoch ``start`` on (the Trainer must then have ``schedule=None``).
        anneal_epochs: ``SWALR``'s annealing epochs (0: jump to ``swa_lr`` at epoch ``start``).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        every: ``"epoch"`` averages the weights at each epoch end (SWA); ``"step"`` averages every
            iterate (Polyak-Ruppert averaging).
        ema_decay: ``None`` for the equal-weight mean; a number in (0, 1) for an exponential
            moving average, ``avg = decay * avg + (1 - decay) * weights``.
        bn_data: inputs for the batch-norm pass: a tensor ``X``, a pair ``(X, y)`` or a
            DataLoader; ``None`` uses the Trainer's training data.
        bn_batch_size: rows per forward pass when ``bn_data`` is a tensor or pair.

    Attributes (after ``fit``):
        averaged_: the ``torch.optim.swa_utils.AveragedModel``.
        model_: the averaged network itself (``averaged_.module``), batch norm updated.
        n_averaged_: how many weight sets the average holds.
    """

    def __init__(self, start: int = 1, swa_lr: float | None = None, anneal_epochs: int = 1,
                 anneal_strategy: str = "cos", every: str = "epoch", ema_decay: float | None = None,
                 bn_data: Any = None, bn_batch_size: int = 1024) -> None:
        self.start = start
        self.swa_lr = swa_lr
        self.anneal_epochs = anneal_epochs
        self.anneal_strategy = anneal_strategy
        self.every = every
        self.ema_decay = ema_decay
        self.bn_data = bn_data
        self.bn_batch_size = bn_batch_size

    @property
    def model_(self) -> nn.Module:
        averaged = getattr(self, "averaged_", None)
        if averaged is None or int(averaged.n_averaged) == 0:
            raise ConfigError(f"SWA holds no average: fit a Trainer with it in callbacks, for at least start="
                              f"{self.start} epochs")
        return averaged.module

    @property
    def n_averaged_(self) -> int:
        return int(self.averaged_.n_averaged)

    def member(self, name: str = "swa") -> TorchMember:
        """The averaged network as an ensemble member."""
        return TorchMember(self.model_, name=name)

    # ---- callback hooks -------------------------------------------------------------------------

    def on_fit_start(self, trainer: Any) -> None:
        self._check(trainer)
        avg_fn = None if self.ema_decay is None else get_ema_multi_avg_fn(self.ema_decay)
        self.averaged_ = AveragedModel(trainer.model_, multi_avg_fn=avg_fn)
        self._swalr = self._scheduler(trainer) if self.swa_lr is not None and self.start == 1 else None

    def on_step_end(self, trainer: Any, step_record: dict) -> None:
        if self.every == "step" and step_record["epoch"] >= self.start:
            self.averaged_.update_parameters(trainer.model_)

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        epoch = record["epoch"]
        if self.every == "epoch" and epoch >= self.start:
            self.averaged_.update_parameters(trainer.model_)
        if self.swa_lr is None:
            return
        if epoch == self.start - 1:
            self._swalr = self._scheduler(trainer)
        elif epoch >= self.start:
            self._swalr.step()

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        if int(self.averaged_.n_averaged) > 0:
            self._update_bn(trainer)

    # ---- helpers --------------------------------------------------------------------------------

    def _check(self, trainer: Any) -> None:
        if isinstance(self.start, bool) or not isinstance(self.start, int) or not 1 <= self.start <= trainer.epochs:
            raise ConfigError(f"SWA start must be an integer epoch in [1, {trainer.epochs}] (the Trainer's epochs), "
                              f"got {self.start!r}")
        if self.every not in EVERY:
            raise ConfigError(f"SWA every must be one of {EVERY}, got {self.every!r}")
        if self.ema_decay is not None and not (_is_number(self.ema_decay) and 0 < self.ema_decay < 1):
            raise ConfigError(f"SWA ema_decay must be None or a number in (0, 1), got {self.ema_decay!r}")
        if self.swa_lr is None:
            return
        if not (_is_number(self.swa_lr) and self.swa_lr > 0):
            raise ConfigError(f"SWA swa_lr must be None or a number > 0, got {self.swa_lr!r}")
        if trainer.schedule is not None:
            raise ConfigError(f"SWA swa_lr={self.swa_lr} drives the learning rate with SWALR, but the Trainer also has "
                              f"schedule={trainer.schedule!r}, which would overwrite it every step; use schedule=None, "
                              "or swa_lr=None to average under the Trainer's schedule")
        if isinstance(self.anneal_epochs, bool) or not isinstance(self.anneal_epochs, int) or self.anneal_epochs < 0:
            raise ConfigError(f"SWA anneal_epochs must be an integer >= 0, got {self.anneal_epochs!r}")
        if self.anneal_strategy not in ("cos", "linear"):
            raise ConfigError(f"SWA anneal_strategy must be 'cos' or 'linear', got {self.anneal_strategy!r}")

    def _scheduler(self, trainer: Any) -> SWALR:
        return SWALR(trainer.optimizer_, swa_lr=self.swa_lr, anneal_epochs=self.anneal_epochs,
                     anneal_strategy=self.anneal_strategy)

    def _update_bn(self, trainer: Any) -> None:
        """``update_bn`` over ``bn_data`` or the training batches, leaving the shuffling RNG as it was."""
        if self.bn_data is not None:
            update_bn(_inputs(self.bn_data, self.bn_batch_size), self.averaged_, device=trainer.device_)
            return
        # NOTE: the Trainer has no public handle on its training batches; `_train` is what its own
        # resume code reads. Iterating it draws a permutation from the trainer's generator, so the
        # generator's state is put back: a later `trainer.save` records the state training left.
        batches = trainer._train
        generator = getattr(batches, "generator", None)
        saved = generator.get_state() if generator is not None else None
        try:
            update_bn(batches, self.averaged_, device=trainer.device_)
        finally:
            if saved is not None:
                generator.set_state(saved)


def _inputs(data: Any, batch_size: int) -> Iterable[Any]:
    """Batches ``update_bn`` can read from a tensor, an ``(X, y)`` pair or a DataLoader."""
    if isinstance(data, tuple) and len(data) == 2:
        data = data[0]
    if isinstance(data, torch.utils.data.DataLoader):
        return data
    X = torch.as_tensor(data).float() if not isinstance(data, torch.Tensor) else data
    if X.ndim < 2 or len(X) == 0:
        raise ConfigError(f"SWA bn_data must be X (n_samples, ...), (X, y) or a DataLoader, got shape {tuple(X.shape)}")
    starts = list(range(0, len(X), batch_size))
    if len(starts) > 1 and len(X) - starts[-1] == 1:
        starts.pop()  # NOTE: a batch of one row has no variance; batch norm in train mode rejects it
    return [X[a:b] for a, b in zip(starts, starts[1:] + [len(X)])]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
