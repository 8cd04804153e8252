"""Trial records: the frozen snapshot samplers and pruners see, and the live handle objectives use.

Why two types: samplers and pruners must never mutate a study (STYLE: frozen records cross
boundaries), while an objective needs a handle that reports intermediate values and can be
told to stop. ``Trial.report`` is the single place where pruning is decided.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from knobs.errors import TrialError

__all__ = ["TrialState", "FrozenTrial", "Trial", "Pruned"]


class TrialState(str, enum.Enum):
    """Lifecycle of a trial; stored as its text value."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


class Pruned(Exception):
    """Raised by ``Trial.report`` when the pruner says this trial should stop early.

    ``study.optimize`` records such a trial as pruned (keeping its last reported value). Ask/tell
    users catch it and call ``study.tell(trial, state="pruned")``.
    """


@dataclass(frozen=True)
class FrozenTrial:
    """An immutable snapshot of one trial."""

    number: int
    config: dict[str, Any]
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate) if self.intermediate else None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


class Trial:
    """The live handle an objective receives.

    Args:
        number: the trial's number in its study.
        config: the sampled configuration (a plain dict).
        on_report: called with ``(number, step, value)``; returns True when the trial should be
            pruned. The study wires this to its storage and pruner.
        on_attr: called with ``(number, key, value)`` to persist a user attribute.
    """

    def __init__(
        self,
        number: int,
        config: dict[str, Any],
        on_report: Callable[[int, int, float], bool] | None = None,
        on_attr: Callable[[int, str, Any], None] | None = None,
    ) -> None:
        self.number = number
        self.config = dict(config)
        self.intermediate: dict[int, float] = {}
        self.attrs: dict[str, Any] = {}
        self.finished = False
        self._on_report = on_report
        self._on_attr = on_attr

    def report(self, step: int, value: float) -> None:
        """Record an intermediate value; raise ``Pruned`` if the pruner says stop."""
        if self.finished:
            raise TrialError(f"trial {self.number} is finished; report() is for running trials")
        value = float(value)
        step = int(step)
        self.intermediate[step] = value
        if not math.isfinite(value):
            return
        if self._on_report is not None and self._on_report(self.number, step, value):
            raise Pruned(f"trial {self.number} pruned at step {step} (value {value:.6g})")

    def set_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-able attribute (kept in storage with the trial)."""
        self.attrs[key] = value
        if self._on_attr is not None:
            self._on_attr(self.number, key, value)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, config={self.config!r})"
