"""``Watch``: cheap probes on a training run, as a Trainer callback, recorded as plain data.

Call order (the Trainer's callback events): ``on_fit_start`` snapshots the weights and arms the
activation hooks for step 1; every sampled step ``s`` (``s = 1, 1 + every, 1 + 2·every, …``) is
preceded by a weight snapshot and armed hooks at the end of step ``s − 1``, and read at the end of
step ``s``: the update/weight ratio of every parameter tensor (the snapshot against the weights
after the step), every tensor's gradient norm (``.grad`` still holds step ``s``'s gradients), and
the activation statistics of ``ActivationProbe``. ``on_epoch_end`` adds the epoch's loss-curve
statistics and the train/validation gap. ``on_fit_end`` (or ``close()``, for a fit that raised)
takes every hook off.

Why only sampled steps: the statistics cost a few reductions per tensor; taken every ``every``
steps they stay a small fraction of training time (bench/diagnose.py measures it). The loss of
every step is kept as the 0-d tensor the Trainer hands over and read once per epoch, so the loss
curve costs no device synchronization per step.

Every record is JSON-serializable (non-finite numbers become None, with the names of tensors whose
gradients were not finite listed under ``nonfinite``), so a pipeline can pass ``sink`` an event
log writer and a report can plot the records.

Example:
    >>> import torch; from torch import nn
    >>> from knobs.train import Trainer
    >>> X, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    >>> watch = Watch(every=2)
    >>> _ = Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=16, callbacks=[watch]).fit(
    ...     nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), (X, y), (X, y))
    >>> [p["step"] for p in watch.probes], len(watch.epochs)
    ([1, 3, 5, 7], 2)
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.train import Callback
from knobs.watch._curve import curve_stats, gap_series, relative_noise
from knobs.watch._hooks import ActivationProbe
from knobs.watch._stats import finite_or_none, norms, ratio

__all__ = ["Watch", "EVERY"]

# NOTE: a probe costs about half a millisecond of eager PyTorch on a CPU (a few dozen small
# reductions), about half of a small MLP's training step; one probe in 50 steps keeps the whole
# watch under 5% of training time even there (bench/diagnose.py), and far under on larger models.
EVERY = 50


class Watch(Callback):
    """Probes attached to ``Trainer.fit`` through its callback interface.

    Args:
        every: probe one step in ``every`` (steps 1, 1 + every, ...).
        activations: record dead-ReLU and saturation fractions (forward hooks on sampled steps).
        sink: called with each record (``{"kind": "probe" | "epoch", ...}``) as it is made, e.g.
            to append it to events.jsonl.

    Attributes (filled by a fit):
        probes: one record per sampled step: ``step``, ``epoch``, ``lr``, ``loss``,
            ``grad_norm`` (global), ``params`` (``{name: {grad_norm, weight_norm, update_ratio}}``),
            ``activations`` (``{module: {kind, signal_std, dead_fraction, zero_fraction}`` for
            ReLUs, ``{kind, signal_std, saturated_fraction}`` for tanh/sigmoid/ELU/SELU/CELU/Softplus
            and GELU/SiLU (their flat negative tail, read from their input)), ``nonfinite`` (names).
        epochs: one record per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy``,
            ``gap`` (val − train loss), ``lr`` and ``step_loss`` (statistics of that epoch's
            per-step losses: mean, min, max, relative noise).
        step_losses: the loss of every step (floats), for curve statistics.
        layer_order: parameter tensor names in the order their modules ran (input side first;
            registration order when ``activations=False``).
        feeds: activation module → the module with parameters that ran just before it (the layer
            whose units it holds), from the first probed pass; empty when ``activations=False``.
        shapes: the shape of every trainable parameter tensor.
    """

    def __init__(self, every: int = EVERY, activations: bool = True,
                 sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.every = every
        self.activations = activations
        self.sink = sink
        self.probes: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self.step_losses: list[float] = []
        self.layer_order: list[str] = []
        self.shapes: dict[str, list[int]] = {}
        self.feeds: dict[str, str | None] = {}
        self.model: nn.Module | None = None
        self._params: dict[str, nn.Parameter] = {}
        self._ordered = False
        self._probe: ActivationProbe | None = None
        self._before: dict[str, torch.Tensor] | None = None
        self._armed_step: int | None = None
        self._pending: list[torch.Tensor] = []

    # ---- callback events ------------------------------------------------------------------------

    def on_fit_start(self, trainer: Any) -> None:
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise ConfigError(f"Watch every: expected an integer >= 1, got {self.every!r}")
        self.close()
        self.model = trainer.model_
        self.probes, self.epochs, self.step_losses, self._pending = [], [], [], []
        self._params = {name: p for name, p in self.model.named_parameters() if p.requires_grad}
        self.shapes = {name: list(p.shape) for name, p in self._params.items()}
        # NOTE: registration order until the first hooked forward pass gives the true one.
        self.layer_order, self._ordered, self.feeds = list(self._params), False, {}
        self._probe = ActivationProbe(self.model) if self.activations else None
        if trainer.step_ % self.every == 0:
            self._arm(trainer.step_ + 1)

    def on_step_end(self, trainer: Any, step_record: dict) -> None:
        self._pending.append(step_record["loss"])
        step = step_record["step"]
        if self._armed_step == step:
            self._record(self._measure(step_record))
        if step % self.every == 0:  # the next step, step + 1, is probed
            self._arm(step + 1)

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        stacked = torch.stack(self._pending).float() if self._pending else None
        self._pending = []
        stats = _step_loss_stats(stacked)
        self.step_losses.extend(stats.pop("losses"))
        self._record({"kind": "epoch", "epoch": record["epoch"],
                      "train_loss": finite_or_none(record["train_loss"]),
                      "val_loss": None if record.get("val_loss") is None else finite_or_none(record["val_loss"]),
                      "val_accuracy": record.get("val_accuracy"), "gap": gap_series([record])[0],
                      "lr": record.get("lr"), "step_loss": stats})

    def on_fit_end(self, trainer: Any, history: Any) -> None:
        self.close()

    def close(self) -> None:
        """Take every hook off the model and drop the weight snapshot (safe to call twice)."""
        if self._probe is not None:
            self._probe.remove()
        self._before, self._armed_step = None, None

    # ---- records --------------------------------------------------------------------------------

    def curve(self) -> dict[str, Any]:
        """Statistics of the per-step and per-epoch loss curves so far (see ``curve_stats``)."""
        train = [e["train_loss"] for e in self.epochs]
        val = [e["val_loss"] for e in self.epochs]
        return {"steps": curve_stats(self.step_losses), "train": curve_stats(train),
                "val": curve_stats(val) if any(v is not None for v in val) else None,
                "gap": [e["gap"] for e in self.epochs]}

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded, as JSON-ready data."""
        return {"every": self.every, "layer_order": list(self.layer_order), "shapes": dict(self.shapes),
                "feeds": dict(self.feeds), "probes": list(self.probes),
                "epochs": list(self.epochs), "curve": self.curve()}

    def _record(self, record: dict[str, Any]) -> None:
        (self.probes if record["kind"] == "probe" else self.epochs).append(record)
        if self.sink is not None:
            self.sink(record)

    # ---- probing --------------------------------------------------------------------------------

    def _arm(self, step: int) -> None:
        """Snapshot the weights and arm the hooks for probing ``step``."""
        self._before = {name: p.detach().clone() for name, p in self._params.items()}
        if self._probe is not None:
            self._probe.arm()
        self._armed_step = step

    def _measure(self, step_record: dict) -> dict[str, Any]:
        before, self._before, self._armed_step = self._before, None, None
        seen = self._probe.collect() if self._probe is not None else {"activations": {}, "order": [], "feeds": {}}
        if seen["order"] and not self._ordered:
            self.layer_order, self._ordered = _param_order(self.model, seen["order"], self._params), True
            self.feeds = dict(seen.get("feeds") or {})
        params, nonfinite, squares, loss = _param_stats(self._params, before, step_record["loss"])
        return {"kind": "probe", "step": step_record["step"], "epoch": step_record["epoch"],
                "lr": step_record["lr"], "loss": finite_or_none(loss),
                "grad_norm": None if nonfinite else math.sqrt(squares), "params": params,
                "activations": seen["activations"], "nonfinite": nonfinite}


def _param_stats(params: dict[str, nn.Parameter], before: dict[str, torch.Tensor], loss: torch.Tensor):
    """Per tensor ``{grad_norm, weight_norm, update_ratio}``, the names with non-finite gradients,
    the squared global gradient norm and the step's loss.

    NOTE: one fused norm call and one read from the device for the whole probe.
    """
    names = list(params)
    tensors = [params[name].detach() for name in names]
    olds = [before[name] for name in names]
    with_grad = [name for name in names if params[name].grad is not None]
    values = norms(list(torch._foreach_sub(tensors, olds)) + olds + tensors
                   + [params[name].grad for name in with_grad], extra=[loss])
    n = len(names)
    moved, sizes, weights = values[:n], values[n:2 * n], values[2 * n:3 * n]
    grads = dict(zip(with_grad, values[3 * n:-1]))
    records = {name: {"grad_norm": finite_or_none(grads[name]) if name in grads else None,
                      "weight_norm": finite_or_none(weight), "update_ratio": finite_or_none(ratio(move, size))}
               for name, weight, move, size in zip(names, weights, moved, sizes)}
    nonfinite = [name for name, g in grads.items() if not math.isfinite(g)]
    return records, nonfinite, sum(g * g for g in grads.values()), values[-1]


def _param_order(model: nn.Module, modules: list[str], params: dict[str, Any]) -> list[str]:
    """Parameter tensor names in the order their modules ran; tensors of modules that did not run
    (or ran without hooks) follow in registration order."""
    ordered = []
    for module in modules:
        prefix = f"{module}." if module else ""
        ordered += [f"{prefix}{name}" for name, _ in model.get_submodule(module).named_parameters(recurse=False)
                    if f"{prefix}{name}" in params]
    return ordered + [name for name in params if name not in ordered]


def _step_loss_stats(losses: torch.Tensor | None) -> dict[str, Any]:
    """One epoch's step losses (read from the device in one sync) and their mean, min, max and
    relative noise (see ``relative_noise``); plain Python, as an epoch has tens of steps."""
    values = [] if losses is None else losses.tolist()
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return {"losses": values, "n": len(values), "mean": None, "min": None, "max": None, "noise": None}
    return {"losses": values, "n": len(values), "mean": sum(finite) / len(finite), "min": min(finite),
            "max": max(finite), "noise": relative_noise(finite)}
