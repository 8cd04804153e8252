"""Coarse-to-fine search: sample broadly, then zoom in on the best region, round after round.

The classic practice (CS231n: "first search coarsely over orders of magnitude, then refine"):
round 0 samples the whole space; each later round samples a box around the best trials so far,
narrowing as rounds go on. Everything happens in unit-cube coordinates, so a log axis is zoomed
in orders of magnitude and an integer axis in equal-mass bins.

The box math is pure (``round_of``, ``shrink_box``, ``choice_bins``, ``into_box``,
``search_box``); the sampler only wires the history to it.

Array shapes: ``k`` top trials, ``d = len(space)`` coordinates, ``n`` points to draw.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from knobs.search._base import check_number, check_request, completed_losses, fresh_configs, taken_keys
from knobs.search._random import StreamSampler, UnitStream
from knobs.space import Space
from knobs.trial import FrozenTrial

__all__ = [
    "CoarseToFine", "choice_bins", "into_box", "round_of", "round_sizes", "search_box",
    "shrink_box",
]

DEFAULT_PER_ROUND = 10

Box = tuple[np.ndarray, np.ndarray, dict[int, tuple[int, np.ndarray]]]


def round_of(index: int, per_round: int, rounds: int) -> int:
    """The round of the ``index``-th trial (0-based); the last round never ends."""
    return min(index // per_round, rounds - 1)


def round_sizes(start: int, n: int, per_round: int, rounds: int) -> list[tuple[int, int]]:
    """``[(round, count), ...]`` for trials ``start .. start + n - 1``, in order."""
    sizes: list[tuple[int, int]] = []
    for index in range(start, start + n):
        r = round_of(index, per_round, rounds)
        if sizes and sizes[-1][0] == r:
            sizes[-1] = (r, sizes[-1][1] + 1)
        else:
            sizes.append((r, 1))
    return sizes


def shrink_box(points: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """The box around ``points`` ``(k, d)`` padded by ``width / 2`` on each side.

    NaN coordinates (inactive parameters) are ignored; a column with none left keeps the full
    ``[0, 1]``. A box sticking out of the cube is shifted back inside (keeping its width, so an
    optimum at a bound is still searched ``width`` deep), then clipped to ``[0, 1]``.

    Returns:
        ``(lo, hi)``, each ``(d,)``, with ``hi - lo >= min(width, 1)`` on every column.
    """
    points = np.asarray(points, dtype=float)
    lo, hi = np.zeros(points.shape[1]), np.ones(points.shape[1])
    for j in range(points.shape[1]):
        col = points[~np.isnan(points[:, j]), j]
        if col.size:
            lo[j], hi[j] = col.min() - width / 2, col.max() + width / 2
    shift = np.clip(-lo, 0.0, None) - np.clip(hi - 1.0, 0.0, None)
    return np.clip(lo + shift, 0.0, 1.0), np.clip(hi + shift, 0.0, 1.0)


def choice_bins(column: np.ndarray, k: int) -> np.ndarray:
    """Sorted indices of the options (of ``k``) seen in a unit ``column``; all if none seen."""
    column = np.asarray(column, dtype=float)
    column = column[~np.isnan(column)]
    if column.size == 0:
        return np.arange(k)
    return np.unique(np.minimum((column * k).astype(int), k - 1))


def into_box(u: np.ndarray, lo: np.ndarray, hi: np.ndarray,
             choices: Mapping[int, tuple[int, np.ndarray]]) -> np.ndarray:
    """Map uniform points ``u`` ``(n, d)`` into the box; choice columns onto the allowed bins.

    ``choices`` maps a column to ``(k, allowed bin indices)``; such a column's coordinate picks
    one allowed option uniformly and lands on its bin centre.
    """
    x = lo + np.asarray(u, dtype=float) * (hi - lo)
    for j, (k, bins) in choices.items():
        pick = np.minimum((u[:, j] * len(bins)).astype(int), len(bins) - 1)
        x[:, j] = (bins[pick] + 0.5) / k
    return x


def search_box(space: Space, top: Sequence[Mapping[str, Any]], width: float) -> Box:
    """The round's box around the ``top`` configs: numeric axes shrunk, choices restricted."""
    points = space.to_unit_many(top) if top else np.empty((0, len(space)))
    for i, config in enumerate(top):
        for j, name in enumerate(space.names):
            if name not in config:
                points[i, j] = np.nan
    lo, hi = shrink_box(points, width)
    choices = {}
    for j, name in enumerate(space.names):
        if space[name].kind == "choice":
            k = len(space[name].options)
            choices[j] = (k, choice_bins(points[:, j], k))
            lo[j], hi[j] = 0.0, 1.0
    return lo, hi, choices


