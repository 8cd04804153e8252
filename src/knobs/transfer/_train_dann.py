"""``train_dann``: domain-adversarial training on labelled source and unlabelled target data.

Why its own loop rather than ``Trainer.fit``: each step needs two inputs (a source batch with
labels, a target batch without), two losses and a reversal strength that follows training progress;
the Trainer's loop is built around one ``(X, y)`` stream. What can be shared is: the same
optimizers by name (``build_optimizer``), the same data checks (``as_tensors``), the same
``History`` records and ``Diverged`` error, and ``Trainer.evaluate`` for validation.

One step (source batch of n, as many target examples, drawn without replacement and cycled):
features of both in one pass → cross-entropy of the source logits + binary cross-entropy of the
domain logits (source 0, target 1) → one backward, where the reversal layer turns the domain
gradient into −λ_p times itself on its way into the features.

Example:
    >>> # dann = DANN.from_model(build_model("mlp", input_shape=(64,), n_classes=10))
    >>> # history = train_dann(dann, source=(Xs, ys), target=Xt, epochs=30, lr=0.01)
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from knobs.errors import ConfigError, DataError
from knobs.train import Diverged, History, Trainer, build_optimizer
from knobs.train._batches import TensorBatches, as_tensors, check_outputs
from knobs.train._device import resolve_device
from knobs.train._history import best_epoch
from knobs.train._losses import classification_loss
from knobs.transfer._dann import DANN, dann_lambda, dann_lr_factor

__all__ = ["train_dann"]


def train_dann(model: DANN, source: Any, target: Any, *, epochs: int = 30, batch_size: int = 64,
               optimizer: str = "momentum", lr: float = 0.01, weight_decay: float = 0.0,
               optimizer_options: dict | None = None, lambda_max: float = 1.0, gamma: float = 10.0,
               anneal_lr: bool = True, clip_grad_norm: float | None = None, val: Any = None,
               seed: int | None = 0, device: str = "auto") -> History:
    """Train ``model`` in place by domain-adversarial training; return its ``History``.

    Args:
        model: a ``DANN``.
        source: labelled source data ``(X, y)``.
        target: unlabelled target inputs ``X`` (same example shape as the source).
        epochs: passes over the source data (a step per source minibatch).
        batch_size: source examples per step (and as many target examples).
        optimizer, lr, weight_decay, optimizer_options: as for ``Trainer`` (the paper: SGD with
            momentum 0.9, ``"momentum"``).
        lambda_max: scale of the reversal schedule λ_p (0: no adaptation, a source-only baseline
            trained in exactly the same way).
        gamma: steepness γ of λ_p = 2/(1 + exp(−γp)) − 1.
        anneal_lr: μ_p = μ₀/(1 + 10p)^0.75 over the steps (else a constant LR).
        clip_grad_norm: clip the global gradient norm to this value. The adversarial game can
            grow the features without bound when the domains are easy to tell apart (the domain
            classifier keeps winning, and the reversed gradient keeps pushing); clipping caps that.
        val: optional labelled ``(X, y)`` to report ``val_loss``/``val_accuracy`` per epoch; with
            unlabelled target data that is source validation data, which does not measure adaptation.
        seed: seeds torch and the batch order (None: not seeded).
        device: "auto", "cpu", "cuda", ...

    Returns:
        ``History`` with per-epoch ``train_loss`` (source label loss), ``domain_loss``,
        ``domain_accuracy`` (of the domain classifier; near 0.5 means the features no longer tell
        the domains apart), ``lambda``, ``lr``, ``val_loss``, ``val_accuracy``, ``seconds``.

    Raises:
        ConfigError: not a DANN, or a bad setting; DataError: bad or mismatched data;
        Diverged: a non-finite loss.
    """
    _check_settings(model, epochs, batch_size, lambda_max, gamma, seed, clip_grad_norm)
    dev = resolve_device(device)
    if seed is not None:
        torch.manual_seed(seed)
    generator = torch.Generator(device=dev).manual_seed(seed if seed is not None else int(torch.randint(2**62, (1,))))
    Xs, ys = as_tensors(source, "source", "classification")
    batches = TensorBatches(Xs.to(dev), ys.to(dev), batch_size, generator)
    run = _Run(model.to(dev), batches, _target(target, Xs).to(dev), generator, epochs * len(batches),
               lambda_max, gamma, clip_grad_norm)
    check_outputs(model, batches, None, "classification")
    val = None if val is None else as_tensors(val, "val", "classification")
    opt = build_optimizer(optimizer, model, lr=lr, weight_decay=weight_decay, options=optimizer_options)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: dann_lr_factor(s / run.total)) if anneal_lr else None
    history = History(monitor="val_accuracy" if val is not None else "train_loss")
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        sums, lam = run.epoch(opt, schedule)
        history.records.append(_record(epoch, sums, len(Xs), lam, opt, model, val, start, run.step))
    history.best_epoch = best_epoch(history.records, history.monitor, "max" if val is not None else "min")
    return history


class _Run:
    """The state of one adversarial fit: data streams, the progress clock and the step settings."""

    def __init__(self, model: DANN, batches: TensorBatches, Xt: torch.Tensor, generator: torch.Generator,
                 total: int, lambda_max: float, gamma: float, clip: float | None) -> None:
        self.model, self.batches, self.Xt, self.total = model, batches, Xt, total
        self.stream = _IndexStream(len(Xt), generator)
        self.lambda_max, self.gamma, self.clip = lambda_max, gamma, clip
        self.step = 0

    def epoch(self, opt: torch.optim.Optimizer, schedule: Any) -> tuple[torch.Tensor, float]:
        """One pass over the source batches; returns the summed metrics and the last λ."""
        sums = torch.zeros(3, device=self.Xt.device)  # label loss · n, domain loss · 2n, domain hits
        lam = 0.0
        self.model.train()
        for xs, ys in self.batches:
            lam = self.lambda_max * dann_lambda(self.step / self.total, self.gamma)
            self.model.grl.lambda_ = lam
            sums += _step(self.model, opt, xs, ys, self.Xt[self.stream.take(len(xs))], self.clip)
            if schedule is not None:
                schedule.step()
            self.step += 1
        return sums, lam


def _step(model: DANN, opt: torch.optim.Optimizer, xs: torch.Tensor, ys: torch.Tensor,
          xt: torch.Tensor, clip: float | None) -> torch.Tensor:
    n = len(xs)
    logits, domain = model.heads(torch.cat([xs, xt]))
    domain = domain.reshape(-1)
    is_target = torch.cat([torch.zeros(n, device=xs.device), torch.ones(len(xt), device=xs.device)])
    label_loss = classification_loss(logits[:n], ys)  # a one-logit binary classifier: its BCE
    domain_loss = F.binary_cross_entropy_with_logits(domain, is_target)
    opt.zero_grad(set_to_none=True)
    (label_loss + domain_loss).backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    hits = ((domain > 0).float() == is_target).sum()
    return torch.stack([label_loss.detach() * n, domain_loss.detach() * len(is_target), hits])


def _record(epoch: int, sums: torch.Tensor, n: int, lam: float, opt, model, val, start: float, step: int) -> dict:
    label_sum, domain_sum, hits = (float(v) for v in sums)
    if not (math.isfinite(label_sum) and math.isfinite(domain_sum)):
        raise Diverged(epoch=epoch, step=step, lr=opt.param_groups[0]["lr"],
                       loss=label_sum if not math.isfinite(label_sum) else domain_sum)
    record = {"epoch": epoch, "train_loss": label_sum / n, "domain_loss": domain_sum / (2 * n),
              "domain_accuracy": hits / (2 * n), "lambda": lam, "lr": opt.param_groups[0]["lr"],
              "val_loss": None, "val_accuracy": None}
    if val is not None:
        scores = Trainer(device=str(next(model.parameters()).device), precision="fp32").evaluate(model, val)
        record["val_loss"], record["val_accuracy"] = scores["loss"], scores["accuracy"]
    record["seconds"] = time.perf_counter() - start
    return record


class _IndexStream:
    """Indices into the target set without replacement, reshuffled after each full pass."""

    def __init__(self, n: int, generator: torch.Generator) -> None:
        self.n, self.generator = n, generator
        self.perm = torch.empty(0, dtype=torch.long, device=generator.device)

    def take(self, k: int) -> torch.Tensor:
        while len(self.perm) < k:
            fresh = torch.randperm(self.n, generator=self.generator, device=self.generator.device)
            self.perm = torch.cat([self.perm, fresh])
        out, self.perm = self.perm[:k], self.perm[k:]
        return out


def _target(target: Any, Xs: torch.Tensor) -> torch.Tensor:
    if isinstance(target, (tuple, list)):
        raise DataError("target: expected the unlabelled inputs X alone (no labels are used), got a tuple")
    Xt = target if isinstance(target, torch.Tensor) else torch.as_tensor(np.asarray(target))
    Xt = Xt.float() if not Xt.is_floating_point() or Xt.dtype == torch.float64 else Xt
    if Xt.ndim == 0 or len(Xt) == 0:
        raise DataError("target: X must hold at least one example")
    if Xt.shape[1:] != Xs.shape[1:]:
        raise DataError(f"target: X has example shape {tuple(Xt.shape[1:])} but source has {tuple(Xs.shape[1:])}")
    if not bool(torch.isfinite(Xt).all()):
        raise DataError("target: X contains NaN or infinite values; impute or drop them first")
    return Xt


def _check_settings(model: Any, epochs: Any, batch_size: Any, lambda_max: Any, gamma: Any, seed: Any,
                    clip: Any) -> None:
    if not isinstance(model, DANN):
        raise ConfigError(f"model: train_dann needs a DANN (see DANN.from_model), got {type(model).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}: expected an integer >= 1, got {value!r}")
    for name, value in (("lambda_max", lambda_max), ("gamma", gamma)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or value < 0:
            raise ConfigError(f"{name}: expected a number >= 0, got {value!r}")
    if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool)
                                 and math.isfinite(clip) and clip > 0):
        raise ConfigError(f"clip_grad_norm: expected a number > 0 or None, got {clip!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"seed: expected an integer or None, got {seed!r}")
