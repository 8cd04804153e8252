"""The run directory: where a run lives, resumes from, and is cleaned up after bad input.

Why a class: a run killed at any moment must resume from this directory (study.db, the vault,
the best checkpoint), while a run stopped by bad input must leave nothing half-written behind.
``RunDir.create`` remembers whether this invocation made the directory, so ``discard`` only
removes what it created.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from knobs.errors import ConfigError

__all__ = ["RunDir", "EventLog", "checkpoint_lock"]


@dataclass
class RunDir:
    """Paths of one run and whether this process created it."""

    path: Path
    created: bool

    @classmethod
    def create(cls, runs_dir: str | Path, name: str) -> "RunDir":
        path = Path(runs_dir) / name
        for folder in (path, *path.parents):
            if folder.exists() and not folder.is_dir():
                raise ConfigError(f"cannot create run directory {path}: {folder} is a file, not a folder; choose "
                                  f"another --runs-dir or --name")
        created = not path.exists()
        try:
            (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create run directory {path} ({e.strerror}); choose another --runs-dir") from None
        return cls(path=path, created=created)

    @property
    def study_url(self) -> str:
        return f"sqlite:///{(self.path / 'study.db').resolve()}"

    @property
    def vault_dir(self) -> Path:
        return self.path / "vault"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "best.pt"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def write_json(self, filename: str, payload: Any) -> Path:
        """Write ``payload`` atomically (tmp file + rename) so a crash never leaves half a file."""
        target = self.path / filename
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, default=_jsonable))
        os.replace(tmp, target)
        return target

    def discard(self) -> None:
        """Remove the directory if this process created it (bad input found after creation)."""
        if self.created and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


class EventLog:
    """Append-only JSON lines: one event per line, flushed at once so a crash keeps them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "a", buffering=1)

    def __call__(self, event: str, **fields: Any) -> None:
        record = {"time": round(time.time(), 3), "event": event, **fields}
        self._file.write(json.dumps(record, default=_jsonable) + "\n")

    def close(self) -> None:
        self._file.close()


@contextlib.contextmanager
def checkpoint_lock(rundir: RunDir) -> Iterator[None]:
    """An exclusive lock on the run's checkpoints (``checkpoints/.lock``), across processes and
    machines that share the directory (``flock``; NFS emulates it with POSIX locks)."""
    path = Path(rundir.path) / "checkpoints" / ".lock"
    with open(path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # NOTE: no flock on Windows: one publisher (the driver) is assumed there
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _jsonable(value: Any) -> Any:
    """numpy scalars and arrays, paths and enums → plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "value"):
        return value.value
    return str(value)
