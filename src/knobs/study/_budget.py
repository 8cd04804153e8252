"""How many new configurations an ``optimize`` call may still start, and until when.

Why a class of its own: ``n_trials`` means the same thing whatever runs the trials — new
configurations claimed by this call, in total, however many workers, tasks or population members
run them — and only the one loop (``_executor.run_loop``) claims, so one counter in this process
is the whole budget. Retries of abandoned trials take no slot: they replace a trial that already
took one.
"""

from __future__ import annotations

import time

__all__ = ["Budget"]


class Budget:
    """Slots for new trials (``n_trials``; None: unlimited) and a wall-clock ``deadline``.

    Args:
        n_trials: new configurations this call may start.
        deadline: ``time.time()`` after which no trial starts; None: no deadline.
    """

    def __init__(self, n_trials: int | None, deadline: float | None) -> None:
        self.n_trials, self.deadline = n_trials, deadline
        self.taken = 0

    def open(self) -> bool:
        """False once the deadline has passed."""
        return self.deadline is None or time.time() < self.deadline

    def take(self) -> bool:
        """Take one slot; False when none is left (or the deadline passed)."""
        if not self.open() or (self.n_trials is not None and self.taken >= self.n_trials):
            return False
        self.taken += 1
        return True
