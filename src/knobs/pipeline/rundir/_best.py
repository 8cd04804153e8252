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

from knobs.pipeline.rundir._members import top_trials, trial_checkpoint
from knobs.pipeline.rundir._rundir import RunDir, checkpoint_lock
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
            _remember(target, number)
        except FileNotFoundError:
            _log.warning("trial %d is the best but %s is missing; best.pt left as it was", number, source)
            return None
        finally:
            tmp.unlink(missing_ok=True)
    if on_publish is not None:
        on_publish(number, value)
    return number


# path → (the file's stat signature, the trial it holds): best.pt is read again only when it changed
_SEEN: dict[Path, tuple[tuple[int, int, int], int | None]] = {}


def _published(path: Path) -> int | None:
    """The trial number ``best.pt`` holds (None when absent or unreadable).

    Why cached by stat: publishing runs after every trial, and loading a checkpoint to read one
    number is the costly part when nothing changed. Every publisher replaces the file
    (``os.replace``: a new inode), so a changed signature means another look."""
    signature = _signature(path)
    if signature is None:
        return None
    seen = _SEEN.get(path)
    if seen is not None and seen[0] == signature:
        return seen[1]
    try:
        number = load_checkpoint(path)["extra"].get("trial")
    except Exception:  # noqa: BLE001 — a damaged file is replaced, whatever is wrong with it
        number = None
    _SEEN[path] = (signature, number)
    return number


def _remember(path: Path, number: int) -> None:
    """Note that ``path`` as it is now holds trial ``number`` (just written here)."""
    signature = _signature(path)
    if signature is not None:
        _SEEN[path] = (signature, number)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
