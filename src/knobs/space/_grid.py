"""Full-factorial grids over a space, expanding conditional parameters only where active.

Why expand in ``space.names`` order: parents come first, so each partial config already holds
the values that decide whether the next parameter is active. An inactive parameter leaves its
partial configs alone instead of multiplying them, so the grid has no duplicate configs.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Mapping

from knobs.errors import SpaceError

if TYPE_CHECKING:
    from knobs.space._space import Space

__all__ = ["grid_configs", "MAX_GRID"]

MAX_GRID = 1_000_000  # configs; a larger grid is almost surely a typo in points_per_axis


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpaceError(f"{what} must be an integer >= 1, got {value!r}")
    return int(value)


def points_per_name(space: Space, points_per_axis: int | Mapping[str, int]) -> dict[str, int]:
    """The number of grid points of every numeric parameter.

    Raises:
        SpaceError: a count is not an integer >= 1; a dict names an unknown parameter or a
            ``Choice`` (choices always use all their options) or misses a numeric parameter.
    """
    numeric = [n for n in space.names if space[n].kind != "choice"]
    if not isinstance(points_per_axis, Mapping):
        count = _count(points_per_axis, "points_per_axis")
        return {name: count for name in numeric}
    for name in points_per_axis:
        if name not in space:
            raise SpaceError(f"points_per_axis names unknown parameter {name!r} "
                             f"(known: {list(space.names)})")
        if space[name].kind == "choice":
            raise SpaceError(f"points_per_axis names {name!r}, a Choice: choices always use all "
                             "their options; remove it")
    missing = [n for n in numeric if n not in points_per_axis]
    if missing:
        raise SpaceError(f"points_per_axis has no entry for numeric parameter(s) {missing}")
    return {n: _count(points_per_axis[n], f"points_per_axis[{n!r}]") for n in numeric}


def grid_configs(space: Space, points_per_axis: int | Mapping[str, int]) -> list[dict]:
    """Every combination of the parameters' grid values, conditional ones only where active."""
    counts = points_per_name(space, points_per_axis)
    configs: list[dict] = [{}]
    for name in space.names:
        values = space[name].grid(counts.get(name, 1))
        active = [space.is_active(name, config) for config in configs]
        size = sum(len(values) if a else 1 for a in active)
        if size > MAX_GRID:
            raise SpaceError(f"the grid has more than {MAX_GRID:,} configs; lower "
                             "points_per_axis or use a random or Bayesian search")
        expanded: list[dict] = []
        for config, is_on in zip(configs, active):
            if is_on:
                expanded.extend({**config, name: v} for v in values)
            else:
                expanded.append(config)
        configs = expanded
    return configs
