"""The pruner contract and the pure helpers the pruners share.

A pruner is one method, called by ``Study`` each time a running trial reports a value::

    pruner.prune(trial, trials, *, direction) -> bool     # True: stop this trial now

``trial`` already holds its latest intermediate value; ``trials`` is every trial of the study as
stored right now (the current one included; running ones too), so the decision is a pure function
of storage and is the same in whichever worker makes it. Pruners never write anything.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

from knobs.errors import ConfigError
from knobs.trial import FrozenTrial

__all__ = ["Pruner", "check_direction", "check_int", "is_worse", "best_so_far", "value_at", "previous_step"]

DIRECTIONS = ("minimize", "maximize")


class Pruner:
    """Base class: constructors store their arguments (``get_params`` reads them back)."""

    def prune(self, trial: FrozenTrial, trials: Sequence[FrozenTrial], *, direction: str) -> bool:
        """True when ``trial`` should stop at its latest step."""
        raise NotImplementedError

    def validate(self) -> "Pruner":
        """Check the arguments; ``ConfigError`` names the bad one. Returns self."""
        return self

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, so a study can store and rebuild this pruner."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'minimize' or 'maximize'; got {direction!r}")
    return direction


def check_int(owner: str, name: str, value: Any, low: int) -> None:
    """``value`` must be an int >= ``low`` (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{owner}({name}=...) must be an integer >= {low}; got {value!r}")


def is_worse(a: float, b: float, direction: str) -> bool:
    """True when ``a`` is strictly worse than ``b``."""
    return a > b if direction == "minimize" else a < b


def best_so_far(intermediate: dict[int, float], step: int, direction: str) -> float:
    """The best value reported at or before ``step``."""
    values = [v for s, v in intermediate.items() if s <= step]
    return min(values) if direction == "minimize" else max(values)


def value_at(intermediate: dict[int, float], resource: float) -> float | None:
    """The value reported at the first step >= ``resource`` (None if the trial never got there).

    NOTE: this is the trial's value *when it reached* the rung, the quantity successive halving
    ranks; later values at higher steps belong to higher rungs.
    """
    reached = [s for s in intermediate if s >= resource]
    return intermediate[min(reached)] if reached else None


def previous_step(intermediate: dict[int, float], step: int) -> float:
    """The last step reported before ``step`` (-inf when ``step`` is the first)."""
    return max((s for s in intermediate if s < step), default=float("-inf"))
