"""``<run>/views/``: the small files the report's data, diagnosis and test views are drawn from.

Why files beside the summary and not more keys in it: these records are pictures and per-step
series (thumbnails of training and test rows, a run's watch probes, a convnet's first filters)
that the report and ``knobs dashboard`` show but nothing else reads; kept as their own JSON and
PNG files, summary.json stays the run's result, and a view can appear while the run still works.

Layout (``knobs.report._data_views`` reads it; every file is written atomically)::

    views/samples.json, samples/<i>.png   training rows as the model sees them (after augmentation)
    views/watch.json                      per-layer watch probes of the best configuration
    views/filters.json, filters.png       the first convolution's kernels of the final model
    views/spectral.json                   the spectral exponent α of each weight layer of the final model
    views/worst.json, worst/<i>.png       the test rows with the largest loss (after the vault opened)

A thumbnail's file is named by its item's position in the JSON list, never by a path the JSON
holds: a reader can only ever open files of this folder.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["VIEWS_DIR", "views_dir", "write_view", "png_bytes", "rounded"]

VIEWS_DIR = "views"
#: the longest side of a thumbnail in pixels (larger images are shrunk; smaller ones kept as they are
#: and enlarged by the page, pixelated)
THUMB = 64


def views_dir(run_path: str | Path) -> Path:
    return Path(run_path) / VIEWS_DIR


def write_view(run_path: str | Path, name: str, record: dict[str, Any], images: list[np.ndarray] | None = None,
               longest: int | None = THUMB) -> Path:
    """Write ``views/<name>.json`` and, when given, ``views/<name>/<i>.png`` for each image (uint8
    ``(H, W)`` or ``(H, W, 3)``, shrunk to ``longest`` pixels unless None), replacing what an earlier
    write (a resumed run) left. The JSON is written last: its presence marks a whole record."""
    folder = views_dir(run_path)
    folder.mkdir(parents=True, exist_ok=True)
    if images is not None:
        pictures = folder / name
        pictures.mkdir(exist_ok=True)
        for old in pictures.glob("*.png"):
            old.unlink()
        for i, image in enumerate(images):
            _atomic(pictures / f"{i}.png", png_bytes(image, longest))
    target = folder / f"{name}.json"
    _atomic(target, json.dumps(record, separators=(",", ":"), allow_nan=False).encode())
    return target


def png_bytes(image: np.ndarray, longest: int | None = THUMB) -> bytes:
    """A uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` image as PNG bytes, shrunk to ``longest`` pixels."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    if longest is not None and max(picture.size) > longest:
        picture.thumbnail((longest, longest))
    out = io.BytesIO()
    picture.save(out, format="PNG", optimize=True)
    return out.getvalue()


def rounded(value: Any, digits: int = 4) -> Any:
    """A float to ``digits`` significant digits (None for None, NaN or inf): small JSON for series."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _atomic(path: Path, content: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)
