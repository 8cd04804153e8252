"""``Space``: named parameters, their conditions, and the maps every sampler works through.

Why one object: samplers only ever talk to a space through ``sample``, ``to_unit`` /
``from_unit``, ``grid`` and ``validate``, so a new parameter type or condition never reaches
the search code. A study stores ``space.to_json()`` and checks it on resume.

Example:
    >>> import numpy as np
    >>> from knobs.space import Choice, Float, Space
    >>> space = Space({"optimizer": Choice(["sgd", "adam"]),
    ...                "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"}),
    ...                "lr": Float(1e-4, 1e-1, log=True)})
    >>> config = space.sample(np.random.default_rng(0), 1)[0]
    >>> space.validate(config)
    >>> ("momentum" in config) == (config["optimizer"] == "sgd")
    True
"""

from __future__ import annotations

import numbers
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from knobs.errors import ConfigError, SpaceError
from knobs.space._conditions import is_active, order_names
from knobs.space._grid import grid_configs
from knobs.space._params import Param, param_from_json

__all__ = ["Space"]

_JSON_VERSION = 1


class Space:
    """A search space: an ordered mapping of names to ``Float`` / ``Int`` / ``Choice``.

    Coordinates of the unit cube follow ``space.names``: parents before the parameters whose
    ``when`` names them, otherwise the order given. Inactive parameters are absent from configs
    and encode to 0.5.

    Args:
        params: ``{name: Float(...) | Int(...) | Choice(...)}``.

    Raises:
        SpaceError: the mapping is empty, a name is not a non-empty str, a value is not a
            parameter, or a ``when`` names an unknown parameter, a value its parent never takes,
            or forms a cycle.
    """

    def __init__(self, params: Mapping[str, Param]) -> None:
        if not isinstance(params, Mapping):
            raise SpaceError(f"Space expects a dict of name -> Float/Int/Choice, got "
                             f"{type(params).__name__}")
        if not params:
            raise SpaceError("the space is empty; give at least one parameter")
        for name, param in params.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(param, Param):
                raise SpaceError(f"parameter {name!r} must be a knobs.Float, Int or Choice, got "
                                 f"{type(param).__name__} {param!r}{as_param_hint(param)}")
        self._params = dict(params)
        self.names = order_names(self._params)

    # -- mapping protocol ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> Param:
        if name not in self._params:
            raise SpaceError(f"unknown parameter {name!r} (known: {list(self.names)})")
        return self._params[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {self._params[n]!r}" for n in self.names)
        return f"Space({{{inner}}})"

    # -- conditions and validation ---------------------------------------------------------
    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        """Whether parameter ``name`` is active given the (possibly partial) ``config``."""
        self[name]  # noqa: B018 - SpaceError for an unknown name
        return is_active(self._params, name, config)

    def validate(self, config: Mapping[str, Any]) -> None:
        """Raise ConfigError naming the key if ``config`` is not a valid point of this space.

        Checks, in ``names`` order: no unknown keys, every active parameter present with a value
        of the right type and range, no inactive parameter present.
        """
        if not isinstance(config, Mapping):
            raise ConfigError(f"a config must be a dict, got {type(config).__name__} {config!r}")
        for key in config:
            if key not in self._params:
                raise ConfigError(f"unknown key {key!r} in config (the space has "
                                  f"{list(self.names)})")
        for name in self.names:
            active = is_active(self._params, name, config)
            if active and name not in config:
                raise ConfigError(f"config is missing the active key {name!r}")
            if not active and name in config:
                raise ConfigError(f"key {name!r} is inactive (it needs "
                                  f"{self._params[name].when}) but is present in the config")
            if name in config:
                self._params[name].check(config[name], name)

    # -- unit cube -------------------------------------------------------------------------
    def to_unit(self, config: Mapping[str, Any], validated: bool = False) -> np.ndarray:
        """The ``(d,)`` unit-cube point of a valid config (inactive parameters at 0.5).

        ``validated``: the caller has already checked the config against this space (a sampler's
        history is filtered by ``validate``), so it is not checked again: a third of a warm
        ``Bayes`` suggestion's time at 120 points went to checking the same configs twice more."""
        if not validated:
            self.validate(config)
        return np.array([self._params[n].to_unit(config[n]) if n in config else 0.5
                         for n in self.names], dtype=float)

    def to_unit_many(self, configs: Sequence[Mapping[str, Any]], validated: bool = False) -> np.ndarray:
        """``to_unit`` of each config, stacked to shape ``(n, d)``."""
        if not configs:
            return np.empty((0, len(self)))
        return np.stack([self.to_unit(c, validated) for c in configs])

    def from_unit(self, u: Any) -> dict[str, Any]:
        """The config at unit-cube point ``u`` (shape ``(d,)``, clipped to [0, 1]).

        Inactive parameters are dropped, whatever their coordinate.
        """
        u = np.asarray(u, dtype=float)
        if u.shape != (len(self),):
            raise SpaceError(f"from_unit expects shape ({len(self)},) — one coordinate per "
                             f"parameter in space.names order — got shape {u.shape}")
        if np.isnan(u).any():
            bad = [n for n, x in zip(self.names, u) if np.isnan(x)]
            raise SpaceError(f"from_unit got NaN coordinates for {bad}; expected numbers in [0, 1]")
        config: dict[str, Any] = {}
        for name, x in zip(self.names, u):
            if is_active(self._params, name, config):
                config[name] = self._params[name].from_unit(x)
        return config

    def sample(self, rng: np.random.Generator | int | None, n: int) -> list[dict[str, Any]]:
        """``n`` independent configs from the space's prior.

        Floats are uniform (log-uniform on log axes), ints uniform over their integers (log ints
        log-uniform), choices uniform over options, steps respected — all because ``from_unit``
        maps a uniform unit point to that prior.

        Args:
            rng: a ``np.random.Generator`` (or a seed for one).
            n: how many configs (>= 0).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ConfigError(f"n must be an integer >= 0, got {n!r}")
        try:
            rng = np.random.default_rng(rng)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"rng must be a numpy Generator or a seed, got {rng!r} "
                              f"({e})") from None
        return [self.from_unit(u) for u in rng.random((int(n), len(self)))]

    def grid(self, points_per_axis: int | Mapping[str, int]) -> list[dict[str, Any]]:
        """Full-factorial grid: ``points_per_axis`` values per numeric axis (an int for all, or
        ``{name: count}`` for each numeric parameter), all options of each choice.

        Log axes are spaced geometrically, integer axes deduplicated after rounding, conditional
        parameters expanded only where active (so no config appears twice).
        """
        return grid_configs(self, points_per_axis)

    # -- JSON ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict; ``Space.from_json(space.to_json()) == space``."""
        return {"version": _JSON_VERSION,
                "params": {n: self._params[n].to_json() for n in self.names}}

    @classmethod
    def from_json(cls, d: Any) -> Space:
        """Rebuild a space from ``to_json()`` output; SpaceError if it is malformed."""
        if not isinstance(d, Mapping) or not isinstance(d.get("params"), Mapping):
            raise SpaceError(f"a stored space must be a dict with a 'params' dict, got {d!r}")
        if d.get("version", _JSON_VERSION) != _JSON_VERSION:
            raise SpaceError(f"stored space has version {d.get('version')!r}; this knobs reads "
                             f"version {_JSON_VERSION}")
        return cls({n: param_from_json(p, f"parameter {n!r}") for n, p in d["params"].items()})


def as_param_hint(value: Any) -> str:
    """The knobs parameter a plain value most likely meant, as a hint: a (low, high) pair of numbers a range, a
    list of values a choice."""
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             for v in value):
        kind = "Int" if all(isinstance(v, int) for v in value) else "Float"
        return f" (a range: knobs.{kind}({value[0]!r}, {value[1]!r}), with log=True for a rate)"
    if isinstance(value, (list, tuple)) and value:
        return f" (a choice: knobs.Choice({list(value)!r}))"
    return ""
