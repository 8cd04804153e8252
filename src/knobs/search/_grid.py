"""Grid search: walk the full-factorial grid of a space, skipping points any trial holds.

Why derive the position from the history instead of a counter: a resumed study, a crashed
worker or a hand-enqueued trial can never make the grid skip or repeat a point — the next
suggestion is simply the first grid point whose config no trial holds (in any state).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from knobs.errors import ConfigError
from knobs.search._base import (
    Sampler, check_flag, check_request, check_seed, config_key, taken_keys,
)
from knobs.space import Space
from knobs.trial import FrozenTrial

__all__ = ["Grid"]


class Grid(Sampler):
    """Full-factorial grid search over ``space.grid(points_per_axis)``.

    When every grid point is held by a trial, ``suggest`` returns fewer configs than asked for
    — an empty list once the grid is exhausted — and the study stops. Log axes are spaced
    geometrically, conditional parameters expanded only where active.

    Args:
        points_per_axis: values per numeric parameter: an int for all of them, or
            ``{name: count}`` naming every numeric parameter. Choices use all their options.
        shuffle: visit the grid in a seeded random order (useful when the budget may end
            before the grid does: every prefix then covers the whole range of every axis).
        seed: None or an int >= 0; only used with ``shuffle``.

    Example:
        >>> from knobs.space import Choice, Float, Space
        >>> space = Space({"opt": Choice(["sgd", "adam"]), "lr": Float(1e-3, 1e-1, log=True)})
        >>> [c["lr"] for c in Grid(points_per_axis=3).suggest(space, [], n=3)]
        [0.001, 0.01, 0.1]
    """

    def __init__(self, points_per_axis: int | Mapping[str, int] = 5, shuffle: bool = False,
                 seed: int | None = None) -> None:
        self.points_per_axis = points_per_axis
        self.shuffle = shuffle
        self.seed = seed
        self._seed: int | None = None  # resolved seed (entropy when seed is None)
        self._cache: tuple[Any, list[dict], list[tuple]] | None = None

    def _resolved_seed(self) -> int:
        if self._seed is None:
            seed = check_seed(self.seed)
            self._seed = seed if seed is not None else int(np.random.SeedSequence().entropy % 2**63)
        return self._seed

    def _ordered_grid(self, space: Space) -> tuple[list[dict], list[tuple]]:
        """The grid in visiting order and the configs' keys (cached per space)."""
        ident = (space.to_json(), self.points_per_axis, self.shuffle, self._resolved_seed())
        if self._cache is None or self._cache[0] != ident:
            configs = space.grid(self.points_per_axis)
            if check_flag(self.shuffle, "shuffle"):
                order = np.random.default_rng(self._resolved_seed()).permutation(len(configs))
                configs = [configs[i] for i in order]
            self._cache = (ident, configs, [config_key(c) for c in configs])
        return self._cache[1], self._cache[2]

    def suggest(self, space: Space, trials: Sequence[FrozenTrial], n: int = 1, *,
                direction: str = "minimize") -> list[dict[str, Any]]:
        trials = check_request(space, trials, n, direction)
        configs, keys = self._ordered_grid(space)
        taken = taken_keys(trials)
        out: list[dict[str, Any]] = []
        for config, key in zip(configs, keys):
            if len(out) >= n:
                break
            if key not in taken:
                out.append(dict(config))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self._resolved_seed()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        seed = state.get("seed")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"bad Grid state {dict(state)!r}: expected {{'seed': int >= 0}}")
        self._seed = seed
        self._cache = None