def full_box(d: int) -> Box:
    return np.zeros(d), np.ones(d), {}


def _configs_in(space: Space, stream: UnitStream, box: Box, taken: set[tuple],
                count: int) -> list[dict[str, Any]]:
    """``count`` unused configs drawn in ``box`` (``taken`` is updated)."""

    def propose_in(b: Box) -> Callable[[int], list[dict]]:
        return lambda m: [space.from_unit(x) for x in into_box(stream.draw(m, len(space)), *b)]

    configs = fresh_configs(propose_in(box), taken, count)
    # NOTE: in a small discrete space the box, then the whole space, may run out of unused
    # points; only then are repeats returned.
    if len(configs) < count:
        configs += fresh_configs(propose_in(full_box(len(space))), taken, count - len(configs))
    if len(configs) < count:
        configs += propose_in(box)(count - len(configs))
    return configs


class CoarseToFine(StreamSampler):
    """Round 0 samples the whole space; round r samples a box around the best trials so far.

    Trial ``i`` of the study (counting every trial it has asked for, running, failed and pruned
    ones included, so round boundaries never depend on timing) belongs to round
    ``min(i // per_round, rounds - 1)``. Round r's box spans the ``top_k`` best complete trials
    in unit coordinates, padded by ``shrink ** r / 2`` per side (so at least ``shrink ** r`` of
    each numeric axis wide), shifted and clipped into the cube; a choice keeps only the options
    seen among the ``top_k``. After the last round the finest box keeps being sampled. With no
    complete trial yet, a round samples the whole space.

    Args:
        rounds: number of rounds (>= 1); the last one runs until the study stops.
        per_round: trials per round; None means 10 (so the default schedule is 10 broad
            trials, 10 in a half-width box, then the quarter-width box).
        top_k: how many of the best trials the box is built around.
        shrink: width factor per round, in (0, 1]; 1 keeps the box as wide as the top trials'
            spread plus a full width of padding (no zoom).
        seed: None or an int >= 0.
        qmc: draw each box's points from one scrambled Sobol sequence (even coverage of small
            batches) instead of independent uniforms.

    Example:
        >>> from knobs.space import Float, Space
        >>> space = Space({"x": Float(-1.0, 1.0)})
        >>> [c] = CoarseToFine(seed=0).suggest(space, [])
        >>> -1.0 <= c["x"] <= 1.0
        True
    """

    def __init__(self, rounds: int = 3, per_round: int | None = None, top_k: int = 3,
                 shrink: float = 0.5, seed: int | None = None, qmc: bool = True) -> None:
        self.rounds = rounds
        self.per_round = per_round
        self.top_k = top_k
        self.shrink = shrink
        self.seed = seed
        self.qmc = qmc
        self._stream: UnitStream | None = None

    def _schedule(self) -> tuple[int, int, int, float]:
        """Validated ``(rounds, per_round, top_k, shrink)``."""
        per_round = DEFAULT_PER_ROUND if self.per_round is None else self.per_round
        return (check_number(self.rounds, "rounds", 1, float("inf"), integer=True),
                check_number(per_round, "per_round", 1, float("inf"), integer=True),
                check_number(self.top_k, "top_k", 1, float("inf"), integer=True),
                check_number(self.shrink, "shrink", 0.0, 1.0, low_open=True))

    def suggest(self, space: Space, trials: Sequence[FrozenTrial], n: int = 1, *,
                direction: str = "minimize") -> list[dict[str, Any]]:
        trials = check_request(space, trials, n, direction)
        rounds, per_round, top_k, shrink = self._schedule()
        stream = self._unit_stream()
        results = sorted(completed_losses(trials, direction, space), key=lambda r: r[1])
        top = [config for config, _ in results[:top_k]]
        taken = taken_keys(trials)
        out: list[dict[str, Any]] = []
        for r, count in round_sizes(len(trials), n, per_round, rounds):
            box = search_box(space, top, shrink**r) if r > 0 and top else full_box(len(space))
            out += _configs_in(space, stream, box, taken, count)
        return out

    def state_dict(self) -> dict[str, Any]:
        return self._unit_stream().state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._unit_stream().load_state_dict(state)
