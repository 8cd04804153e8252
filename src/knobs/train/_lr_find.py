"""The learning-rate range test (Smith 2017), repeated over seeds, leaving no trace.

Why repeat over seeds: one run's curve depends on which minibatches came first, which is why LR
finders disagree run to run; the mean of a few seeds with a ± std band shows how much of a dip is
real. Why restore everything: probing a model with LRs up to 10 wrecks its weights and fills the
optimizer's moment estimates, so the model's parameters, buffers and gradients, the optimizer's
state and hyperparameters, and the global RNGs are put back exactly (bitwise) afterwards.

The LR grows exponentially from ``start_lr`` to ``end_lr`` over ``steps`` steps; each loss is
smoothed with a bias-corrected exponential moving average; a seed stops once its smoothed loss
exceeds ``diverge_factor`` × its lowest so far (or turns NaN).

Glossary of arrays: ``lrs`` (steps,); ``losses``/``raw`` (seeds, steps) with NaN after a seed
stopped; ``mean``/``std`` (steps,) over seeds, NaN where not every seed has a value.

Example:
    >>> import torch; from torch import nn
    >>> X, y = torch.randn(256, 8), torch.randint(0, 2, (256,))
    >>> result = lr_find(nn.Linear(8, 2), (X, y), steps=50, seeds=(0,))
    >>> low, high = result.suggest_range()
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.train._batches import TensorBatches, as_tensors, dataset_loader, input_dtype, loader_rows
from knobs.train._metrics import LOSSES, TASKS
from knobs.train._optimizers import build_optimizer, check_lr
from knobs.train._rng import rng_state, seed_everything, set_rng_state

__all__ = ["LRFindResult", "lr_find", "lr_grid", "smooth", "steepest_index", "falling_region"]


# ---- pure curve math ---------------------------------------------------------------------------

def lr_grid(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """``steps`` LRs growing geometrically from ``start_lr`` to ``end_lr``."""
    return start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))


def smooth(losses: Sequence[float], alpha: float) -> np.ndarray:
    """Bias-corrected exponential moving average (weight ``alpha`` on the newest loss)."""
    out, avg = np.empty(len(losses)), 0.0
    for i, loss in enumerate(losses):
        avg = (1 - alpha) * avg + alpha * loss
        out[i] = avg / (1 - (1 - alpha) ** (i + 1))
    return out


def falling_region(curve: np.ndarray, low: float = 0.1, high: float = 0.9) -> tuple[int, int, int] | None:
    """(i_low, i_high, i_bottom): where ``curve`` first made ``low`` and ``high`` of its drop from
    its start to its minimum, and the minimum. None when it has < 3 finite points or never falls.

    NOTE: fractions of the curve's own drop are scale-free, and the ``low`` threshold keeps the
    noisy first steps (where the moving average has seen few losses) out of every suggestion.
    """
    n = int(np.isfinite(curve).cumprod().sum())
    if n < 3:
        return None
    c = curve[:n]
    bottom = int(np.argmin(c))
    drop = c[0] - c[bottom]
    if drop <= 0:
        return None
    i_low = int(np.argmax(c[: bottom + 1] <= c[0] - low * drop))
    i_high = int(np.argmax(c[: bottom + 1] <= c[0] - high * drop))
    return i_low, i_high, bottom


def steepest_index(lrs: np.ndarray, curve: np.ndarray) -> int | None:
    """Index of the steepest descent of ``curve`` against log LR, inside its falling region."""
    region = falling_region(curve)
    if region is None:
        return None
    lo, _, bottom = region
    slope = np.gradient(curve[: bottom + 1], np.log(lrs[: bottom + 1]))
    return lo + int(np.argmin(slope[lo: bottom + 1]))


@dataclass
class LRFindResult:
    """What ``lr_find`` measured; see the module glossary for the arrays."""

    lrs: np.ndarray
    raw: np.ndarray
    losses: np.ndarray
    seeds: tuple[int, ...]
    stops: tuple[int | None, ...]

    @property
    def mean(self) -> np.ndarray:
        """Mean smoothed loss over seeds (NaN where some seed has stopped)."""
        return self.losses.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        return self.losses.std(axis=0)

    @property
    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean − std, mean + std) of the smoothed losses over seeds."""
        return self.mean - self.std, self.mean + self.std

    @property
    def suggested_lr(self) -> float | None:
        """The LR of steepest descent of the mean smoothed curve."""
        i = steepest_index(self.lrs, self.mean)
        return None if i is None else float(self.lrs[i])

    @property
    def divergence_lr(self) -> float | None:
        """The lowest LR at which some seed's smoothed loss passed ``diverge_factor`` × its minimum."""
        stops = [i for i in self.stops if i is not None]
        return float(self.lrs[min(stops)]) if stops else None

    def suggest_range(self) -> tuple[float, float]:
        """(low, high) for cyclic schedules: where the mean curve has made 10% and 90% of its drop.

        Both lie before the curve's minimum, so ``high`` is still on the descending side.

        Raises:
            ConfigError: the mean loss never fell (widen the sweep: raise end_lr or steps).
        """
        region = falling_region(self.mean)
        if region is None:
            raise ConfigError("lr_find: the mean loss never fell over the sweep; raise end_lr or steps")
        low, high, _ = region
        return float(self.lrs[low]), float(self.lrs[high])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes None."""
        region = falling_region(self.mean)
        low, high = (None, None) if region is None else self.suggest_range()
        lower, upper = self.band
        return {
            "lrs": _json(self.lrs), "seeds": list(self.seeds), "raw": [_json(r) for r in self.raw],
            "losses": [_json(r) for r in self.losses], "mean": _json(self.mean), "std": _json(self.std),
            "band": [_json(lower), _json(upper)], "suggested_lr": self.suggested_lr,
            "divergence_lr": self.divergence_lr, "range": [low, high],
        }


def _json(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


# ---- the test ----------------------------------------------------------------------------------

def lr_find(model: nn.Module, train: Any, *, optimizer: str | torch.optim.Optimizer = "sgd",
            optimizer_options: dict | None = None, weight_decay: float = 0.0, start_lr: float = 1e-7,
            end_lr: float = 10.0, steps: int = 200, seeds: Sequence[int] = (0, 1, 2),
            smoothing: float = 0.05, batch_size: int = 64, diverge_factor: float = 4.0,
            task: str = "classification") -> LRFindResult:
    """Run the LR range test on ``model`` (on its current device) and restore everything after.

    Args:
        model: the model to probe; left bitwise as it was.
        train: ``(X, y)`` tensors or arrays, or a DataLoader (its rows read into memory in its order, up to
            ``MAX_LOADER_ROWS``: the sweeps draw their batches from them, one order per seed).
        optimizer: a name (built fresh per seed) or your optimizer over ``model``'s parameters
            (its state is restored per seed and at the end; group LRs keep their ratios).
        optimizer_options, weight_decay: for a named optimizer.
        start_lr, end_lr, steps: the exponential LR sweep.
        seeds: one sweep per seed (data order, dropout); the band is over these.
        smoothing: EMA weight of the newest loss.
        batch_size: minibatch size.
        diverge_factor: stop a sweep when its smoothed loss exceeds this × its minimum.
        task: "classification", "regression" or "multilabel".
    """
    _check_args(start_lr, end_lr, steps, seeds, smoothing, batch_size, diverge_factor, task)
    device = next(model.parameters()).device
    if isinstance(train, torch.utils.data.Dataset):  # a torch Dataset as it is: read as its loader's rows
        train = dataset_loader(train, batch_size)
    if isinstance(train, torch.utils.data.DataLoader):
        train = loader_rows(train, "lr_find: train")[:2]
    X, y = as_tensors(train, "train", task, input_dtype(model))
    X, y = X.to(device), y.to(device)
    snapshot = _Snapshot(model, optimizer)
    lrs = lr_grid(start_lr, end_lr, steps)
    raw = np.full((len(seeds), steps), np.nan)
    stops: list[int | None] = []
    try:
        for row, seed in enumerate(seeds):
            snapshot.restore()
            opt = snapshot.optimizer if snapshot.optimizer is not None else build_optimizer(
                optimizer, model, lr=start_lr, weight_decay=weight_decay, options=optimizer_options)
            seed_everything(seed)
            batches = TensorBatches(X, y, batch_size, torch.Generator(device=device).manual_seed(seed))
            raw[row], stop = _sweep(model, opt, batches, lrs, LOSSES[task], smoothing, diverge_factor)
            stops.append(stop)
    finally:
        snapshot.restore(final=True)
    losses = np.stack([_smoothed(r, stop, smoothing) for r, stop in zip(raw, stops)])
    return LRFindResult(lrs=lrs, raw=raw, losses=losses, seeds=tuple(seeds), stops=tuple(stops))


def _smoothed(raw: np.ndarray, stop: int | None, alpha: float) -> np.ndarray:
    """The smoothed curve up to (not including) the step that diverged."""
    n = len(raw) if stop is None else stop
    out = np.full(len(raw), np.nan)
    out[:n] = smooth(raw[:n], alpha)
    return out


def _sweep(model, opt, batches, lrs, loss_fn, alpha, factor) -> tuple[np.ndarray, int | None]:
    """Raw losses of one sweep (NaN after it stopped) and the step where it diverged, if any."""
    ratios = [g["lr"] / opt.param_groups[0]["lr"] for g in opt.param_groups]
    out = np.full(len(lrs), np.nan)
    model.train()
    avg, best, i = 0.0, math.inf, 0
    while i < len(lrs):
        for xb, yb in batches:
            if i == len(lrs):
                break
            for group, ratio in zip(opt.param_groups, ratios):
                group["lr"] = float(lrs[i]) * ratio
            loss = loss_fn(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            out[i] = value = float(loss.detach())
            avg = (1 - alpha) * avg + alpha * value
            smoothed = avg / (1 - (1 - alpha) ** (i + 1))
            i += 1
            if not math.isfinite(smoothed) or smoothed > factor * best:
                return out, i - 1
            best = min(best, smoothed)
    return out, None


class _Snapshot:
    """Everything ``lr_find`` may disturb, captured once and put back bitwise."""

    def __init__(self, model: nn.Module, optimizer: Any) -> None:
        self.model = model
        self.optimizer = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
        self.weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.grads = [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]
        self.training = {m: m.training for m in model.modules()}
        self.opt_state = None if self.optimizer is None else copy.deepcopy(self.optimizer.state_dict())
        self.opt_flag = None if self.optimizer is None else self.optimizer.__dict__.get("_opt_called")
        self.rng = rng_state()

    def restore(self, final: bool = False) -> None:
        self.model.load_state_dict(self.weights)
        if self.optimizer is not None:
            # NOTE: a fresh deep copy each time: load_state_dict keeps same-device tensors by
            # reference, and the next sweep's in-place moment updates would corrupt the snapshot.
            self.optimizer.load_state_dict(copy.deepcopy(self.opt_state))
        if not final:
            return
        for p, g in zip(self.model.parameters(), self.grads):
            p.grad = g
        for module, mode in self.training.items():
            module.training = mode
        if self.optimizer is not None:
            self.optimizer.__dict__.pop("_opt_called", None)
            if self.opt_flag is not None:
                self.optimizer._opt_called = self.opt_flag
        set_rng_state(self.rng)


def _check_args(start_lr, end_lr, steps, seeds, smoothing, batch_size, factor, task) -> None:
    check_lr(start_lr, "start_lr")
    check_lr(end_lr, "end_lr")
    if end_lr <= start_lr:
        raise ConfigError(f"end_lr: expected more than start_lr ({start_lr:g}), got {end_lr:g}")
    if not isinstance(steps, int) or steps < 3:
        raise ConfigError(f"steps: expected an integer >= 3, got {steps!r}")
    if len(seeds) == 0 or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"seeds: expected one or more integers, got {seeds!r}")
    if not isinstance(smoothing, (int, float)) or not 0 < smoothing <= 1:
        raise ConfigError(f"smoothing: expected a number in (0, 1], got {smoothing!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
    if not isinstance(factor, (int, float)) or factor <= 1:
        raise ConfigError(f"diverge_factor: expected a number > 1, got {factor!r}")
    if task not in TASKS:
        raise ConfigError(f"task: unknown {task!r}; expected one of {', '.join(TASKS)}")
