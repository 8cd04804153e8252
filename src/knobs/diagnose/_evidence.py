"""Collecting the evidence a diagnosis rests on, as plain data.

Six sources, each a small function, each working on a deep copy of the user's model (which is
never trained): the model checks (initial loss, gradient check without and with the L2 term,
tiny-subset overfit, whether the model is affine in its input), the gradient noise scale and the
top Hessian eigenvalue at initialization (``knobs.diagnose._noise``, ``_curvature``), one training
run watched by ``knobs.watch.Watch`` (plus the final model's score on the training rows), the
same training at 10x or 1/10 the learning rate when the watched run asks for it, and a
scikit-learn reference on the same split.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from knobs.checks import CheckResult, check_batch_independence, check_initial_loss, gradient_check, overfit_tiny
from knobs.checks._gradients import LOSSES
from knobs.diagnose._curvature import effective_lr, stability_edge, top_eigenvalue
from knobs.diagnose._noise import noise_scale
from knobs.diagnose._reference import MAX_ROWS, r2, reference_scores
from knobs.diagnose._spectral import layer_spectra
from knobs.train import Diverged, Trainer, check_schedule
from knobs.train._trainer import loss_on
from knobs.train._batches import cast_inputs, input_dtype
from knobs.train._device import resolve_device
from knobs.watch import Watch

#: The gradient check's (and the curvature's) loss per task when the trained one is the default.
CHECK_LOSSES = {"classification": "cross_entropy", "multilabel": "binary_cross_entropy", "regression": "mse"}

__all__ = ["CURVATURE_ROWS", "Settings", "affine", "gradient_geometry", "lr_probe", "model_checks", "reference",
           "watched_run"]

# NOTE: the Hessian is taken on one fixed batch: 256 rows estimate the top eigenvalue of the
# training loss to a few percent on the zoo's nets, at a few milliseconds per product.
CURVATURE_ROWS = 256
# NOTE: an affine map satisfies f((x1 + x2) / 2) = (f(x1) + f(x2)) / 2 exactly; in float64 the
# rounding of a few layers stays near 1e-12 of the outputs' scale, any nonlinearity in use is
# orders of magnitude above 1e-6.
AFFINE_TOLERANCE = 1e-6
#: Leaf modules that compute an affine map of their input in eval mode.
AFFINE_MODULES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                  nn.Flatten, nn.Unflatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.BatchNorm1d,
                  nn.BatchNorm2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)


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
            return CHECK_LOSSES[self.task]
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
    """Initial loss, batch independence, gradient check (again with the L2 term when there is weight decay),
    and the tiny-subset overfit — each on a copy of ``model``."""
    fresh = lambda: copy.deepcopy(model)  # noqa: E731
    loss = s.check_loss()
    results = [check_initial_loss(fresh, X, y, task=s.task, n_classes=s.n_classes, seeds=(s.seed,), inputs=s.inputs),
               check_batch_independence(fresh, X, seed=s.seed), gradient_check(model, X, y, loss=loss, seed=s.seed)]
    if s.weight_decay:
        results.append(gradient_check(model, X, y, loss=loss, seed=s.seed, l2=s.weight_decay))
    results.append(overfit_tiny(fresh, X, y, task=s.task, n_classes=s.n_classes, seed=s.seed, loss=s.loss))
    return results


def affine(model: nn.Module, X: torch.Tensor) -> dict[str, Any]:
    """Whether ``model`` is an affine map of its input (a stack of linear layers without any
    nonlinearity), and how many weight tensors (>= 2-D) it holds.

    Two tests, both needed: every leaf module is of an affine kind (``AFFINE_MODULES``; a
    container's own forward may still apply ``F.relu``, which the second test sees), and on
    midpoints of training rows, in float64 and eval mode, ``f((x1 + x2)/2)`` equals
    ``(f(x1) + f(x2))/2`` to ``AFFINE_TOLERANCE`` of how much the outputs vary between the rows.
    A model whose output does not vary at all (every unit dead) is not called affine.
    """
    net = copy.deepcopy(model).double().eval()
    weights = sum(1 for p in net.parameters() if p.ndim >= 2)
    out = {"affine": False, "weights": weights, "deviation": None}
    leaves = [m for m in net.modules() if next(m.children(), None) is None]
    rows = X[: 2 * min(16, len(X) // 2)].double()
    if not all(isinstance(m, AFFINE_MODULES) for m in leaves) or len(rows) < 2:
        return out
    a, b = rows[0::2], rows[1::2]
    with torch.no_grad():
        fa, fb, mid = net(a), net(b), net((a + b) / 2)
    if not all(isinstance(t, torch.Tensor) for t in (fa, fb, mid)):
        return out
    spread = float((fa - fb).abs().max())
    if not math.isfinite(spread) or spread == 0:
        return out
    deviation = float((mid - (fa + fb) / 2).abs().max()) / spread
    out.update(affine=bool(math.isfinite(deviation) and deviation < AFFINE_TOLERANCE),
               deviation=deviation if math.isfinite(deviation) else None)
    return out


def gradient_geometry(model: nn.Module, train, s: Settings) -> dict[str, Any]:
    """The gradient noise scale (``knobs.diagnose._noise``) and the top Hessian eigenvalue against
    the optimizer's stability edge (``knobs.diagnose._curvature``), both at initialization, in
    training mode, with the trained loss (unweighted; the task's default when none is given)."""
    device = resolve_device(s.device)
    net = copy.deepcopy(model).to(device).train()
    X, y = cast_inputs(train[0], input_dtype(net)), train[1]  # ids stay ids for an embedding model
    loss_fn = LOSSES[CHECK_LOSSES[s.task]] if s.loss is None else (
        loss_on(copy.deepcopy(s.loss), net, device) if isinstance(s.loss, nn.Module) else s.loss)  # the trained loss
    params = [p for p in net.parameters() if p.requires_grad]
    out: dict[str, Any] = {"noise": None, "curvature": None}
    if not params:
        return out
    rows = torch.randperm(len(y), generator=torch.Generator().manual_seed(s.seed))[:CURVATURE_ROWS]
    loss = lambda idx: loss_fn(net(X[idx].to(device)), y[idx].to(device))  # noqa: E731
    # NOTE: dropout draws from torch's global generator: seeded here, and the caller's state given back
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(s.seed)
        try:
            out["noise"] = noise_scale(loss, params, n=len(y), seed=s.seed)
            top = top_eigenvalue(lambda: loss(rows), params, seed=s.seed)
        except RuntimeError as error:  # NOTE: a custom autograd.Function without a double backward
            return {"noise": None, "curvature": {"eigenvalue": None, "error": str(error).splitlines()[0]}}
    edge = stability_edge(s.optimizer, s.lr, s.optimizer_options)
    # NOTE: read from the optimizer itself (a name, a torch class or a partial): the settings' plain
    # form keeps only its text
    out["curvature"] = {**top, "rows": len(rows), "edge": None if edge is None else edge["edge"],
                        "edge_rule": None if edge is None else edge["rule"],
                        "lr_eff": effective_lr(s.optimizer, s.lr, s.optimizer_options)}
    return out


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
    final = run["records"][-1] if run["records"] and run["diverged"] is None else {}
    return {"factor": factor, "lr": s.lr * factor, "diverged": run["diverged"],
            "final_train_loss": run["final_train_loss"], "final_val_loss": final.get("val_loss"),
            "train_score": run["train_score"], "val_score": run["val_score"]}


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
    """Accuracy (classification; multi-label: of every label) or R² (regression) of ``net`` on at most
    ``MAX_ROWS`` rows."""
    X, y = data[0], data[1]  # sample weights (a third item) shape the training, not the score
    rows = torch.as_tensor(np.random.default_rng(s.seed).permutation(len(y))[:MAX_ROWS])
    X, y = X[rows], y[rows]
    metrics = trainer.evaluate(net, (X, y))
    if s.task != "regression":
        return metrics["accuracy"]
    return _finite(r2(metrics["loss"], _numpy(y)))


def _val_score(record: dict[str, Any], val, s: Settings) -> float | None:
    if s.task != "regression":
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
