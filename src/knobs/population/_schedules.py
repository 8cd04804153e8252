"""Per-member learning rate (and momentum) at every optimizer step, from knobs' own schedules.

Why tables: a schedule that does not watch validation is a fixed function of the step, so the
whole run's LR can be laid out before training as a (T, P) table (T = epochs × steps per epoch)
and the hot loop reads one row per step without Python work per member. The numbers come from
``knobs.train.build_schedule`` driving a throw-away optimizer of the member's torch class, i.e.
from the very ``torch.optim.lr_scheduler`` objects a one-by-one ``Trainer`` uses — warmup,
restarts, one-cycle's momentum cycling included — so a member's curve is the Trainer's curve.

Members share a table where the schedule scales with the base LR (``lr_t = α₀·m_t``: constant,
step, exponential, inverse, cosine annealing to 0, one-cycle and cyclic with default peaks): it is
computed once at α₀ = 1 and multiplied. ``plateau`` is refused: it reacts to each member's own
validation curve, which no table knows in advance.

Example:
    >>> lr, momentum = schedule_tables("cosine", [("sgd", {"lr": 0.1}), ("sgd", {"lr": 0.2})],
    ...                                epochs=2, steps_per_epoch=2)
    >>> lr.shape, float(lr[0, 1])
    ((4, 2), 0.2)
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import torch

from knobs.errors import ConfigError
from knobs.train import OPTIMIZERS, build_schedule, check_schedule

__all__ = ["schedule_tables", "scales_with_lr"]


def scales_with_lr(cfg: dict[str, Any] | None) -> bool:
    """Whether the schedule's LR is the base LR times a curve that does not depend on it."""
    if cfg is None:
        return True
    name = cfg["name"]
    if name == "cosine":
        return cfg["eta_min"] == 0
    if name == "onecycle":
        return cfg["max_lr"] is None
    if name == "cyclic":
        return cfg["base_lr"] is None and cfg["max_lr"] is None
    return name != "plateau"


def schedule_tables(spec: Any, members: Sequence[tuple[str, dict[str, Any]]], *, epochs: int,
                    steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, P) float64 tables of each member's LR and momentum (β₁ for Adam) at every step.

    Args:
        spec: the schedule (None, a name or a mapping), as ``Trainer(schedule=...)`` takes it.
        members: each member's optimizer name and torch keyword arguments (``lr``, ``momentum``,
            ``betas``, ...).
        epochs, steps_per_epoch: the run's length.

    Raises:
        ConfigError: a bad schedule, or ``plateau``.
    """
    cfg = check_schedule(spec)
    if cfg is not None and cfg["name"] == "plateau":
        raise ConfigError("schedule: 'plateau' is not available in population mode (it reacts to each "
                          "member's validation curve); use step, cosine, onecycle or another fixed schedule")
    shared = scales_with_lr(cfg)
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    lrs, moms = [], []
    for name, kwargs in members:
        ref = {**kwargs, "lr": 1.0} if shared else dict(kwargs)
        key = json.dumps([name, ref], sort_keys=True, default=str)
        if key not in cache:
            cache[key] = _curves(cfg, name, ref, epochs, steps_per_epoch)
        lr, mom = cache[key]
        lrs.append(lr * kwargs["lr"] if shared else lr)
        moms.append(mom)
    return np.stack(lrs, axis=1), np.stack(moms, axis=1)


def _curves(cfg: dict[str, Any] | None, name: str, kwargs: dict[str, Any], epochs: int,
            steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Step a throw-away optimizer's schedule through the run, reading what each step would use."""
    steps = epochs * steps_per_epoch
    optimizer = OPTIMIZERS[name].cls([torch.zeros(1, requires_grad=True)], **kwargs)
    group = optimizer.param_groups[0]
    if cfg is None:
        return np.full(steps, group["lr"]), np.full(steps, _momentum(group))
    schedule = build_schedule(cfg, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
    # NOTE: one (gradient-free, so no-op) optimizer step: torch warns when a scheduler steps first.
    optimizer.step()
    lr, mom = np.empty(steps), np.empty(steps)
    for t in range(steps):
        lr[t], mom[t] = group["lr"], _momentum(group)
        schedule.step_batch()
    return lr, mom


def _momentum(group: dict[str, Any]) -> float:
    return group["betas"][0] if "betas" in group else group.get("momentum", 0.0)
