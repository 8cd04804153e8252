"""How many new configurations an ``optimize`` call may still start, and until when.

Why a class of its own: the same rule holds for one process (a plain counter) and for worker
processes that share one counter (a ``multiprocessing.Value``), so ``n_trials`` means the same
thing however many workers there are: new configurations started by this call, in total.
Retries of abandoned trials take no slot: they replace a trial that already took one.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

__all__ = ["Budget"]


class _Count:
    """A process-local stand-in for ``multiprocessing.Value``: ``.value`` and ``get_lock()``."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


class Budget:
    """Slots for new trials (``n_trials``; None: unlimited) and a wall-clock ``deadline``.

    Args:
        n_trials: new configurations this call may start, across all its workers.
        deadline: ``time.time()`` after which no trial starts; None: no deadline.
        counter: a shared ``multiprocessing.Value("q")`` when several processes draw from one
            budget; None: a private counter.
    """

    def __init__(self, n_trials: int | None, deadline: float | None, counter: Any = None) -> None:
        self.n_trials, self.deadline = n_trials, deadline
        self.counter = _Count() if counter is None else counter

    def open(self) -> bool:
        """False once the deadline has passed."""
        return self.deadline is None or time.time() < self.deadline

    def take(self) -> bool:
        """Take one slot; False when none is left (or the deadline passed)."""
        if not self.open():
            return False
        with self.counter.get_lock():
            if self.n_trials is not None and self.counter.value >= self.n_trials:
                return False
            self.counter.value += 1
            return True

    @property
    def taken(self) -> int:
        return int(self.counter.value)
