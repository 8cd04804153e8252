"""Learning-rate schedules by name, on ``torch.optim.lr_scheduler``, with linear warmup in front.

Why every schedule is stepped once per optimizer step (except ``plateau``): one clock makes warmup
compose with any schedule through ``SequentialLR`` and makes a resumed run continue the exact
curve. Schedules whose LR changes per epoch (step, exponential, inverse, inverse_sqrt) compute the
epoch as ``step // steps_per_epoch``, so their LR is constant within an epoch and identical to
per-epoch stepping; cosine, cyclic and onecycle change the LR every step. ``plateau`` reacts to the
validation metric, so it is stepped once per epoch, after validation.

Why the clock counts the loader's batches, not the optimizer's steps: a schedule is sized from
``len(loader)`` before training, and an epoch may take fewer steps than that — a streamed split
whose damaged files are found in the first pass (its ``len`` is an upper bound until then), a
user's DataLoader whose batch of only damaged files comes out empty and is skipped. Stepped once
per optimizer step, such a schedule would not finish: a one-cycle would end mid-anneal, a cosine
above ``eta_min``, a step schedule would change the LR mid-epoch and ever later. So the Trainer
tells the schedule each epoch's expected batches (``start_epoch``, the loader's ``len`` then: exact
once a streamed split's damaged rows are known) and the epoch's end (``end_epoch``): each step
moves the clock by its share of the epoch, and the epoch ends where it should, at a multiple of
``steps_per_epoch`` (and never past it, so ``OneCycleLR`` never steps beyond ``total_steps``).
When every batch comes, this is one clock tick per step, as before.

Time ``t`` below is in epochs since the end of warmup; α₀ is the optimizer's ``lr``:

=================  =========================================  ===============================
name               LR                                         keys (defaults)
=================  =========================================  ===============================
constant           α₀                                         —
step               α₀·γ^⌊t/step_size⌋                         step_size (10), gamma (0.1)
exponential        α₀·e^(−k·t)                                k (0.05)
inverse            α₀/(1 + k·t)                               k (0.1)
inverse_sqrt       α₀/√(t + 1)                                —
plateau            ×factor after `patience` flat epochs       factor, patience, threshold,
                                                              cooldown, min_lr, monitor
cosine             cosine from α₀ to eta_min over T_max       T_max (rest of training), eta_min,
                   epochs; restarts every T_0·T_multⁱ         T_0, T_mult
cyclic             triangular between base_lr and max_lr      base_lr (α₀/10), max_lr (α₀),
                                                              step_size_up (2 epochs, in steps),
                                                              mode, gamma, cycle_momentum
onecycle           warm up to max_lr, anneal to max_lr/div/fd  max_lr (α₀), pct_start, div_factor,
                                                              final_div_factor, anneal_strategy,
                                                              three_phase, cycle_momentum
=================  =========================================  ===============================

Every schedule also takes ``warmup_epochs`` or ``warmup_steps``: the LR ramps linearly over W
steps, step s using (s + 1)/(W + 1) of the schedule's starting LR, then the schedule starts at t=0.

A schedule may also be a ``torch.optim.lr_scheduler`` class or any callable ``optimizer ->
scheduler`` (``functools.partial(StepLR, step_size=10)``, a lambda), or a scheduler already built on the
optimizer given as ``Trainer(optimizer=...)``: it is stepped as torch's own
documentation steps it — ``OneCycleLR`` and ``CyclicLR`` after every optimizer step (their
``total_steps`` / ``step_size_up`` count batches), every other scheduler once per epoch after
validation (``ReduceLROnPlateau`` with the monitored metric) — and checkpointed like the named ones.

Example:
    >>> import torch
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = build_schedule({"name": "step", "step_size": 2, "gamma": 0.5}, opt,
    ...                        epochs=4, steps_per_epoch=3)
    >>> sched.interval
    'epoch'
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

import torch
from pydantic import create_model
from torch.optim import lr_scheduler as lrs

from knobs._validation import Options, count, flag, number, one_of
from knobs.errors import ConfigError

__all__ = [
    "SCHEDULES", "Schedule", "EpochSchedule", "build_schedule", "check_schedule",
    "exponential_factor", "inverse_factor", "inverse_sqrt_factor", "warmup_factor",
]


# ---- pure formulas: multipliers of α₀ at time t (epochs) or warmup step s -------------------

def exponential_factor(t: float, k: float) -> float:
    """e^(−k·t)."""
    return math.exp(-k * t)


def inverse_factor(t: float, k: float) -> float:
    """1/(1 + k·t)."""
    return 1.0 / (1.0 + k * t)


def inverse_sqrt_factor(t: float) -> float:
    """1/√(t + 1)."""
    return 1.0 / math.sqrt(t + 1.0)


def warmup_factor(s: int, warmup_steps: int) -> float:
    """(s + 1)/(W + 1): never zero (a zero LR wastes a step), reaching 1 right after warmup."""
    return (s + 1) / (warmup_steps + 1)


# ---- keys ------------------------------------------------------------------------------------

_POS = number(0, low_open=True, optional=True)
_NONNEG = number(0)
_FRACTION = number(0, 1, low_open=True)            # (0, 1]
_OPEN_FRACTION = number(0, 1, low_open=True, high_open=True)  # (0, 1)
_EPOCHS = count(0, " (epochs)")

#: Each schedule's keys as pydantic fields (annotated type, default), in the order messages list them.
_KEYS: dict[str, dict[str, tuple[Any, Any]]] = {
    "constant": {},
    "step": {"step_size": (count(1, " (epochs)"), 10), "gamma": (_FRACTION, 0.1)},
    "exponential": {"k": (_NONNEG, 0.05)},
    "inverse": {"k": (_NONNEG, 0.1)},
    "inverse_sqrt": {},
    "plateau": {"factor": (_OPEN_FRACTION, 0.1), "patience": (_EPOCHS, 5), "threshold": (_NONNEG, 1e-4),
                "cooldown": (_EPOCHS, 0), "min_lr": (_NONNEG, 0.0),
                "monitor": (one_of("val_loss", "val_accuracy", "train_loss", optional=True), None)},
    "cosine": {"T_max": (_POS, None), "eta_min": (_NONNEG, 0.0), "T_0": (_POS, None), "T_mult": (count(1), 1)},
    "cyclic": {"base_lr": (_POS, None), "max_lr": (_POS, None),
               "step_size_up": (count(1, " (optimizer steps)", optional=True), None),
               "mode": (one_of("triangular", "triangular2", "exp_range"), "triangular"),
               "gamma": (_FRACTION, 1.0), "cycle_momentum": (flag(), False)},
    "onecycle": {"max_lr": (_POS, None), "pct_start": (_OPEN_FRACTION, 0.3), "div_factor": (_POS, 25.0),
                 "final_div_factor": (_POS, 1e4), "anneal_strategy": (one_of("cos", "linear"), "cos"),
                 "three_phase": (flag(), False), "cycle_momentum": (flag(optional=True), None)},
}
_WARMUP = {"warmup_epochs": (_NONNEG, 0), "warmup_steps": (count(0), 0)}
_MODELS: dict[str, type[Options]] = {
    name: create_model(f"Schedule_{name}", __base__=Options, where=(ClassVar[str], "schedule"),
                       label=(ClassVar[str], f"schedule {name!r}"), **keys, **_WARMUP)
    for name, keys in _KEYS.items()
}

SCHEDULES = tuple(_KEYS)
#: How often each schedule changes the LR (all but plateau are still *stepped* every step).
_INTERVAL = {"cosine": "step", "cyclic": "step", "onecycle": "step"}


def check_schedule(spec: Any) -> dict[str, Any] | None:
    """Normalize ``None | name | {"name": ..., key: value}`` to a dict with every default filled in.

    A key given as None takes its default.

    Raises:
        ConfigError: not a name or mapping, unknown name or key, value out of range, or both
            ``warmup_epochs`` and ``warmup_steps``.
    """
    if spec is None:
        return None
    if _is_factory(spec):
        return {"name": _describe(spec), "callable": True}
    if isinstance(spec, (lrs.LRScheduler, lrs.ReduceLROnPlateau)):
        return {"name": _describe(type(spec)), "instance": True}
    spec = {"name": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"schedule: expected a name or a mapping with 'name', got {spec!r}")
    name = spec["name"]
    if name not in _KEYS:
        raise ConfigError(f"schedule: unknown {name!r}; expected one of {', '.join(SCHEDULES)}")
    given = {key: value for key, value in spec.items() if key != "name" and value is not None}
    options = _MODELS[name](**given)
    if options.warmup_epochs and options.warmup_steps:
        raise ConfigError("schedule: give warmup_epochs or warmup_steps, not both")
    return {"name": name, **options.model_dump()}


class Schedule:
    """Steps the torch scheduler(s) at the right moments and checkpoints them.

    Call order: ``start_epoch(batches)`` before an epoch's batches (optional), ``step_batch()``
    after every optimizer step, ``end_epoch()`` after the epoch's last batch, ``step_epoch(record)``
    after its validation. ``steps`` is the clock (in the loader's batches, see the module doc);
    without ``start_epoch`` each step is one tick. ``state_dict()``/``load_state_dict()`` round-trip
    everything, so a resumed run continues the same curve.
    """

    def __init__(self, name: str, scheduler: lrs.LRScheduler | None, *, warmup_steps: int = 0,
                 plateau: lrs.ReduceLROnPlateau | None = None, monitor: str | None = None,
                 steps_per_epoch: int | None = None) -> None:
        self.name = name
        self.interval = _INTERVAL.get(name, "epoch")
        self.scheduler = scheduler
        self.plateau = plateau
        self.monitor = monitor
        self.warmup_steps = warmup_steps
        self.steps_per_epoch = steps_per_epoch
        self.steps = 0
        self._epoch: tuple[int, int] | None = None  # (the clock at the epoch's start, its expected batches)
        self._taken = 0

    def start_epoch(self, batches: int) -> None:
        """An epoch of about ``batches`` optimizer steps begins (the loader's ``len`` now)."""
        if self.steps_per_epoch:
            self._epoch, self._taken = (self.steps, max(1, int(batches))), 0

    def step_batch(self) -> None:
        """After an optimizer step: the clock moves by the step's share of the epoch."""
        if self._epoch is None:
            self._tick()
            return
        self._taken += 1
        start, expected = self._epoch
        self._advance_to(start + min(self.steps_per_epoch, self._taken * self.steps_per_epoch // expected))

    def end_epoch(self) -> None:
        """After an epoch's last step: the clock goes to the epoch's end (steps the loader's ``len``
        promised but that did not come)."""
        if self._epoch is not None:
            self._advance_to(self._epoch[0] + self.steps_per_epoch)
            self._epoch = None

    def _advance_to(self, clock: int) -> None:
        while self.steps < clock:
            self._tick()

    def _tick(self) -> None:
        self.steps += 1
        # NOTE: with plateau, `scheduler` is the warmup alone; stepping it W times ends at factor 1.
        if self.scheduler is not None and (self.plateau is None or self.steps <= self.warmup_steps):
            self.scheduler.step()

    def step_epoch(self, record: dict) -> None:
        if self.plateau is not None and self.steps >= self.warmup_steps:
            self.plateau.step(record[self.monitor])

    def state_dict(self) -> dict:
        return {
            "name": self.name, "steps": self.steps,
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise ConfigError(f"checkpoint: saved schedule {state.get('name')!r} is not {self.name!r}")
        self.steps = state["steps"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.plateau is not None:
            self.plateau.load_state_dict(state["plateau"])


def _is_factory(spec: Any) -> bool:
    return callable(spec) and not isinstance(spec, (str, dict))


def _describe(factory: Any) -> str:
    """A stable name for a scheduler class or callable (no memory address: resumes compare it)."""
    import functools

    if isinstance(factory, functools.partial):
        kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(factory.keywords.items()))
        return f"{_describe(factory.func)}({kwargs})"
    name = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{getattr(factory, '__module__', None) or type(factory).__module__}.{name}"


#: torch schedulers whose documentation says to step them after every batch: stepping them per
#: epoch would stretch a one-cycle over ``total_steps`` epochs (the LR would barely move).
PER_BATCH_SCHEDULERS = (lrs.OneCycleLR, lrs.CyclicLR)


class EpochSchedule(Schedule):
    """A user's torch scheduler: once per epoch after validation (``ReduceLROnPlateau`` with the
    monitored metric), or after every optimizer step for ``PER_BATCH_SCHEDULERS``."""

    def __init__(self, name: str, scheduler: Any, monitor: str, steps_per_epoch: int | None = None) -> None:
        plateau = scheduler if isinstance(scheduler, lrs.ReduceLROnPlateau) else None
        super().__init__(name, None if plateau else scheduler, plateau=plateau, monitor=monitor,
                         steps_per_epoch=steps_per_epoch)
        self.interval = "step" if isinstance(scheduler, PER_BATCH_SCHEDULERS) else "epoch"

    def _tick(self) -> None:
        self.steps += 1
        if self.interval == "step":
            self.scheduler.step()

    def step_epoch(self, record: dict) -> None:
        if self.plateau is not None:
            self.plateau.step(record[self.monitor])
        elif self.interval == "epoch":
            self.scheduler.step()


def _from_factory(factory: Any, optimizer: torch.optim.Optimizer, monitor: str,
                  steps_per_epoch: int | None = None) -> EpochSchedule:
    name = _describe(factory)
    try:
        scheduler = factory(optimizer)
    except TypeError as err:
        raise ConfigError(f"schedule {name}: {err}; give its arguments with functools.partial, e.g. "
                          f"partial(StepLR, step_size=10)") from None
    if not isinstance(scheduler, (lrs.LRScheduler, lrs.ReduceLROnPlateau)):
        raise ConfigError(f"schedule: {name}(optimizer) must return a torch.optim.lr_scheduler scheduler, "
                          f"returned {type(scheduler).__name__}")
    return EpochSchedule(name, scheduler, monitor, steps_per_epoch)


def _from_instance(scheduler: Any, optimizer: torch.optim.Optimizer, monitor: str,
                   steps_per_epoch: int | None = None) -> EpochSchedule:
    """A scheduler the user built on the optimizer the Trainer steps (``Trainer(optimizer=<that optimizer>)``),
    stepped as torch's documentation steps it (``EpochSchedule``).

    NOTE: an instance was refused ("expected a name or a mapping"); plain PyTorch builds it on its optimizer."""
    if scheduler.optimizer is not optimizer:
        name = type(scheduler).__name__
        raise ConfigError(f"schedule: the {name} given steps an optimizer the Trainer does not train with; pass that "
                          f"optimizer too (Trainer(optimizer=<the one {name} was built on>, schedule=...)), or give "
                          f"the scheduler's class with its arguments: functools.partial(torch.optim.lr_scheduler."
                          f"{name}, ...)")
    return EpochSchedule(_describe(type(scheduler)), scheduler, monitor, steps_per_epoch)


#: named schedules that need no batches-per-epoch count (without ``warmup_epochs``)
UNSIZED_SCHEDULES = ("constant", "plateau")


def build_schedule(spec: Any, optimizer: torch.optim.Optimizer, *, epochs: int, steps_per_epoch: int | None,
                   monitor: str = "val_loss") -> Schedule | None:
    """The ``Schedule`` for ``spec`` driving ``optimizer`` over ``epochs`` × ``steps_per_epoch`` steps.

    Args:
        spec: ``None``, a name, or a mapping (see the module table).
        optimizer: a fresh optimizer (its ``lr`` is α₀).
        epochs: planned epochs (cosine and onecycle span them).
        steps_per_epoch: optimizer steps per epoch; None when the training data cannot say (a stream
            without ``len``): then only ``UNSIZED_SCHEDULES`` without ``warmup_epochs``, or a torch
            scheduler built by the caller, can be made.
        monitor: the metric ``plateau`` watches unless its ``monitor`` key says otherwise.

    Raises:
        ConfigError: a bad spec, a warmup that leaves no training, or a schedule sized in epochs
            without ``steps_per_epoch``.
    """
    if _is_factory(spec):
        return _from_factory(spec, optimizer, monitor, steps_per_epoch)
    if isinstance(spec, (lrs.LRScheduler, lrs.ReduceLROnPlateau)):
        return _from_instance(spec, optimizer, monitor, steps_per_epoch)
    cfg = check_schedule(spec)
    if cfg is None:
        return None
    spe = steps_per_epoch
    if spe is None:
        if cfg["name"] not in UNSIZED_SCHEDULES or cfg["warmup_epochs"]:
            sized = "its warmup_epochs" if cfg["name"] in UNSIZED_SCHEDULES else "it"
            raise ConfigError(
                f"schedule {cfg['name']!r}: {sized} is measured in batches per epoch, and the training "
                f"DataLoader has no len() (a dataset without __len__, e.g. an IterableDataset stream); give "
                f"Trainer(steps_per_epoch=...) the batches one epoch yields, or the dataset a __len__")
        warm, remaining = int(cfg["warmup_steps"]), None
    else:
        warm = int(round(cfg["warmup_epochs"] * spe)) or int(cfg["warmup_steps"])
        remaining = epochs * spe - warm
        if remaining < 1:
            raise ConfigError(f"schedule: warmup of {warm} steps leaves no training ({epochs} epochs × {spe} steps)")
    if cfg["name"] == "plateau":
        return _plateau(cfg, optimizer, warm, monitor, spe)
    main = _MAIN[cfg["name"]](cfg, optimizer, spe, remaining)
    if warm:
        main = lrs.SequentialLR(optimizer, [_warmup(optimizer, warm), main], milestones=[warm])
    return Schedule(cfg["name"], main, warmup_steps=warm, steps_per_epoch=spe)


def _warmup(optimizer: torch.optim.Optimizer, warm: int) -> lrs.LambdaLR:
    # NOTE: built after the main schedule, so its base LR is the main schedule's starting LR
    # (onecycle starts at max_lr/div_factor, cyclic at base_lr): the ramp meets the schedule.
    return lrs.LambdaLR(optimizer, lambda s: warmup_factor(s, warm))


def _plateau(cfg: dict, optimizer, warm: int, monitor: str, spe: int) -> Schedule:
    monitor = cfg["monitor"] or monitor
    plateau = lrs.ReduceLROnPlateau(
        optimizer, mode="max" if monitor.endswith("accuracy") else "min", factor=cfg["factor"],
        patience=int(cfg["patience"]), threshold=cfg["threshold"], cooldown=int(cfg["cooldown"]),
        min_lr=cfg["min_lr"],
    )
    warmup = _warmup(optimizer, warm) if warm else None
    return Schedule("plateau", warmup, warmup_steps=warm, plateau=plateau, monitor=monitor, steps_per_epoch=spe)


def _per_epoch(optimizer, spe: int, factor: Callable[[int], float]) -> lrs.LambdaLR:
    """A LambdaLR stepped per step whose multiplier changes only at epoch boundaries."""
    return lrs.LambdaLR(optimizer, lambda s: factor(s // spe))


def _step(cfg, optimizer, spe, remaining):
    return lrs.StepLR(optimizer, step_size=int(cfg["step_size"]) * spe, gamma=cfg["gamma"])


def _exponential(cfg, optimizer, spe, remaining):
    return _per_epoch(optimizer, spe, lambda t: exponential_factor(t, cfg["k"]))


def _inverse(cfg, optimizer, spe, remaining):
    return _per_epoch(optimizer, spe, lambda t: inverse_factor(t, cfg["k"]))


def _inverse_sqrt(cfg, optimizer, spe, remaining):
    return _per_epoch(optimizer, spe, inverse_sqrt_factor)


def _constant(cfg, optimizer, spe, remaining):
    return lrs.LambdaLR(optimizer, lambda s: 1.0)


def _cosine(cfg, optimizer, spe, remaining):
    if cfg["T_0"] is not None:
        return lrs.CosineAnnealingWarmRestarts(
            optimizer, T_0=max(1, round(cfg["T_0"] * spe)), T_mult=int(cfg["T_mult"]), eta_min=cfg["eta_min"])
    t_max = remaining if cfg["T_max"] is None else max(1, round(cfg["T_max"] * spe))
    return lrs.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=cfg["eta_min"])


def _cyclic(cfg, optimizer, spe, remaining):
    lr = optimizer.param_groups[0]["lr"]
    max_lr = cfg["max_lr"] or lr
    base_lr = cfg["base_lr"] or max_lr / 10
    if base_lr >= max_lr:
        raise ConfigError(f"schedule.base_lr: expected less than max_lr ({max_lr:g}), got {base_lr:g}")
    try:
        return lrs.CyclicLR(optimizer, base_lr=base_lr, max_lr=max_lr,
                            step_size_up=int(cfg["step_size_up"] or 2 * spe), mode=cfg["mode"],
                            gamma=cfg["gamma"], cycle_momentum=cfg["cycle_momentum"])
    except ValueError as err:
        raise ConfigError(f"schedule 'cyclic': {err}") from None


def _onecycle(cfg, optimizer, spe, remaining):
    group = optimizer.param_groups[0]
    momentum = cfg["cycle_momentum"]
    if momentum is None:  # cycle momentum only where the optimizer really has some
        momentum = "betas" in group or group.get("momentum", 0) > 0
    try:
        return lrs.OneCycleLR(
            optimizer, max_lr=cfg["max_lr"] or group["lr"], total_steps=remaining,
            pct_start=cfg["pct_start"], anneal_strategy=cfg["anneal_strategy"],
            cycle_momentum=momentum, div_factor=cfg["div_factor"],
            final_div_factor=cfg["final_div_factor"], three_phase=cfg["three_phase"],
        )
    except ValueError as err:
        raise ConfigError(f"schedule 'onecycle': {err}") from None


_MAIN: dict[str, Callable] = {
    "constant": _constant, "step": _step, "exponential": _exponential, "inverse": _inverse,
    "inverse_sqrt": _inverse_sqrt, "cosine": _cosine, "cyclic": _cyclic, "onecycle": _onecycle,
}
