"""Progress of trials that run in other processes — local workers, Ray tasks — read from the study.

Why poll the study's storage: a trial, wherever it runs, reports each epoch's metric with
``trial.report`` (the pruner needs it), so the storage already holds the last epoch every
running trial has reached. The driver reads it with one query a second in a background thread;
the workers need no channel back to the driver and do no extra work. The in-process epoch bar
cannot do this: a worker's objective is a copy in another process.

Example:
    >>> with watch_running(study, lambda rows: print([(r.number, r.epoch) for r in rows])):
    ...     study.optimize(objective, n_trials=8, workers=2)                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from knobs.trial import FrozenTrial, TrialState

__all__ = ["TrialProgress", "running_progress", "watch_running"]

_log = logging.getLogger("knobs.pipeline")


@dataclass(frozen=True)
class TrialProgress:
    """A running trial's last report: ``epoch`` (0 before the first) and the metric's ``value``."""

    number: int
    epoch: int
    value: float | None


def running_progress(trials: Sequence[FrozenTrial]) -> list[TrialProgress]:
    """The running trials among ``trials``, by number, with their last reported epoch."""
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        if t.state is TrialState.RUNNING:
            step = t.last_step
            rows.append(TrialProgress(t.number, step or 0, None if step is None else t.intermediate[step]))
    return rows


@contextlib.contextmanager
def watch_running(study: Any, on_progress: Callable[[list[TrialProgress]], None],
                  interval_s: float = 1.0) -> Iterator[None]:
    """Call ``on_progress(rows)`` every ``interval_s`` seconds, in a thread, while the block runs.

    A failed read (a locked database, a lost connection) skips that beat: progress is a courtesy,
    never a reason for the search to stop.
    """
    record = study.storage.get_study(study.name)
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                rows = running_progress(study.storage.get_trials(record.id, [TrialState.RUNNING]))
                on_progress(rows)
            except Exception as error:  # noqa: BLE001 — see the docstring
                _log.debug("reading running trials failed: %s", error)

    thread = threading.Thread(target=loop, name="knobs-running-trials", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
