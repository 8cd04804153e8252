"""Liveness of running trials: a heartbeat thread while they run, and the rule that finds the
abandoned ones after a crash.

Why both a pid check and a heartbeat: on the same host a dead worker is certain at once (its pid
is gone), so a resumed study recovers immediately; across hosts only silence can tell, so a
trial whose heartbeat is older than the grace period counts as abandoned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Sequence

from knobs.storage import RunningTrial, Storage

__all__ = ["Heartbeat", "stale_reason", "find_stale", "pid_alive", "HOST"]

HOST = socket.gethostname()
_log = logging.getLogger("knobs.study")


class Heartbeat:
    """Beats for this process's running trials every ``interval_s`` in one daemon thread.

    The thread starts with the first trial added and ends when none is left, so a study that is
    not running anything holds no thread.
    """

    def __init__(self, storage: Storage, study_id: int, interval_s: float) -> None:
        self.storage, self.study_id, self.interval_s = storage, study_id, interval_s
        self._numbers: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, number: int) -> None:
        with self._lock:
            self._numbers.add(number)
            if self._thread is None:
                self._wake.clear()
                self._thread = threading.Thread(target=self._run, name="knobs-heartbeat", daemon=True)
                self._thread.start()

    def remove(self, number: int) -> None:
        with self._lock:
            self._numbers.discard(number)

    def close(self) -> None:
        """Stop beating (the trials stay RUNNING until told or found stale)."""
        with self._lock:
            self._numbers.clear()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            with self._lock:
                numbers = sorted(self._numbers)
                if not numbers:
                    self._thread = None
                    return
            try:
                self.storage.heartbeat(self.study_id, numbers)
            except Exception as error:  # noqa: BLE001 — a missed beat must not kill the worker
                _log.warning("heartbeat for trials %s failed: %s", numbers, error)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists; it belongs to someone else
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            # NOTE: the state letter follows the ")" that closes the command name.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no procfs (macOS): trust kill(0)


def stale_reason(trial: RunningTrial, *, now: float, grace_s: float, host: str = HOST) -> str | None:
    """Why a RUNNING trial is abandoned, or None while its worker may still be alive."""
    if trial.host == host and trial.pid is not None and trial.pid != os.getpid() and not pid_alive(trial.pid):
        return "abandoned: process died"
    if trial.heartbeat is not None and now - trial.heartbeat > grace_s:
        return f"abandoned: no heartbeat for {now - trial.heartbeat:.0f} s"
    return None


def find_stale(running: Sequence[RunningTrial], *, now: float | None = None, grace_s: float,
               host: str = HOST) -> dict[int, str]:
    """``{number: reason}`` of the abandoned trials among ``running``."""
    now = time.time() if now is None else now
    reasons = {t.number: stale_reason(t, now=now, grace_s=grace_s, host=host) for t in running}
    return {number: reason for number, reason in reasons.items() if reason is not None}
