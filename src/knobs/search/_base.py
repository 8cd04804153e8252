"""The sampler contract, and the small history helpers every sampler shares.

A sampler is a pure function of (space, trials, n) -> n configs plus its own seeded state. It
never touches storage and never mutates trials: it sees ``FrozenTrial`` snapshots only.

Call order (what ``knobs.Study`` does):

1. ``Sampler(...)`` — the constructor only stores its arguments (validated at first use).
2. On resume, ``load_state_dict(saved)`` before the first ``suggest``.
3. ``suggest(space, trials, n, direction=...)`` whenever configs are needed. ``trials`` is every
   trial of the study so far, running ones included, so a batch never repeats a point a busy
   worker holds.
4. ``state_dict()`` after each ``suggest``; the study stores it (JSON) next to the trials.

What counts in the history: only ``complete`` trials with a finite value are results
(``completed_losses``). Running, failed and pruned trials (and complete ones whose value is NaN/inf)
are "taken" points only — except for a model that reads learning curves: ``Bayes`` also fits on what
pruned trials reported and on an earlier study's trials (``knobs.search._history.model_history``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from knobs.errors import ConfigError
from knobs.space import Space
from knobs.trial import FrozenTrial, TrialState

__all__ = [
    "Sampler", "check_flag", "check_number", "check_request", "check_seed", "completed_losses",
    "config_key", "fresh_configs", "taken_keys",
]

DIRECTIONS = ("minimize", "maximize")
_MAX_PROPOSALS = 2048  # candidates per retry in fresh_configs


class Sampler:
    """Base class of all samplers; see the module docstring for the call order.

    Subclasses implement ``suggest`` and, when they keep state (a random generator, a sequence
    position), ``state_dict`` / ``load_state_dict``. A sampler with equal seed and equal history
    returns equal suggestions.
    """

    def suggest(self, space: Space, trials: Sequence[FrozenTrial], n: int = 1, *,
                direction: str = "minimize") -> list[dict[str, Any]]:
        """Return up to ``n`` new configs of ``space`` given the study's ``trials``.

        Args:
            space: the search space.
            trials: every trial so far (running, complete, failed, pruned).
            n: how many configs to propose at once (a batch for parallel workers).
            direction: ``"minimize"`` or ``"maximize"`` the trial values.
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state that lets a resumed study continue where it stopped."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore ``state_dict()`` output. Stateless samplers ignore it."""
        if not isinstance(state, Mapping):
            raise ConfigError(f"sampler state must be a dict, got {type(state).__name__}")

    def __repr__(self) -> str:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in names if hasattr(self, n))
        return f"{type(self).__name__}({args})"


def check_seed(seed: Any) -> int | None:
    """``seed`` if it is None or an int >= 0, else ConfigError."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ConfigError(f"seed must be None or an integer >= 0, got {seed!r}")
    return int(seed)


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is True or False, else ConfigError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_number(value: Any, name: str, low: float, high: float, *, integer: bool = False,
                 low_open: bool = False) -> Any:
    """``value`` if it is a (integer) number in ``[low, high]`` (``(low, high]`` with
    ``low_open``), else ConfigError naming ``name``."""
    kind = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kind) and not isinstance(value, (bool, np.bool_))
    if ok:
        ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        interval = f"{'(' if low_open else '['}{low}, {high}]"
        raise ConfigError(f"{name} must be {'an integer' if integer else 'a number'} in "
                          f"{interval}, got {value!r}")
    return int(value) if integer else float(value)


def check_request(space: Any, trials: Any, n: Any, direction: Any) -> list[FrozenTrial]:
    """Validate ``suggest``'s arguments; return ``trials`` as a list.

    Raises:
        ConfigError: ``space`` is not a Space, ``trials`` is not a sequence of FrozenTrial,
            ``n`` is not an integer >= 0, or ``direction`` is not minimize/maximize.
    """
    if not isinstance(space, Space):
        raise ConfigError(f"space must be a knobs.Space, got {type(space).__name__}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ConfigError(f"n must be an integer >= 0, got {n!r}")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    if isinstance(trials, (str, bytes)) or not isinstance(trials, Sequence):
        raise ConfigError(f"trials must be a sequence of FrozenTrial, got {type(trials).__name__}")
    for t in trials:
        if not isinstance(t, FrozenTrial):
            raise ConfigError(f"trials must hold FrozenTrial records, got {type(t).__name__}")
    return list(trials)


def completed_losses(trials: Sequence[FrozenTrial], direction: str,
                     space: Space | None = None) -> list[tuple[dict[str, Any], float]]:
    """``(config, loss)`` of the complete trials with a finite value; lower loss is better.

    ``loss`` is the value when minimizing and its negation when maximizing, so samplers only
    ever minimize. With ``space``, trials whose config is not valid for it (an older space, a
    hand-enqueued typo) are left out.
    """
    out = []
    for t in trials:
        if t.state != TrialState.COMPLETE or t.value is None:
            continue
        value = float(t.value)
        if not math.isfinite(value):
            continue
        if space is not None and not _valid(space, t.config):
            continue
        out.append((dict(t.config), value if direction == "minimize" else -value))
    return out


def _valid(space: Space, config: Any) -> bool:
    try:
        space.validate(config)
    except ConfigError:
        return False
    return True


def _key_value(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return ("b", bool(value))
    if isinstance(value, numbers.Real):
        # NOTE: 12 significant digits, so a config that went through JSON or a database still
        # matches the float the sampler produced.
        return ("n", float(f"{float(value):.12g}"))
    if value is None or isinstance(value, str):
        return ("s", value)
    return ("r", repr(value))


def config_key(config: Mapping[str, Any]) -> tuple:
    """A hashable key under which equal configs (across JSON round trips) compare equal."""
    return tuple(sorted((k, _key_value(v)) for k, v in config.items()))


def taken_keys(trials: Sequence[FrozenTrial]) -> set[tuple]:
    """Keys of the configs every trial holds, in any state."""
    return {config_key(t.config) for t in trials}


def fresh_configs(propose: Callable[[int], list[dict]], taken: set[tuple], n: int,
                  tries: int = 12) -> list[dict]:
    """Up to ``n`` proposed configs whose keys are not in ``taken`` (which is updated).

    ``propose(m)`` is first asked for exactly the number missing — so a sequence (Sobol) is not
    skipped ahead when nothing collides, as in any continuous space — then, while proposals keep
    hitting taken points (a small discrete space), for twice as many each time, at most
    ``tries`` times: about 4,000 candidates find one free point in a thousand almost surely,
    and the loop gives up rather than spin once the space is used up.
    """
    out: list[dict] = []
    for attempt in range(tries):
        missing = n - len(out)
        if missing <= 0:
            break
        for config in propose(min(missing << attempt, max(missing, _MAX_PROPOSALS))):
            key = config_key(config)
            if key not in taken and len(out) < n:
                taken.add(key)
                out.append(config)
    return out
