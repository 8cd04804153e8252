"""``InMemoryStorage``: the storage contract in a dict, for ``Study(storage=None)``.

Why keep it beside SQL: quick studies and tests need no file, and running the same test-suite
over both back ends keeps them honest. A lock makes it safe for threads; it does not survive the
process (use a ``sqlite:///`` URL for that).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import replace
from typing import Any, Iterable, Sequence

from knobs.errors import KnobsError, TrialError
from knobs.storage._base import NumberTaken, RunningTrial, Storage, StudyRecord
from knobs.trial import FrozenTrial, TrialState

__all__ = ["InMemoryStorage"]


class InMemoryStorage(Storage):
    """Studies and trials held in this process's memory."""

    def __init__(self) -> None:
        self.url = "memory"
        self._lock = threading.RLock()
        self._studies: dict[str, StudyRecord] = {}
        self._trials: dict[int, list[FrozenTrial]] = {}
        self._alive: dict[int, dict[int, RunningTrial]] = {}

    def create_study(self, name: str, *, direction: str, space: dict[str, Any] | None,
                     attrs: dict[str, Any] | None = None) -> StudyRecord:
        with self._lock:
            if name in self._studies:
                raise KnobsError(f"a study named {name!r} already exists in {self.url}")
            record = StudyRecord(id=len(self._studies) + 1, name=name, direction=direction,
                                 space=copy.deepcopy(space), created_at=time.time(),
                                 attrs=copy.deepcopy(attrs or {}))
            self._studies[name] = record
            self._trials[record.id], self._alive[record.id] = [], {}
            return record

    def get_study(self, name: str) -> StudyRecord | None:
        with self._lock:
            record = self._studies.get(name)
            return copy.deepcopy(record)

    def study_names(self) -> list[str]:
        with self._lock:
            return list(self._studies)

    def set_study_fields(self, study_id: int, **fields: Any) -> None:
        with self._lock:
            name = next(n for n, r in self._studies.items() if r.id == study_id)
            self._studies[name] = replace(self._studies[name], **copy.deepcopy(fields))

    def create_trial(self, study_id: int, config: dict[str, Any], *, host: str | None = None,
                     pid: int | None = None, number: int | None = None, attrs: dict[str, Any] | None = None,
                     sampler: dict[str, Any] | None = None) -> FrozenTrial:
        with self._lock:
            trials = self._trials[study_id]
            if number is not None and number != len(trials):
                raise NumberTaken(f"trial {number} is taken (the next free number is {len(trials)})")
            now = time.time()
            trial = FrozenTrial(number=len(trials), config=copy.deepcopy(config), started_at=now,
                                attrs=copy.deepcopy(attrs or {}))
            trials.append(trial)
            self._alive[study_id][trial.number] = RunningTrial(trial.number, now, host, pid)
            if sampler is not None:
                self.set_study_fields(study_id, sampler=sampler)
            return copy.deepcopy(trial)

    def create_trials(self, study_id: int, rows: Sequence[tuple[dict[str, Any], dict[str, Any]]], *, number: int,
                      host: str | None = None, pid: int | None = None,
                      sampler: dict[str, Any] | None = None) -> list[FrozenTrial]:
        with self._lock:  # the lock makes the rows one atomic write
            if number != len(self._trials[study_id]):
                raise NumberTaken(f"trial {number} is taken (the next free number is {len(self._trials[study_id])})")
            return [self.create_trial(study_id, config, host=host, pid=pid, number=number + i, attrs=attrs,
                                      sampler=sampler if i == len(rows) - 1 else None)
                    for i, (config, attrs) in enumerate(rows)]

    def finish_trial(self, study_id: int, number: int, state: TrialState, value: float | None,
                     attrs: dict[str, Any] | None = None) -> FrozenTrial:
        with self._lock:
            return self._finish(study_id, number, state, value, attrs)

    def _finish(self, study_id: int, number: int, state: TrialState, value: float | None,
                attrs: dict[str, Any] | None) -> FrozenTrial:
        trial = self._running(study_id, number)
        merged = {**trial.attrs, **copy.deepcopy(attrs or {})}
        done = replace(trial, state=state, value=value, finished_at=time.time(), attrs=merged)
        self._trials[study_id][number] = done
        self._alive[study_id].pop(number, None)
        return copy.deepcopy(done)

    def finish_trials(self, study_id: int, rows: Sequence[tuple[int, TrialState, float | None, dict[str, Any]]]
                      ) -> list[FrozenTrial]:
        with self._lock:
            for number in {row[0] for row in rows}:
                self._running(study_id, number)  # all or nothing: check every trial first
            return [self._finish(study_id, *row) for row in rows]

    def report(self, study_id: int, number: int, step: int, value: float) -> None:
        with self._lock:
            self._put(study_id, number, step, value)

    def _put(self, study_id: int, number: int, step: int, value: float) -> None:
        trial = self._running(study_id, number)
        self._trials[study_id][number] = replace(trial, intermediate={**trial.intermediate, step: value})
        self.heartbeat(study_id, [number])

    def report_many(self, study_id: int, reports: Sequence[tuple[int, int, float]]) -> None:
        with self._lock:
            for number in {number for number, _, _ in reports}:
                self._running(study_id, number)  # all or nothing: check every trial first
            for number, step, value in reports:
                self._put(study_id, number, step, value)

    def set_trial_attr(self, study_id: int, number: int, key: str, value: Any) -> None:
        self.set_trial_attrs(study_id, {number: {key: value}})

    def set_trial_attrs(self, study_id: int, attrs: dict[int, dict[str, Any]]) -> None:
        with self._lock:
            trials = {number: self._running(study_id, number) for number in attrs}
            for number, trial in trials.items():
                merged = {**trial.attrs, **copy.deepcopy(attrs[number])}
                self._trials[study_id][number] = replace(trial, attrs=merged)

    def heartbeat(self, study_id: int, numbers: Iterable[int]) -> None:
        with self._lock:
            alive = self._alive[study_id]
            for n in numbers:
                if n in alive:
                    alive[n] = replace(alive[n], heartbeat=time.time())

    def get_trials(self, study_id: int, states: Sequence[TrialState] | None = None) -> list[FrozenTrial]:
        with self._lock:
            trials = self._trials[study_id]
            return [copy.deepcopy(t) for t in trials if states is None or t.state in states]

    def get_trial(self, study_id: int, number: int) -> FrozenTrial:
        with self._lock:
            trials = self._trials[study_id]
            if not (isinstance(number, int) and 0 <= number < len(trials)):
                raise TrialError(f"no trial number {number!r} in this study ({len(trials)} trials)")
            return copy.deepcopy(trials[number])

    def running_trials(self, study_id: int) -> list[RunningTrial]:
        with self._lock:
            return list(self._alive[study_id].values())

    def _running(self, study_id: int, number: int) -> FrozenTrial:
        trial = self.get_trial(study_id, number)
        if trial.state is not TrialState.RUNNING:
            raise TrialError(f"trial {number} is already {trial.state.value}; only a running trial "
                             "can be told, reported to or given attributes")
        return trial
