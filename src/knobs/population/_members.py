"""Which keys a population shares, which each member owns, and grouping configs into populations.

Why architecture keys must agree: the members' parameters are stacked along a new first dimension
and one vmapped program runs them all, so every member needs tensors of the same shapes (width,
depth, channels, kernel size) and the same graph (activation, batch norm, pooling, init scheme
is only the start, but a different scheme is a different model family in a report). What differs
per member is what a tensor of per-member numbers can carry: the learning rate, weight decay,
momentum and betas, dropout probability, L1 and clipping. The optimizer must be of one family
("sgd"/"momentum"/"nesterov" share SGD's update, "adam"/"adamw" share Adam's) and epochs, batch
size and schedule shape are shared because they set the loop itself.

Example:
    >>> group_members("mlp", [{"width": 64, "lr": 0.1}, {"width": 128, "lr": 0.1},
    ...                       {"width": 64, "lr": 0.01}])
    [[0, 2], [1]]
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Sequence

from knobs.errors import ConfigError, KnobsError
from knobs.models import hyperparameters
from knobs.train import OPTIMIZERS as TORCH_OPTIMIZERS, Trainer
from knobs.train._optimizers import check_optimizer

__all__ = [
    "FAMILIES", "MEMBER_KEYS", "OPTIMIZERS", "SHARED_KEYS", "Member", "Shared",
    "group_members", "population_key", "resolve_members",
]

#: Model families population mode trains (their parameters stack; no embedding tables).
FAMILIES = ("mlp", "convnet")
#: Optimizer name → the update rule it shares with its family.
OPTIMIZERS = {"sgd": "sgd", "momentum": "sgd", "nesterov": "sgd", "adam": "adam", "adamw": "adam"}
#: Keys each member may set to its own value.
MEMBER_KEYS = ("optimizer", "lr", "weight_decay", "dropout", "momentum", "dampening", "nesterov",
               "beta1", "beta2", "eps", "l1", "clip_grad_norm", "clip_grad_value")
#: Trainer keys every member of one population must share.
SHARED_KEYS = ("epochs", "batch_size", "schedule")
_OPTION_KEYS = ("momentum", "dampening", "nesterov", "eps")


@dataclass(frozen=True)
class Member:
    """One member's resolved settings.

    ``kwargs`` are the keyword arguments its torch optimizer would get (``lr``, ``momentum``,
    ``betas``, ...), exactly as ``knobs.train.build_optimizer`` builds them.
    """

    index: int
    params: dict[str, Any]
    optimizer: str
    kwargs: dict[str, Any]
    weight_decay: float
    dropout: float
    l1: float
    clip_grad_norm: float | None
    clip_grad_value: float | None
    seed: int


@dataclass(frozen=True)
class Shared:
    """What the whole population shares: architecture and loop settings."""

    family: str
    architecture: dict[str, Any]
    optimizer_family: str
    epochs: int
    batch_size: int
    schedule: Any


def population_key(family: str, params: dict[str, Any], *, optimizer: str = "adam",
                   defaults: dict[str, Any] | None = None) -> str:
    """A text key equal for configs that can train in one population.

    Args:
        family: the model family.
        params: one config (model and trainer keys mixed, as a study proposes them).
        optimizer: the optimizer when ``params`` names none.
        defaults: values for keys a config leaves out (epochs, batch_size, schedule, model keys).
    """
    merged = {**(defaults or {}), **params}
    arch = _architecture(family, merged)
    name = merged.get("optimizer", optimizer)
    shared = {k: merged.get(k) for k in SHARED_KEYS}
    return json.dumps({"arch": arch, "optimizer": OPTIMIZERS.get(name, name), **shared},
                      sort_keys=True, default=str)


def group_members(family: str, configs: Sequence[dict[str, Any]], *, optimizer: str = "adam",
                  defaults: dict[str, Any] | None = None) -> list[list[int]]:
    """Indices of ``configs`` grouped into populations (first-seen order, stable within a group)."""
    groups: dict[str, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(population_key(family, config, optimizer=optimizer, defaults=defaults), []).append(i)
    return list(groups.values())


def resolve_members(family: str, model_params: dict[str, Any] | None, member_params: Sequence[dict[str, Any]],
                    *, optimizer: str, epochs: int, batch_size: int, schedule: Any, seed: Any,
                    device: str, precision: str, task: str) -> tuple[Shared, list[Member]]:
    """Check a population's settings and resolve each member's; nothing is built yet.

    Raises:
        ConfigError: no members, an unknown family, key or optimizer, members that differ in
            architecture or in a shared key, or a bad value (the message names the member).
    """
    _check_family(family)
    model_params = _check_mapping("model_params", model_params or {})
    if isinstance(member_params, dict) or not isinstance(member_params, Sequence) or len(member_params) == 0:
        raise ConfigError("member_params: expected a non-empty list of dicts, one per member "
                          f"(P >= 1), got {member_params!r}")
    seeds = _seeds(seed, len(member_params))
    merged = [{**model_params, **_check_mapping(f"member_params[{i}]", p)} for i, p in enumerate(member_params)]
    for i, params in enumerate(merged):
        _check_keys(family, params, i)
    shared = _shared(family, merged, optimizer=optimizer, epochs=epochs, batch_size=batch_size, schedule=schedule)
    members = [_member(i, params, shared, seeds[i], device=device, precision=precision, task=task,
                       optimizer=optimizer) for i, params in enumerate(merged)]
    return shared, members


def _check_family(family: Any) -> None:
    if family not in FAMILIES:
        raise ConfigError(f"family: population mode trains {', '.join(map(repr, FAMILIES))}, got {family!r}; "
                          f"train other families one trial at a time with knobs.train.Trainer")


def _check_mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a dict of parameters, got {type(value).__name__} {value!r}")
    return value


def _seeds(seed: Any, n: int) -> list[int]:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)
    if is_int(seed):
        return [seed + i for i in range(n)]
    if isinstance(seed, Sequence) and len(seed) == n and all(is_int(s) for s in seed):
        return list(seed)
    raise ConfigError(f"seed: expected an integer (member i gets seed + i) or {n} integers, got {seed!r}")


def _check_keys(family: str, params: dict[str, Any], i: int) -> None:
    valid = set(MEMBER_KEYS) | set(SHARED_KEYS) | set(hyperparameters(family))
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ConfigError(
            f"member_params[{i}]: {', '.join(map(repr, unknown))} cannot be set in population mode; "
            f"per-member keys are {', '.join(MEMBER_KEYS)}, shared keys {', '.join(SHARED_KEYS)}, and "
            f"{family!r} architecture keys {', '.join(k for k in hyperparameters(family) if k != 'dropout')}"
        )


def _architecture(family: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: params.get(k, default) for k, default in hyperparameters(family).items() if k != "dropout"}


def _shared(family: str, merged: list[dict[str, Any]], *, optimizer: str, epochs: int, batch_size: int,
            schedule: Any) -> Shared:
    defaults = {"epochs": epochs, "batch_size": batch_size, "schedule": schedule}
    first = {**_architecture(family, merged[0]), **{k: merged[0].get(k, v) for k, v in defaults.items()}}
    for i, params in enumerate(merged[1:], start=1):
        mine = {**_architecture(family, params), **{k: params.get(k, v) for k, v in defaults.items()}}
        for key, value in mine.items():
            if value != first[key]:
                what = "architecture" if key not in defaults else "a shared setting"
                raise ConfigError(
                    f"member_params: members 0 and {i} differ in {what} {key!r} ({first[key]!r} vs {value!r}); "
                    f"one population shares it — split the configs with knobs.population.group_members"
                )
    families = {OPTIMIZERS.get(p.get("optimizer", optimizer)) for p in merged}
    names = [p.get("optimizer", optimizer) for p in merged]
    for name in names:
        if name not in OPTIMIZERS:
            raise ConfigError(f"optimizer: {name!r} is not available in population mode; expected one of "
                              f"{', '.join(OPTIMIZERS)} (each has a vectorized update here)")
    if len(families) > 1:
        raise ConfigError(f"optimizer: one population mixes {sorted(set(names))}; SGD-family and Adam-family "
                          f"members keep different state — split them with knobs.population.group_members")
    return Shared(family=family, architecture=_architecture(family, merged[0]),
                  optimizer_family=families.pop(), epochs=first["epochs"], batch_size=first["batch_size"],
                  schedule=first["schedule"])


def _member(i: int, params: dict[str, Any], shared: Shared, seed: int, *, device: str, precision: str,
            task: str, optimizer: str) -> Member:
    name = params.get("optimizer", optimizer)
    options = {k: params[k] for k in _OPTION_KEYS if k in params}
    if "beta1" in params or "beta2" in params:
        options["betas"] = (params.get("beta1", 0.9), params.get("beta2", 0.999))
    settings = dict(optimizer=name, lr=params.get("lr", 1e-3), weight_decay=params.get("weight_decay", 0.0),
                    optimizer_options=options or None, schedule=shared.schedule, epochs=shared.epochs,
                    batch_size=shared.batch_size, l1=params.get("l1", 0.0),
                    clip_grad_norm=params.get("clip_grad_norm"), clip_grad_value=params.get("clip_grad_value"),
                    device=device, precision=precision, seed=seed, task=task)
    try:
        # NOTE: the Trainer's own checks, so a member is rejected exactly when a one-by-one trial would be.
        Trainer(**settings).validate()
        kwargs = _complete(name, check_optimizer(name, lr=settings["lr"], weight_decay=settings["weight_decay"],
                                                 options=options))
    except KnobsError as err:
        raise type(err)(f"member {i}: {err}") from None
    return Member(index=i, params=dict(params), optimizer=name, kwargs=kwargs,
                  weight_decay=float(settings["weight_decay"]), dropout=params.get("dropout", 0.0),
                  l1=float(settings["l1"]), clip_grad_norm=settings["clip_grad_norm"],
                  clip_grad_value=settings["clip_grad_value"], seed=seed)


def _complete(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The torch keyword arguments with the class's defaults filled in (betas, eps, momentum...)."""
    signature = inspect.signature(TORCH_OPTIMIZERS[name].cls).parameters
    keys = ("momentum", "dampening", "nesterov") if OPTIMIZERS[name] == "sgd" else ("betas", "eps")
    return {**{k: signature[k].default for k in keys}, **kwargs}
