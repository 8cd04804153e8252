"""Decoded image folders kept on disk, so the second load of a folder skips scanning and decoding.

Why: decoding is the slow part of an image folder (CIFAR-10's 50,000 JPEGs take about 40 s on one
core, their headers 5 s more), and a search, a re-run with another seed or a resumed run loads the
same folder again. The decoded pixels are stored once as ``uint8`` (``<key>.npy``, 147 MiB for
CIFAR-10's training set) beside a JSON record of the scan (labels, classes, what was skipped), and
read back in well under a second.

Why the key is a listing and not the pixels: it is the hash of every file's relative path, size and
modification time, of the load's options (size, channels, bad-file policy, ``max_per_class`` and its
seed) and of the Pillow version, computed from ``os.scandir`` alone; a changed, added or removed
file, or another option, gives another key, so a stale entry is never read. Entries are written to
a temporary name and renamed, so two processes loading the same folder never see half a file.

Where: ``cache_dir`` when given; otherwise ``$KNOBS_CACHE_DIR`` or ``~/.cache/knobs/images``, and
then only for folders of at least ``AUTO_FROM`` files (a small folder decodes in a second: not
worth a file in the user's home). Nothing is ever deleted here; the load's record names the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

__all__ = ["AUTO_FROM", "ImageCache"]

AUTO_FROM = 5_000  # files in a folder from which the default cache location is used
_FORMAT = 1  # bump when what is stored (or how pixels are decoded) changes


class ImageCache:
    """The cache entry of one folder loaded with one set of options (see the module doc).

    Args:
        root: the image folder.
        options: the load's options that change the decoded pixels or the chosen files.
        cache_dir: a folder (always used), ``None`` (the default location, for large folders) or
            ``False`` (no disk cache).
    """

    def __init__(self, root: Path, options: dict, cache_dir: str | Path | None | bool = None) -> None:
        self.path: Path | None = None
        if cache_dir is False:
            return
        listing = _listing(root)
        if cache_dir is None and len(listing) < AUTO_FROM:
            return
        folder = Path(cache_dir) if cache_dir not in (None, True) else default_dir()
        digest = hashlib.sha256(json.dumps(
            {"format": _FORMAT, "root": str(root.resolve()), "options": options,
             "pillow": _pillow_version(), "files": listing}, sort_keys=True, default=str).encode()).hexdigest()
        self.path = folder / f"{root.name}-{digest[:20]}.npy"

    def read(self) -> tuple[np.ndarray, dict] | None:
        """``(pixels (n, C*H*W) uint8, record)`` stored for this key, or None."""
        if self.path is None or not self.path.is_file() or not self._record_path.is_file():
            return None
        try:
            record = json.loads(self._record_path.read_text())
            pixels = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # unreadable or half-copied by hand: decode again (and overwrite)
        if pixels.dtype != np.uint8 or len(pixels) != len(record.get("labels", ())):
            return None
        return pixels, record

    def read_record(self) -> dict | None:
        """The JSON record of a stored entry (labels, classes, shape, files), without its pixels."""
        if self.path is None or not self.path.is_file() or not self._record_path.is_file():
            return None
        try:
            return json.loads(self._record_path.read_text())
        except (OSError, ValueError):
            return None

    def write(self, pixels: np.ndarray, record: dict) -> bool:
        """Store the entry; False (and nothing stored) when the folder cannot be written."""
        if self.path is None:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            with open(partial, "wb") as handle:
                np.save(handle, pixels, allow_pickle=False)
            partial_record = self._record_path.with_name(f".{self._record_path.name}.{os.getpid()}")
            partial_record.write_text(json.dumps(record))
            os.replace(partial_record, self._record_path)
            os.replace(partial, self.path)
        except OSError:
            return False
        return True

    @property
    def _record_path(self) -> Path:
        return self.path.with_suffix(".json")


def default_dir() -> Path:
    """``$KNOBS_CACHE_DIR`` or ``~/.cache/knobs``, plus ``images``."""
    base = os.environ.get("KNOBS_CACHE_DIR") or Path.home() / ".cache" / "knobs"
    return Path(base) / "images"


def _listing(root: Path) -> list[tuple[str, int, int]]:
    """``(relative path, size, mtime_ns)`` of every entry one and two levels down, sorted."""
    found = []
    try:
        tops = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return found
    for top in tops:
        stat = top.stat()
        found.append((top.name, stat.st_size if not top.is_dir() else -1, stat.st_mtime_ns))
        if top.is_dir():
            for entry in sorted(os.scandir(top.path), key=lambda e: e.name):
                stat = entry.stat()
                found.append((f"{top.name}/{entry.name}", stat.st_size, stat.st_mtime_ns))
    return found


def _pillow_version() -> str:
    try:
        import PIL
    except ImportError:  # pragma: no cover - depends on the environment
        return ""
    return PIL.__version__
