"""Trial records: the frozen snapshot samplers and pruners see, and the live handle objectives use.

Why two types: samplers and pruners must never mutate a study (STYLE: frozen records cross
boundaries), while an objective needs a handle that reports intermediate values and can be
told to stop. ``Trial.report`` is where pruning is decided; ``report_many`` does the same for many
trials at once (a population's epoch), with the decisions ``report`` would make one by one.
"""

from __future__ import annotations

import copy
import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from knobs.errors import TrialError

__all__ = ["TrialState", "FrozenTrial", "Trial", "Pruned", "report_many", "set_attrs_many"]

Reports = list[tuple[int, int, float]]


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

    def copy(self) -> "FrozenTrial":
        """A copy whose dicts and lists can be edited without touching this one.

        Why not ``copy.deepcopy``: attrs hold learning curves, and a population run reads a study of
        hundreds of trials after every batch; copying the JSON shapes directly is about 9x faster."""
        return replace(self, config=_copied(self.config), intermediate=dict(self.intermediate),
                       attrs=_copied(self.attrs))

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


def _copied(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts, lists, scalars); anything else mutable is deep-copied."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)


#: What an objective written for a define-by-run library (Optuna's ``trial.suggest_float``) is told: knobs
#: declares the space before the study and hands the objective the sampled values.
DEFINE_BY_RUN = ("{name}: knobs declares the space before the study, knobs.Space({{'lr': knobs.Float(1e-4, 1e-1, "
                 "log=True), ...}}), and hands the objective the sampled values: read config['lr'] in objective(config) "
                 "or objective(config, trial) instead of calling {name}")


def suggest_hint(owner: str, name: str) -> AttributeError:
    """The AttributeError for a missing ``name``: the define-by-run hint for ``suggest_*``, else Python's own."""
    if name.startswith("suggest_"):
        return AttributeError(f"'{owner}' object has no attribute {name!r}. " + DEFINE_BY_RUN.format(name=f"trial.{name}"))
    return AttributeError(f"'{owner}' object has no attribute {name!r}")


class Trial:
    """The live handle an objective receives.

    Args:
        number: the trial's number in its study.
        config: the sampled configuration (a plain dict).
        on_report: called with ``(number, step, value)``; returns True when the trial should be
            pruned. The study wires this to its storage and pruner.
        on_attr: called with ``(number, key, value)`` to persist a user attribute.
        on_reports: called by ``report_many`` with ``[(number, step, value), ...]`` of trials
            sharing this hook (one study); returns one prune decision per item, as ``on_report``
            would return them called in that order. None: ``report_many`` calls ``on_report``.
        on_attrs: called by ``set_attrs_many`` with ``{number: {key: value}}``; None: ``on_attr``.
    """

    def __init__(
        self,
        number: int,
        config: dict[str, Any],
        on_report: Callable[[int, int, float], bool] | None = None,
        on_attr: Callable[[int, str, Any], None] | None = None,
        on_reports: Callable[[Reports], list[bool]] | None = None,
        on_attrs: Callable[[dict[int, dict[str, Any]]], None] | None = None,
    ) -> None:
        self.number = number
        self.config = dict(config)
        self.intermediate: dict[int, float] = {}
        self.attrs: dict[str, Any] = {}
        self.finished = False
        self._on_report = on_report
        self._on_attr = on_attr
        self._on_reports = on_reports
        self._on_attrs = on_attrs

    def __getattr__(self, name: str) -> Any:
        """Only reached for a name the trial lacks: ``suggest_*`` (Optuna's define-by-run) is told the knobs way."""
        raise suggest_hint("Trial", name)

    def report(self, step: int, value: float) -> None:
        """Record an intermediate value; raise ``Pruned`` if the pruner says stop."""
        step, value = self._keep(step, value)
        if not math.isfinite(value):
            return
        if self._on_report is not None and self._on_report(self.number, step, value):
            raise Pruned(f"trial {self.number} pruned at step {step} (value {value:.6g})")

    def _keep(self, step: int, value: float) -> tuple[int, float]:
        if self.finished:
            raise TrialError(f"trial {self.number} is finished; report() is for running trials")
        step, value = int(step), float(value)
        self.intermediate[step] = value
        return step, value

    def set_attr(self, key: str, value: Any) -> None:
        """Attach a JSON-able attribute (kept in storage with the trial)."""
        self.attrs[key] = value
        if self._on_attr is not None:
            self._on_attr(self.number, key, value)

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, config={self.config!r})"


def report_many(reports: Sequence[tuple[Trial, int, float]]) -> list[bool]:
    """``trial.report(step, value)`` for each item, with one storage write and one pruner snapshot
    per study instead of one of each per item; returns, per item, whether it is pruned.

    The decisions equal those of calling ``report`` in this order (each pruner call sees the
    values reported before it in the list, not those after). A non-finite value is kept on the
    trial only, as ``report`` keeps it. Nothing is raised for a pruned trial: the caller stops it.

    Example:
        >>> flags = report_many([(trial, epoch, loss) for trial, loss in zip(trials, losses)])  # doctest: +SKIP
    """
    pruned = [False] * len(reports)
    groups: dict[Any, list[int]] = {}
    for i, (trial, step, value) in enumerate(reports):
        step, value = trial._keep(step, value)
        if math.isfinite(value):
            groups.setdefault(trial._on_reports, []).append(i)
    for hook, items in groups.items():
        batch = [(reports[i][0].number, int(reports[i][1]), float(reports[i][2])) for i in items]
        if hook is not None:
            decisions = hook(batch)
        else:
            decisions = [reports[i][0]._on_report is not None and reports[i][0]._on_report(*item)
                         for i, item in zip(items, batch)]
        for i, decision in zip(items, decisions):
            pruned[i] = bool(decision)
    return pruned


def set_attrs_many(items: Sequence[tuple[Trial, dict[str, Any]]]) -> None:
    """``trial.set_attr(key, value)`` for every key of each item, one storage write per study."""
    groups: dict[Any, dict[int, dict[str, Any]]] = {}
    for trial, attrs in items:
        if not attrs:
            continue
        trial.attrs.update(attrs)
        if trial._on_attrs is not None:
            groups.setdefault(trial._on_attrs, {}).setdefault(trial.number, {}).update(attrs)
        elif trial._on_attr is not None:
            for key, value in attrs.items():
                trial._on_attr(trial.number, key, value)
    for hook, attrs_of in groups.items():
        hook(attrs_of)
