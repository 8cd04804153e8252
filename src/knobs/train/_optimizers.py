"""Optimizers by name, all from ``torch.optim``; knobs only validates the options.

Why a table: the pipeline receives optimizer names from a search space, and a wrong option (``rho``
for Adam) must stop the trial with a message naming the key and the valid ones, not a TypeError.
Weight decay is coupled L2 (added to the gradient) for every optimizer but ``adamw``, whose decay is
decoupled (Loshchilov & Hutter) — that is exactly torch's semantics for these classes.

Beyond names (case-insensitive: "Adam", "SGD"), the optimizer may be a ``torch.optim`` class or a
``functools.partial`` of one (called with the parameter groups, ``lr`` and ``optimizer_options``),
or any callable ``params -> Optimizer`` (it decides everything but the groups: biases and norm
parameters still get no weight decay when ``weight_decay > 0``), or an optimizer already built on the
parameters of the model being fit (plain PyTorch's habit): used as it is, its own learning rates and options.

Example:
    >>> from torch import nn
    >>> opt = build_optimizer("nesterov", nn.Linear(2, 1), lr=0.1)
    >>> opt.param_groups[0]["momentum"], opt.param_groups[0]["nesterov"]
    (0.9, True)
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.train._regularization import decay_groups

__all__ = ["OPTIMIZERS", "build_optimizer", "check_optimizer", "check_lr", "optimizer_name", "optimizer_recipe"]


@dataclass(frozen=True)
class _Spec:
    cls: type[torch.optim.Optimizer]
    options: tuple[str, ...]
    defaults: dict[str, Any] = field(default_factory=dict)


OPTIMIZERS: dict[str, _Spec] = {
    "sgd": _Spec(torch.optim.SGD, ("momentum", "dampening", "nesterov")),
    "momentum": _Spec(torch.optim.SGD, ("momentum", "dampening"), {"momentum": 0.9}),
    "nesterov": _Spec(torch.optim.SGD, ("momentum",), {"momentum": 0.9, "nesterov": True}),
    "adagrad": _Spec(torch.optim.Adagrad, ("lr_decay", "initial_accumulator_value", "eps")),
    "adadelta": _Spec(torch.optim.Adadelta, ("rho", "eps")),
    "rmsprop": _Spec(torch.optim.RMSprop, ("alpha", "eps", "momentum", "centered")),
    "adam": _Spec(torch.optim.Adam, ("betas", "eps", "amsgrad")),
    "adamw": _Spec(torch.optim.AdamW, ("betas", "eps", "amsgrad")),
}


def _unit(low_open: bool = False, high_open: bool = True) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if not _is_number(v):
            return False
        above = v > 0 if low_open else v >= 0
        below = v < 1 if high_open else v <= 1
        return above and below
    return ok


def _is_number(v: Any) -> bool:
    """A finite real number, NumPy's too (``np.float32(0.9)`` from a grid); not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v)


def _betas(v: Any) -> bool:
    return isinstance(v, (tuple, list)) and len(v) == 2 and all(_unit()(b) for b in v)


_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "momentum": (_unit(), "a number in [0, 1)"),
    "dampening": (_unit(high_open=False), "a number in [0, 1]"),
    "nesterov": (lambda v: isinstance(v, bool), "true or false"),
    "lr_decay": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "initial_accumulator_value": (lambda v: _is_number(v) and v >= 0, "a number >= 0"),
    "eps": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "rho": (_unit(high_open=False), "a number in [0, 1]"),
    "alpha": (_unit(), "a number in [0, 1)"),
    "centered": (lambda v: isinstance(v, bool), "true or false"),
    "amsgrad": (lambda v: isinstance(v, bool), "true or false"),
    "betas": (_betas, "two numbers in [0, 1), e.g. [0.9, 0.999]"),
}


def check_lr(lr: Any, name: str = "lr") -> float:
    """A positive, finite learning rate."""
    if not _is_number(lr) or lr <= 0:
        raise ConfigError(f"{name}: expected a positive number, got {lr!r}")
    return float(lr)


def optimizer_name(optimizer: Any) -> str:
    """A stable text for an optimizer given by name (lower-cased), class, partial or callable."""
    if isinstance(optimizer, str):
        return optimizer.lower()
    if isinstance(optimizer, functools.partial):
        kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(optimizer.keywords.items()))
        return f"{optimizer_name(optimizer.func)}({kwargs})"
    name = getattr(optimizer, "__qualname__", None) or type(optimizer).__qualname__
    return f"{getattr(optimizer, '__module__', None) or type(optimizer).__module__}.{name}"


def _torch_class(optimizer: Any) -> bool:
    """A ``torch.optim.Optimizer`` subclass, or a partial of one (it takes ``lr`` and options)."""
    while isinstance(optimizer, functools.partial):
        optimizer = optimizer.func
    return inspect.isclass(optimizer) and issubclass(optimizer, torch.optim.Optimizer)


