"""Conditional parameters: which parameters are active, and an order with parents first.

Why parents first: a config is built (sampled, decoded from the unit cube, expanded on a grid)
in one pass over ``space.names``; when a parameter is reached, every parameter its ``when``
names has already been decided, so "is it active?" is a lookup in the partial config.
"""

from __future__ import annotations

from typing import Any, Mapping

from knobs.errors import SpaceError
from knobs.space._params import Param, value_key

__all__ = ["order_names", "is_active"]


def _check_when(params: Mapping[str, Param], name: str) -> None:
    """SpaceError if ``params[name].when`` names an unknown parent or a value it never takes."""
    for parent, values in params[name].when.items():
        if parent not in params:
            raise SpaceError(
                f"parameter {name!r}: when names unknown parameter {parent!r} "
                f"(known: {list(params)})"
            )
        for value in values:
            if parent != name and not params[parent].contains(value):
                raise SpaceError(
                    f"parameter {name!r}: when[{parent!r}] = {value!r} is not a value "
                    f"{parent!r} can take ({params[parent]!r})"
                )


def order_names(params: Mapping[str, Param]) -> tuple[str, ...]:
    """The names with every parent before its children, otherwise in the given order.

    Raises:
        SpaceError: a ``when`` names an unknown parameter or a value its parent never takes, or
            the conditions form a cycle.
    """
    for name in params:
        _check_when(params, name)
    placed: list[str] = []
    pending = list(params)
    while pending:
        ready = next((n for n in pending if all(p in placed for p in params[n].when)), None)
        if ready is None:
            raise SpaceError(f"the when conditions of {pending} form a cycle")
        placed.append(ready)
        pending.remove(ready)
    return tuple(placed)


def is_active(params: Mapping[str, Param], name: str, config: Mapping[str, Any]) -> bool:
    """Whether ``name`` is active in ``config``: every parent is active, present and allowed."""
    for parent, values in params[name].when.items():
        if parent not in config or not is_active(params, parent, config):
            return False
        if value_key(config[parent]) not in {value_key(v) for v in values}:
            return False
    return True
