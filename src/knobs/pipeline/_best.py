"""``checkpoints/best.pt``: the study's best finished trial, published by whoever tells trials.

Why not written by the trial itself: with several workers (local processes, Ray tasks, ``knobs
worker`` on other machines) trials finish concurrently, and a trial that compares its value with
the best it read when it started can overwrite ``best.pt`` with a worse model — two trials both
beat the old best, the worse one saves last. So trials write only their own ``trial-N.pt``, and
after each finished trial ``publish_best`` copies the study's best one to ``best.pt``: under an
exclusive file lock, reading the study inside the lock, replacing the file atomically. Every
publisher therefore sees every trial told before it took the lock, and the last one to publish
leaves the study's best.

Example:
    >>> study.optimize(objective, n_trials=40, workers=4,
    ...                callbacks=[lambda s, t: publish_best(rundir, s)])   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from knobs.pipeline._members import top_trials, trial_checkpoint
from knobs.pipeline._rundir import RunDir, checkpoint_lock
from knobs.train import load_checkpoint

__all__ = ["publish_best"]

_log = logging.getLogger("knobs.pipeline")


def publish_best(rundir: RunDir, study: Any, on_publish: Callable[[int, float], None] | None = None) -> int | None:
    """Make ``best.pt`` the checkpoint of ``study``'s best complete trial; returns its number.

    Args:
        rundir: the run directory.
        study: the ``Study`` (read under the lock, so the view is never older than the lock).
        on_publish: ``on_publish(number, value)`` when ``best.pt`` changed (the event log).

    Returns:
        The trial ``best.pt`` now holds; None when no trial completed or its checkpoint is gone.
    """
    target = rundir.best_checkpoint
    with checkpoint_lock(rundir):
        best = top_trials(study.trials, 1, study.direction)
        if not best:
            return None
        number, value = best[0].number, best[0].value
        if _published(target) == number:
            return number
        source = trial_checkpoint(rundir, number)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        except FileNotFoundError:
            _log.warning("trial %d is the best but %s is missing; best.pt left as it was", number, source)
            return None
        finally:
            tmp.unlink(missing_ok=True)
    if on_publish is not None:
        on_publish(number, value)
    return number


def _published(path: Path) -> int | None:
    """The trial number ``best.pt`` holds (None when absent or unreadable)."""
    if not path.exists():
        return None
    try:
        return load_checkpoint(path)["extra"].get("trial")
    except Exception:  # noqa: BLE001 — a damaged file is replaced, whatever is wrong with it
        return None