def check_optimizer(name: Any, *, lr: float, weight_decay: float = 0.0,
                    options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate an optimizer configuration; return the keyword arguments for its torch class.

    ``name`` may also be a torch class, a partial or a callable ``params -> Optimizer``: then only
    ``lr``, ``weight_decay`` and that ``options`` is a mapping are checked (torch checks the rest).

    Raises:
        ConfigError: unknown name or option, or a value out of range.
    """
    if isinstance(name, torch.optim.Optimizer):
        if weight_decay or options:
            raise ConfigError(f"optimizer: a {type(name).__name__} built on the parameters is used as it is, with the "
                              f"learning rates and options it was built with; set weight_decay and options when "
                              f"building it (not weight_decay={weight_decay!r}, optimizer_options={options!r} here), "
                              f"or give its class: optimizer=torch.optim.{type(name).__name__}")
        return {"lr": check_lr(lr)}
    if not isinstance(name, str) and callable(name):
        if not _is_number(weight_decay) or weight_decay < 0:
            raise ConfigError(f"weight_decay: expected a number >= 0, got {weight_decay!r}")
        if not isinstance(options or {}, dict):
            raise ConfigError(f"optimizer_options: expected a mapping, got {options!r}")
        if options and not _torch_class(name):
            raise ConfigError(f"optimizer_options: a callable optimizer ({optimizer_name(name)}) takes no options; "
                              f"set them inside it, or pass a torch.optim class or functools.partial")
        return {"lr": check_lr(lr), **dict(options or {})}
    spec = _spec(name)
    name = name.lower()
    kwargs = {**spec.defaults, **_check_options(name, spec, options or {})}
    if kwargs.get("nesterov") and (kwargs.get("momentum", 0) <= 0 or kwargs.get("dampening", 0) != 0):
        raise ConfigError(f"optimizer {name!r}: nesterov needs momentum > 0 and dampening = 0")
    if not _is_number(weight_decay) or weight_decay < 0:
        raise ConfigError(f"weight_decay: expected a number >= 0, got {weight_decay!r}")
    if "betas" in kwargs:
        kwargs["betas"] = tuple(float(b) for b in kwargs["betas"])
    return {"lr": check_lr(lr), **kwargs}


def build_optimizer(name: str, model: nn.Module, *, lr: float, weight_decay: float = 0.0,
                    options: dict[str, Any] | None = None) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer over ``model``'s trainable parameters.

    Args:
        name: a key of ``OPTIMIZERS``.
        model: the module to optimize.
        lr: learning rate.
        weight_decay: L2 strength on the weights (decoupled for ``adamw``); biases and
            normalization parameters are never decayed.
        options: optimizer hyperparameters (momentum, betas, eps, rho, alpha, nesterov, ...).

    Raises:
        ConfigError: unknown name or option, or a value out of range.
    """
    kwargs = check_optimizer(name, lr=lr, weight_decay=weight_decay, options=options)
    if isinstance(name, torch.optim.Optimizer):
        return _own_optimizer(name, model)
    groups = decay_groups(model, float(weight_decay))
    if isinstance(name, str):
        return OPTIMIZERS[name.lower()].cls(groups, weight_decay=0.0, **kwargs)
    try:
        optimizer = name(groups, **kwargs) if _torch_class(name) else name(groups)
    except TypeError as err:
        raise ConfigError(f"optimizer {optimizer_name(name)}: {err}") from None
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(f"optimizer: the callable {optimizer_name(name)} must return a torch.optim.Optimizer "
                          f"when called with the parameters, returned {type(optimizer).__name__}")
    return optimizer


def _own_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
    """An optimizer the user built, checked to step this model's parameters (and only them).

    NOTE: an instance was refused as an unknown name, its repr printed; plain PyTorch builds the optimizer first."""
    own = {id(p) for p in model.parameters()}
    stepped = [p for group in optimizer.param_groups for p in group["params"]]
    if not stepped or any(id(p) not in own for p in stepped):
        raise ConfigError(f"optimizer: the {type(optimizer).__name__} given was built on parameters that are not this "
                          f"model's (another model, or a copy of it); build it on model.parameters() of the model "
                          f"passed to fit, or give its class — optimizer=torch.optim.{type(optimizer).__name__}, lr=..., "
                          f"optimizer_options={{...}} — and knobs builds one for each model it trains")
    return optimizer


def optimizer_recipe(optimizer: torch.optim.Optimizer) -> tuple[Any, float, float]:
    """``(factory, lr, weight_decay)`` that build the same kind of optimizer on another model's parameters: the class
    with the options the instance was built with (its first parameter group's learning rate and weight decay), for
    what trains copies of the model (``knobs.diagnose``'s runs at other learning rates).

    Per-group learning rates are not carried over: the copies have other parameters."""
    group = optimizer.param_groups[0]
    accepted = inspect.signature(type(optimizer)).parameters
    options = {key: value for key, value in optimizer.defaults.items()
               if key in accepted and key not in ("params", "lr", "weight_decay")}
    return (functools.partial(type(optimizer), **options), float(group["lr"]),
            float(group.get("weight_decay", 0.0) or 0.0))


def _spec(name: Any) -> _Spec:
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ConfigError(f"optimizer: unknown {name!r}; expected one of {', '.join(OPTIMIZERS)} (any case), "
                          f"a torch.optim class, a functools.partial of one, or a callable params -> Optimizer")
    return OPTIMIZERS[name.lower()]


def _check_options(name: str, spec: _Spec, options: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise ConfigError(f"optimizer_options: expected a mapping, got {options!r}")
    for key, value in options.items():
        if key not in spec.options:
            raise ConfigError(
                f"optimizer_options: {key!r} is not an option of {name!r}; expected one of "
                f"{', '.join(spec.options)}"
            )
        check, expected = _CHECKS[key]
        if not check(value):
            raise ConfigError(f"optimizer_options.{key}: expected {expected}, got {value!r}")
    return dict(options)
