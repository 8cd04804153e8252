"""The storage contract: what a study keeps durable, as JSON-able rows.

Why an interface: ``Study`` runs the same whether its trials live in a dict (``InMemoryStorage``)
or in SQLite/PostgreSQL shared by many worker processes (``SQLStorage``). Every method is one
atomic step, so two workers can call them concurrently.

Call order, as ``Study`` uses it::

    create_study / get_study            once, when a study is opened
    create_trial                        ask(): claims the next number atomically (with the
                                        sampler's new state, in the same transaction)
    report, set_trial_attr, heartbeat   while the trial runs (only on RUNNING trials)
    report_many, set_trial_attrs        the same for many trials in one transaction (a population's
                                        epoch, its members' attributes at the end)
    finish_trial                        tell(): RUNNING → COMPLETE | PRUNED | FAILED, exactly once
    finish_trials                       the same for a population's batch, in one transaction
    get_trials, get_trial               whenever samplers/pruners need the history
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from knobs.errors import KnobsError
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Storage", "StudyRecord", "RunningTrial", "NumberTaken", "summarize", "jsonable"]


class NumberTaken(Exception):
    """``create_trial(number=n)`` lost a race: another worker claimed trial ``n`` first.

    Not a ``KnobsError``: it is control flow. ``Study`` catches it, re-reads the history (which now
    holds the other worker's trial) and asks its sampler again.
    """


@dataclass(frozen=True)
class StudyRecord:
    """One stored study. ``sampler``/``pruner`` hold ``{"class": name, "state"|"params": {...}}``."""

    id: int
    name: str
    direction: str
    space: dict[str, Any] | None
    created_at: float
    sampler: dict[str, Any] | None = None
    pruner: dict[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunningTrial:
    """Who runs a RUNNING trial and when it last showed signs of life (for stale detection)."""

    number: int
    heartbeat: float | None
    host: str | None
    pid: int | None


class Storage(abc.ABC):
    """Durable home of studies and their trials. Implementations must be safe across threads."""

    url: str = "memory"

    @property
    def connect_url(self) -> str | None:
        """The URL another process opens to reach these rows (password included); None when the
        rows live only in this process (then worker processes cannot share the study)."""
        return None

    # ---- studies -----------------------------------------------------------------------------
    @abc.abstractmethod
    def create_study(self, name: str, *, direction: str, space: dict[str, Any] | None,
                     attrs: dict[str, Any] | None = None) -> StudyRecord:
        """Create a study; ``KnobsError`` when ``name`` is taken."""

    @abc.abstractmethod
    def get_study(self, name: str) -> StudyRecord | None:
        """The study called ``name``, or None."""

    @abc.abstractmethod
    def study_names(self) -> list[str]:
        """All study names, oldest first."""

    @abc.abstractmethod
    def set_study_fields(self, study_id: int, **fields: Any) -> None:
        """Overwrite some of ``sampler``, ``pruner``, ``space``, ``attrs`` (JSON values)."""

    def list_studies(self) -> list[dict[str, Any]]:
        """One summary dict per study (see ``summarize``)."""
        out = []
        for name in self.study_names():
            record = self.get_study(name)
            if record is not None:
                out.append(summarize(record, self.get_trials(record.id)))
        return out

    # ---- trials ------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_trial(self, study_id: int, config: dict[str, Any], *, host: str | None = None,
                     pid: int | None = None, number: int | None = None, attrs: dict[str, Any] | None = None,
                     sampler: dict[str, Any] | None = None) -> FrozenTrial:
        """A new RUNNING trial, in one transaction.

        Args:
            number: None takes the next free number. An int claims exactly that number, which
                must be the next one: ``NumberTaken`` when another worker got there first. This
                is how ``Study`` asks optimistically: the sampler saw trials ``0..n-1``, so its
                config is stored as trial ``n`` only if nobody added a trial meanwhile.
            attrs: the trial's first attributes (e.g. ``{"retry_of": 3}``).
            sampler: the study's new sampler state, written with the trial (so the stored state
                always matches the stored trials).
        """

    def create_trials(self, study_id: int, rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], *, number: int,
                      host: str | None = None, pid: int | None = None,
                      sampler: dict[str, Any] | None = None) -> list[FrozenTrial]:
        """``create_trial`` for each ``(config, attrs)``, numbered ``number``, ``number + 1``, …, as
        one atomic write: all or nothing; ``NumberTaken`` (and nothing written) unless ``number``
        is the next free one. ``sampler`` is the state after the last row's draw.

        Why: a population claims P trials at once; one transaction instead of P. This default
        calls ``create_trial`` per row (not atomic); the built-in storages override it.
        """
        return [self.create_trial(study_id, config, host=host, pid=pid, number=number + i, attrs=attrs,
                                  sampler=sampler if i == len(rows) - 1 else None)
                for i, (config, attrs) in enumerate(rows)]

    @abc.abstractmethod
    def finish_trial(self, study_id: int, number: int, state: TrialState, value: float | None,
                     attrs: dict[str, Any] | None = None) -> FrozenTrial:
        """Move a RUNNING trial to a finished ``state``; ``TrialError`` if it is not running."""

    def finish_trials(self, study_id: int, rows: Sequence[tuple[int, TrialState, float | None, dict[str, Any]]]
                      ) -> list[FrozenTrial]:
        """``finish_trial`` for each ``(number, state, value, attrs)`` as one atomic write (a
        population's batch told at once); ``TrialError`` and nothing changed if one is not running.
        This default calls ``finish_trial`` per row (not atomic); the built-in storages override it.
        """
        return [self.finish_trial(study_id, *row) for row in rows]

    @abc.abstractmethod
    def report(self, study_id: int, number: int, step: int, value: float) -> None:
        """Store an intermediate value (a repeated step overwrites) and beat the heart."""

    def report_many(self, study_id: int, reports: Sequence[tuple[int, int, float]]) -> None:
        """``report`` for each ``(number, step, value)`` in order (a later one overwrites an earlier
        one of the same trial and step), heartbeats included, as one atomic write: all or nothing.

        Why: a population reports all its members after each epoch; one transaction instead of P
        keeps storage from capping its speed. This default calls ``report`` per item (not
        atomic); the built-in storages override it.
        """
        for number, step, value in reports:
            self.report(study_id, number, step, value)

    @abc.abstractmethod
    def set_trial_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        """Set one JSON attribute of a RUNNING trial."""

    def set_trial_attrs(self, study_id: int, attrs: dict[int, dict[str, Any]]) -> None:
        """Set many JSON attributes of many RUNNING trials (``{number: {key: value}}``) as one
        atomic write. This default calls ``set_trial_attr`` per key; the built-in storages override it.
        """
        for number, items in attrs.items():
            for key, value in items.items():
                self.set_trial_attr(study_id, number, key, value)

    @abc.abstractmethod
    def heartbeat(self, study_id: int, numbers: Iterable[int]) -> None:
        """Mark these RUNNING trials alive now."""

    @abc.abstractmethod
    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        """The study's trials (all, or those in ``states``), by number."""

    @abc.abstractmethod
    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        """One trial; ``TrialError`` for an unknown number."""

    @abc.abstractmethod
    def running_trials(self, study_id: int) -> list[RunningTrial]:
        """Liveness facts of the RUNNING trials."""

    def close(self) -> None:
        """Release connections (no-op by default)."""


def summarize(record: StudyRecord, trials: Sequence[FrozenTrial]) -> dict[str, Any]:
    """The row ``knobs studies list`` shows: counts per state and the best complete value."""
    values = [t.value for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    best = (max if record.direction == "maximize" else min)(values) if values else None
    counts = {s: sum(t.state is s for t in trials) for s in TrialState}
    return {"name": record.name, "direction": record.direction, "n_trials": len(trials),
            "n_complete": counts[TrialState.COMPLETE], "n_pruned": counts[TrialState.PRUNED],
            "n_failed": counts[TrialState.FAILED], "n_running": counts[TrialState.RUNNING],
            "best_value": best, "created_at": record.created_at}


def jsonable(value: Any, what: str) -> Any:
    """``value`` after a JSON round trip (numpy scalars/arrays become Python numbers/lists).

    Raises:
        KnobsError: naming ``what`` when the value has no JSON form (a tensor, an object).
    """
    try:
        return json.loads(json.dumps(value, default=_plain))
    except (TypeError, ValueError) as e:
        raise KnobsError(f"{what} must be JSON-able (numbers, strings, lists, dicts): {e}") from None


def _plain(obj: Any) -> Any:
    """numpy (and 0-d torch) values have ``tolist``; anything else has no JSON form."""
    if hasattr(obj, "tolist") and callable(obj.tolist):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} {obj!r:.60} is not JSON serializable")
