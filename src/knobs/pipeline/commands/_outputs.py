"""Files a command writes after its work: checked before the work starts.

Why up front: ``knobs lr-find --output``, ``knobs diagnose --json`` and ``knobs predict --output``
write only at the end, so a folder given as a file, or a folder that does not exist, used to fail
after minutes of work; refusing it first loses nothing.
"""

from __future__ import annotations

from pathlib import Path

from knobs.errors import ConfigError

__all__ = ["check_output_file"]


def check_output_file(path: Path, option: str, suffix: str = ".json") -> None:
    """``ConfigError`` naming ``option`` when ``path`` is a folder or lies in a missing folder
    (``suffix``: of the file name the message suggests)."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name, e.g. {path / ('out' + suffix)}")
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {path}: folder {path.parent} does not exist; create it or write elsewhere")
