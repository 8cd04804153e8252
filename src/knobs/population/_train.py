"""``train_population``: P configurations of one architecture trained at once, as one program.

Why: a small model leaves an accelerator (and a CPU core's vector units) mostly idle, and a
one-by-one search pays Python and kernel-launch overhead per trial per step. Here the members'
parameters are stacked (``StackedModel``), ``torch.func.vmap`` runs every member's forward and
loss in one call, one backward gives every member's gradient (the members' losses are summed;
a sum's gradient is each member's own), and one vectorized optimizer step (``VectorOptimizer``)
updates them all with their own LR, weight decay, momentum or betas from per-member schedule
tables. At each epoch's end each member is validated, early stopping and pruning are decided per
member, and members that stop (early stopping, ``knobs.Pruned`` from ``on_epoch``, divergence)
are frozen: their weights are handed back and their rows leave the stack, so the ones left run
faster.

What equals a one-by-one ``Trainer`` run with the same seed: the initial weights, the batches
(each member draws its own order from a generator seeded like the Trainer's), the schedule, the
update rule, early stopping and best-weights restore — up to float rounding, as the tests check.
What differs: dropout masks come from one vmapped random stream, not the member's own (same
distribution, other draws), and ``seconds`` is the population's epoch time.

Example:
    >>> import torch
    >>> X, y = torch.randn(96, 8), torch.randint(0, 3, (96,))
    >>> results = train_population("mlp", {"width": 16, "depth": 1},
    ...                            [{"lr": 1e-2}, {"lr": 3e-3, "weight_decay": 1e-4}],
    ...                            train=(X, y), val=(X, y), epochs=2, batch_size=32, device="cpu")
    >>> [len(r.records) for r in results]
    [2, 2]
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
from torch.func import vmap

from knobs.population._batches import MemberBatches, PlainBatches, SharedBatches, population_batches, refuse_weights
from knobs.population._checks import check_loop, check_precision, model_shapes
from knobs.population._members import Member, resolve_members
from knobs.population._schedules import schedule_tables
from knobs.population._stack import StackedModel
from knobs.population._tracking import MemberLog, MemberResult, divergence
from knobs.population._update import VectorOptimizer
from knobs.train._batches import LoaderBatches, check_outputs, make_batches
from knobs.train._device import configure_backends, resolve_device
from knobs.train._metrics import LOSSES
from knobs.train._regularization import l1_penalty
from knobs.models import build_model
from knobs.trial import Pruned

__all__ = ["train_population", "PopulationRun"]

OnEpoch = Callable[[int, dict], None]
OnEpochEnd = Callable[[list[tuple[int, dict]]], Iterable[int]]


def train_population(family: str = "mlp", model_params: dict[str, Any] | None = None,
                     member_params: Sequence[dict[str, Any]] = (), train: Any = None, val: Any = None, *,
                     epochs: int = 30, batch_size: int = 64, optimizer: str = "adam", schedule: Any = None,
                     patience: int | None = None, min_delta: float = 0.0, monitor: str = "val_loss",
                     device: str = "auto", precision: str = "auto", seed: int | Sequence[int] = 0,
                     task: str = "classification", input_shape: Sequence[int] | None = None,
                     n_classes: int | None = None, eval_batch_size: int | None = None, loss: Any = None,
                     on_epoch: OnEpoch | None = None, on_epoch_end: OnEpochEnd | None = None) -> list[MemberResult]:
    """Train one member per dict of ``member_params`` together; results in member order.

    Args:
        family: "mlp" or "convnet".
        model_params: architecture (and default) keys shared by all members, e.g. ``{"width": 256}``.
        member_params: one dict per member: ``lr``, ``weight_decay``, ``dropout``, ``momentum``,
            ``dampening``, ``nesterov``, ``beta1``, ``beta2``, ``eps``, ``l1``, ``clip_grad_norm``,
            ``clip_grad_value``, ``optimizer`` (within one family: sgd/momentum/nesterov or
            adam/adamw). Architecture and shared keys may appear too if every member agrees.
        train: ``(X, y)`` tensors (each member its own seeded order) or a DataLoader (one shared order).
        val: ``(X, y)`` or a DataLoader, for val_loss/val_accuracy and early stopping.
        epochs, batch_size, optimizer, schedule: as ``Trainer`` takes them, shared by all members
            (``plateau`` is not available).
        patience: early stopping per member after this many epochs without improvement of
            ``monitor`` by more than ``min_delta``, best weights restored; None: no early stopping.
        monitor: "val_loss", "val_accuracy" or "train_loss".
        device: "auto", "cpu", "cuda", "cuda:N". precision: "auto", "fp32" or "bf16".
        seed: member i uses ``seed + i`` (or ``seed[i]`` for a list) for its initial weights and
            its batch order — what a one-by-one ``Trainer(seed=s)`` after ``torch.manual_seed(s)`` uses.
        task: "classification" or "regression".
        input_shape, n_classes: the model's; inferred from ``(X, y)`` data when None (needed for a
            DataLoader).
        eval_batch_size: validation batch size (default max(1024, batch_size)).
        loss: the training loss shared by every member, ``loss(outputs, targets)`` (e.g. a class-
            weighted ``nn.CrossEntropyLoss`` or ``knobs.balance.FocalLoss``); None: cross-entropy
            or MSE. Validation is measured with the plain loss, as ``Trainer`` measures it.
        on_epoch: ``on_epoch(index, record)`` after each member's epoch; raising ``knobs.Pruned``
            stops that member (others go on); any other exception ends the run.
        on_epoch_end: ``on_epoch_end([(index, record), ...])`` once per epoch, after ``on_epoch``,
            with every member that finished the epoch (diverged ones excepted), in member
            order; returns the indices to stop as pruned. One call per epoch lets a study store
            and judge all members' values at once (``knobs.trial.report_many``).

    Raises:
        ConfigError: no members (P = 0), members of different architectures or optimizer
            families, an optimizer or schedule population mode lacks, or any bad setting.
        DataError: bad data (as ``Trainer.fit`` reports it).
    """
    run = PopulationRun(family, model_params, member_params, epochs=epochs, batch_size=batch_size,
                        optimizer=optimizer, schedule=schedule, patience=patience, min_delta=min_delta,
                        monitor=monitor, device=device, precision=precision, seed=seed, task=task,
                        input_shape=input_shape, n_classes=n_classes, eval_batch_size=eval_batch_size, loss=loss,
                        on_epoch=on_epoch, on_epoch_end=on_epoch_end)
    return run.fit(train, val)


class PopulationRun:
    """The loop's state for one population (see ``train_population`` for the arguments).

    Attributes set by ``fit``: ``shared_``, ``members_``, ``device_``, ``precision_``, ``stack_``
    (the members still training), ``optimizer_``, ``epoch_``, ``step_``.
    """

    def __init__(self, family: str, model_params: dict | None, member_params: Sequence[dict], **settings: Any) -> None:
        self.family, self.model_params, self.member_params = family, model_params, member_params
        self.settings = settings

    def fit(self, train: Any, val: Any) -> list[MemberResult]:
        """Train every member to its end; results in member order."""
        self._prepare(train, val)
        while self._logs and self.epoch_ < self.shared_.epochs:
            self._run_epoch(self.epoch_ + 1)
        self._retire(range(len(self._logs)))
        return sorted(self._results, key=lambda r: r.index)

    # ---- setup ----------------------------------------------------------------------------------

    def _prepare(self, train: Any, val: Any) -> None:
        s = self.settings
        self.shared_, self.members_ = resolve_members(
            self.family, self.model_params, self.member_params, optimizer=s["optimizer"], epochs=s["epochs"],
            batch_size=s["batch_size"], schedule=s["schedule"], seed=s["seed"], device=s["device"],
            precision=s["precision"], task=s["task"])
        self._monitor, mode = check_loop(s, has_val=val is not None)
        self.device_ = resolve_device(s["device"])
        self.precision_ = check_precision(s["precision"], self.device_)
        configure_backends(self.device_, self.precision_)
        seeds = [m.seed for m in self.members_]
        self._data(train, val, seeds)
        self.stack_ = StackedModel.build(self.family, self._input_shape, self._n_classes, self.shared_.architecture,
                                         dropouts=[m.dropout for m in self.members_], seeds=seeds, device=self.device_)
        torch.manual_seed(seeds[0])  # dropout masks: one stream for the population, seeded
        lr, momentum = schedule_tables(self.shared_.schedule, [(m.optimizer, m.kwargs) for m in self.members_],
                                       epochs=self.shared_.epochs, steps_per_epoch=len(self._train))
        self.optimizer_ = VectorOptimizer.build(self.shared_.optimizer_family, lr, momentum, self.members_,
                                                self.stack_.n_decay, self.stack_.flat.shape[1], self.device_)
        self._lrs = lr
        self._regularizers(self.members_)
        loss = s.get("loss")
        self._loss = LOSSES[s["task"]] if loss is None else (loss.to(self.device_) if isinstance(loss, torch.nn.Module)
                                                               else loss)
        self._logs = [MemberLog(m, self._monitor, mode, s["patience"], s["min_delta"]) for m in self.members_]
        self._best: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None
        self._results: list[MemberResult] = []
        x_dim = 0 if self._train.per_member else None
        self._train_fn = vmap(self._member_loss, in_dims=(0, 0, x_dim, x_dim, None if self._l1 is None else 0),
                              randomness="different")
        self._eval_fn = vmap(self._member_eval, in_dims=(0, 0, None, None), randomness="different")
        self._weights = [i for i, slot in enumerate(self.stack_.slots) if len(slot.shape) >= 2]
        self.epoch_ = self.step_ = 0

    def _data(self, train: Any, val: Any, seeds: list[int]) -> None:
        s = self.settings
        task, batch_size = s["task"], self.shared_.batch_size
        batches = make_batches(train, "train", task=task, device=self.device_, batch_size=batch_size,
                               generator=None, shuffle=True)
        eval_size = s["eval_batch_size"] or max(1024, int(batch_size))
        self._val = None if val is None else make_batches(val, "val", task=task, device=self.device_,
                                                          batch_size=eval_size, generator=None, shuffle=False)
        refuse_weights(batches, "train")
        refuse_weights(self._val, "val")
        if isinstance(self._val, LoaderBatches):
            self._val = PlainBatches(self._val, "val")
        self._input_shape, self._n_classes = model_shapes(batches, self._val, s["input_shape"], s["n_classes"], task)
        probe = build_model(self.family, input_shape=self._input_shape, n_classes=self._n_classes,
                            **self.shared_.architecture).to(self.device_)
        check_outputs(probe, batches, self._val, task)
        self._train: MemberBatches | SharedBatches = population_batches(batches, batch_size=batch_size, seeds=seeds)

    def _regularizers(self, members: list[Member]) -> None:
        def column(values: list[float | None], unset: float) -> torch.Tensor | None:
            if all(v is None or v == 0 for v in values):
                return None
            return torch.tensor([unset if v is None else float(v) for v in values], device=self.device_)
        self._l1 = column([m.l1 for m in members], 0.0)
        self._clip_value = column([m.clip_grad_value for m in members], math.inf)
        self._clip_norm = column([m.clip_grad_norm for m in members], math.inf)

    # ---- one member's computation (vmap maps it over the members) ------------------------------

    def _member_loss(self, params, buffers, x, y, l1):
        loss = self._loss(self.stack_.call(params, buffers, x), y)
        if l1 is None:
            return loss, loss
        return loss + l1 * l1_penalty([params[i] for i in self._weights]), loss

    def _member_eval(self, params, buffers, x, y):
        out = self.stack_.call(params, buffers, x).float()
        task = self.settings["task"]
        hits = ((out.argmax(dim=1) == y).sum() if task == "classification" else
                ((out > 0) == (y > 0.5)).sum() if task == "multilabel" else out.new_zeros((), dtype=torch.long))
        return LOSSES[task](out, y, reduction="sum"), hits

    # ---- the loop -------------------------------------------------------------------------------

    def _run_epoch(self, epoch: int) -> None:
        start = time.perf_counter()
        losses, sizes = self._train_epoch()
        val_loss, val_accuracy = self._validate()
        seconds = time.perf_counter() - start
        improved = self._settle(epoch, losses, sizes, val_loss, val_accuracy, seconds)
        self._keep_best(improved)
        self.epoch_ = epoch
        self._retire([j for j, log in enumerate(self._logs) if log.done])

    def _train_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        stack, step = self.stack_, self.optimizer_.step
        stack.base.train()
        losses, sizes = [], []
        for xb, yb in self._train:
            params = stack.views()
            with self.precision_.autocast():
                total, loss = self._train_fn(params, stack.buffers, xb, yb, self._l1)
            grads = torch.autograd.grad(total.sum(), params)
            with torch.no_grad():
                grad = torch.cat([g.reshape(len(g), -1) for g in grads], dim=1)
                self._clip(grad)
                step(stack.flat, grad, self.step_)
            losses.append(loss.detach())
            sizes.append(xb.shape[1] if self._train.per_member else xb.shape[0])
            self.step_ += 1
        # NOTE: one device-to-host copy per epoch; the per-step losses are needed only to name the
        # step at which a member diverged.
        return torch.stack(losses).float().cpu(), torch.tensor(sizes, dtype=torch.float32)

    def _clip(self, grad: torch.Tensor) -> None:
        """Per member: each entry to ±clip_grad_value, then the row's L2 norm to clip_grad_norm."""
        if self._clip_value is not None:
            limit = self._clip_value.unsqueeze(1)
            grad.clamp_(min=-limit, max=limit)
        if self._clip_norm is not None:
            norm = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
            # NOTE: torch.nn.utils.clip_grad_norm_'s rule: scale by max_norm/(norm + 1e-6), at most 1.
            grad.mul_((self._clip_norm.unsqueeze(1) / (norm + 1e-6)).clamp_(max=1.0))

    def _validate(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Per-member mean validation loss and accuracy (None without validation data)."""
        if self._val is None:
            return None, None
        stack = self.stack_
        params = [v.detach() for v in stack.views()]
        stack.base.eval()
        sums, hits, count = [], [], 0
        try:
            with torch.no_grad():
                for xb, yb in self._val:
                    with self.precision_.autocast():
                        loss_sum, hit = self._eval_fn(params, stack.buffers, xb, yb)
                    sums.append(loss_sum.float())
                    hits.append(hit)
                    count += yb.numel()
        finally:
            stack.base.train()
        loss = torch.stack(sums).sum(0).double().cpu().numpy() / count
        accuracy = torch.stack(hits).sum(0).double().cpu().numpy() / count
        return loss, (accuracy if self.settings["task"] != "regression" else None)  # multilabel: of the labels

    def _settle(self, epoch: int, losses: torch.Tensor, sizes: torch.Tensor, val_loss, val_accuracy,
                seconds: float) -> list[int]:
        """Write each member's record, decide early stopping, pruning and divergence; return the
        positions whose weights improved."""
        train_loss = ((losses * sizes[:, None]).sum(0) / sizes.sum()).double().numpy()
        first = self.step_ - len(losses)
        improved, finished = [], []
        for j, log in enumerate(self._logs):
            lrs = self._lrs[first:self.step_, j]
            if not math.isfinite(train_loss[j]):
                log.diverged = divergence(losses[:, j].numpy(), lrs, epoch=epoch, first_step=first + 1)
                continue
            record = _record(epoch, train_loss[j], val_loss, val_accuracy, j, lrs, seconds)
            if log.add(record):
                improved.append(j)
            on_epoch = self.settings["on_epoch"]
            if on_epoch is not None:
                try:
                    on_epoch(log.member.index, record)
                except Pruned:
                    log.pruned = True
            finished.append((log, record))
        self._end_epoch(finished)
        return improved

    def _end_epoch(self, finished: list[tuple[MemberLog, dict]]) -> None:
        on_epoch_end = self.settings.get("on_epoch_end")
        if on_epoch_end is None or not finished:
            return
        stop = set(on_epoch_end([(log.member.index, record) for log, record in finished]))
        for log, _ in finished:
            log.pruned = log.pruned or log.member.index in stop

    def _keep_best(self, improved: list[int]) -> None:
        """Copy the improved members' weights and buffers (on the device)."""
        if not improved:
            return
        stack = self.stack_
        if self._best is None:
            self._best = (stack.flat.clone(), {k: v.clone() for k, v in stack.buffers.items()})
            return
        idx = torch.tensor(improved, device=self.device_)
        flat, buffers = self._best
        flat.index_copy_(0, idx, stack.flat.index_select(0, idx))
        for k, v in buffers.items():
            v.index_copy_(0, idx, stack.buffers[k].index_select(0, idx))

    def _retire(self, positions: Sequence[int]) -> None:
        """Hand back the members at ``positions`` and drop their rows from everything stacked."""
        positions = list(positions)
        if not positions:
            return
        for j in positions:
            self._results.append(self._logs[j].result(self.shared_.epochs, self._state(j)))
        keep = [j for j in range(len(self._logs)) if j not in set(positions)]
        self._logs = [self._logs[j] for j in keep]
        if not keep:
            return
        idx = torch.tensor(keep, device=self.device_)
        self.stack_.select(idx)
        self.optimizer_.select(idx)
        self._train.select(keep)
        self._lrs = self._lrs[:, keep]
        if self._best is not None:
            self._best = (self._best[0].index_select(0, idx), {k: v.index_select(0, idx) for k, v in self._best[1].items()})
        for name in ("_l1", "_clip_value", "_clip_norm"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name).index_select(0, idx))

    def _state(self, j: int) -> dict[str, torch.Tensor] | None:
        log = self._logs[j]
        if log.diverged is not None:
            return None
        flat, buffers = self._best if log.restores_best and self._best is not None else (self.stack_.flat, self.stack_.buffers)
        return self.stack_.member_state(flat[j], {k: v[j] for k, v in buffers.items()}, log.member.dropout)


def _record(epoch: int, train_loss: float, val_loss, val_accuracy, j: int, lrs: np.ndarray, seconds: float) -> dict:
    record = {"epoch": epoch, "train_loss": float(train_loss),
              "val_loss": None if val_loss is None else float(val_loss[j]),
              "val_accuracy": None if val_accuracy is None else float(val_accuracy[j]),
              "lr": float(lrs[0]), "seconds": seconds}
    if (lrs != lrs[0]).any():
        record["lr_steps"] = [float(v) for v in lrs]
    return record
