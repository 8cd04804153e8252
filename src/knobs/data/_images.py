"""Image folders: one sub-folder per class, decoded with Pillow to channels-first float arrays.

Layout::

    root/cat/0001.png   root/cat/0002.jpg   root/dog/0001.png ...

Why everything is checked before anything is decoded: a stray ``notes.txt``, a corrupt file or
an empty class folder found after minutes of decoding wastes the minutes; ``scan_image_folder``
reads only the headers (Pillow opens lazily), so it names the culprit in seconds. Bad files are
an error by default; ``bad_files="skip"`` leaves them out and lists every one of them in
``Dataset.loading["skipped"]``: nothing is dropped unreported. Hidden entries (``.DS_Store``) are
ignored and listed too.

Why in memory: the run's search trains many models on the same images, so decoding once and
keeping ``float32`` arrays (digits-sized to CIFAR-sized sets: up to a few hundred MB) beats
decoding every epoch of every trial. Larger sets are refused with the estimate and the way out:
``ImageFolder`` decodes on access for a ``DataLoader`` (see ``loader_options``).

Pixels are scaled to [0, 1] (8-bit / 255, 16-bit / 65535); standardization is the run's own step,
fitted on the training split. Images are resized (stretched, aspect ratio not kept) with Pillow's
antialiased bilinear filter; alpha channels are dropped; grayscale images become three equal
channels when the set has colour images.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knobs.data._dataset import Dataset
from knobs.errors import ConfigError, DataError

__all__ = ["ImageFiles", "scan_image_folder", "read_image", "load_image_folder", "resolve_size",
           "BAD_FILES"]

BAD_FILES = ("error", "skip")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_LISTED = 100  # skipped files listed by name in Dataset.loading (all are counted)


@dataclass(frozen=True, eq=False)
class ImageFiles:
    """The images of a folder, found and checked, not yet decoded."""

    root: Path
    files: list[Path]
    labels: np.ndarray
    classes: list[str]
    sizes: list[tuple[int, int]]  # (width, height) from the header
    modes: list[str]
    skipped: list[dict] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def scan_image_folder(root: str | Path, *, bad_files: str = "error", max_per_class: int | None = None) -> ImageFiles:
    """Find the images of ``root`` (one sub-folder per class) and read their headers.

    Args:
        root: the folder.
        bad_files: ``"error"`` (default): a file that is not an image Pillow can read, or one lying
            outside a class folder, stops the load naming it; ``"skip"``: leave it out and list it.
        max_per_class: keep only the first N images of each class (in file-name order).

    Raises:
        DataError: no such folder, no class folders, a class folder holding a folder, an empty
            class folder (named), a bad file under ``bad_files="error"`` (named), or one class.
    """
    root = Path(root)
    _check_options(bad_files, max_per_class)
    if not root.is_dir():
        raise DataError(f"image folder not found: {str(root)!r}; expected a folder with one sub-folder per class")
    skipped, ignored = [], []
    entries = _visible(root, ignored)
    for stray in (e for e in entries if not e.is_dir()):
        _bad(stray, "lies outside the class folders (expected root/<class>/<image>)", bad_files, skipped)
    folders = [e for e in entries if e.is_dir()]
    if not folders:
        raise DataError(f"{root}: no class folders; put the images of each class in a sub-folder "
                        f"named after the class (root/cat/1.png, root/dog/2.png)")
    found = [_scan_class(folder, bad_files, max_per_class, skipped, ignored) for folder in folders]
    if len(folders) < 2:
        raise DataError(f"{root}: one class folder ({folders[0].name!r}); classification needs at least two")
    files, sizes, modes = ([item[k] for images in found for item in images] for k in range(3))
    labels = np.concatenate([np.full(len(images), c, dtype=np.int64) for c, images in enumerate(found)])
    return ImageFiles(root, files, labels, [f.name for f in folders], sizes, modes, skipped, ignored)


def read_image(path: str | Path, image_size: tuple[int, int], channels: int) -> np.ndarray:
    """One image as a float32 array ``(channels, height, width)`` with values in [0, 1].

    Raises:
        DataError: the file cannot be decoded (named).
    """
    image_module = _pillow()
    height, width = image_size
    try:
        with image_module.open(path) as img:
            if img.mode.startswith("I") or img.mode == "F":
                array = _high_depth(image_module, img, (width, height))
            else:
                img = img.convert("L" if channels == 1 else "RGB")
                if img.size != (width, height):
                    img = img.resize((width, height), image_module.Resampling.BILINEAR)
                array = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"cannot decode image {str(path)!r}: {error}") from None
    if array.ndim == 2:
        array = np.repeat(array[None], channels, axis=0)
    else:
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array, dtype=np.float32)


def resolve_size(files: ImageFiles, image_size) -> tuple[int, int]:
    """``(height, width)`` from the option (an int for squares), or the one size all images share."""
    if image_size is not None:
        size = (image_size, image_size) if isinstance(image_size, (int, np.integer)) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in size):
            raise ConfigError(f"image_size must be a positive int or [height, width], got {image_size!r}")
        return int(size[0]), int(size[1])
    counts = Counter(files.sizes)
    if len(counts) > 1:
        common = ", ".join(f"{w}x{h} ({n} images)" for (w, h), n in counts.most_common(3))
        raise DataError(f"{files.root}: the images have {len(counts)} different sizes ({common}); set "
                        f"image_size = [height, width] to resize them all to one size")
    width, height = next(iter(counts))
    return height, width


def load_image_folder(root: str | Path, image_size=None, image_channels: int | None = None, *,
                      bad_files: str = "error", max_per_class: int | None = None,
                      max_bytes: int = 2**31, workers: int | None = None) -> Dataset:
    """Decode an image folder into memory as a classification ``Dataset``.

    Args:
        root: the folder (one sub-folder per class; classes in folder-name order).
        image_size: ``int`` or ``(height, width)`` to resize to; default: the size every image
            already has (mixed sizes are refused, listing them).
        image_channels: 1 (grayscale) or 3 (RGB); default 1 when every image is grayscale, else 3.
        bad_files, max_per_class: see ``scan_image_folder``; a file whose data fails to decode
            counts as a bad file too.
        max_bytes: the most memory the decoded float32 arrays may take.
        workers: decoding threads (default: the CPU count, at most 4; Pillow decodes outside the GIL).

    Returns:
        A ``Dataset`` with ``X`` of shape ``(n, C*H*W)`` and ``image_shape = (C, H, W)``.

    Example:
        >>> ds = load_image_folder("photos", image_size=32)  # doctest: +SKIP
        >>> ds.image_shape, ds.class_names                     # doctest: +SKIP
        ((3, 32, 32), ['cat', 'dog'])
    """
    if image_channels not in (None, 1, 3):
        raise ConfigError(f"image_channels must be 1, 3 or None (inferred), got {image_channels!r}")
    files = scan_image_folder(root, bad_files=bad_files, max_per_class=max_per_class)
    height, width = resolve_size(files, image_size)
    channels = image_channels or (1 if all(m in GRAY_MODES for m in files.modes) else 3)
    needed = len(files.files) * channels * height * width * 4
    if needed > max_bytes:
        raise DataError(f"{files.root}: {len(files.files)} images of {channels}x{height}x{width} take "
                        f"{needed / 2**30:.2f} GiB as float32, over max_bytes ({max_bytes / 2**30:.2f} "
                        f"GiB); use a smaller image_size, max_per_class, or knobs.data.ImageFolder "
                        f"with a DataLoader (decoded on access)")
    arrays, skipped = _decode_all(files, (height, width), channels, bad_files, workers)
    keep = np.array([a is not None for a in arrays], dtype=bool)
    labels = files.labels[keep]
    _check_classes_left(files, labels)
    return Dataset(
        X=np.stack([a for a in arrays if a is not None]).reshape(int(keep.sum()), -1), y=labels,
        task="classification", n_classes=len(files.classes), name=files.root.name,
        class_names=list(files.classes), image_shape=(channels, height, width), source=str(files.root),
        loading=_record(files, (height, width), channels, keep, skipped, bad_files, max_per_class),
        row_ids=np.array([str(f) for f, k in zip(files.files, keep) if k], dtype=object),
    )


def _decode_all(files: ImageFiles, size: tuple[int, int], channels: int, bad_files: str,
                workers: int | None) -> tuple[list, list[dict]]:
    def decode(path: Path):
        try:
            return read_image(path, size, channels)
        except DataError as error:
            if bad_files == "error":
                raise
            return str(error)

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(decode, files.files))
    skipped = [{"file": str(path), "reason": r} for path, r in zip(files.files, results) if isinstance(r, str)]
    return [None if isinstance(r, str) else r for r in results], skipped


def _check_classes_left(files: ImageFiles, labels: np.ndarray) -> None:
    counts = np.bincount(labels, minlength=len(files.classes))
    if (counts == 0).any():
        name = files.classes[int(np.argmin(counts))]
        raise DataError(f"class folder {str(files.root / name)!r} has no image that decodes; every "
                        f"file in it was skipped (see the skipped files)")


def _record(files: ImageFiles, size, channels, keep, skipped, bad_files, max_per_class) -> dict:
    all_skipped = files.skipped + skipped
    counts = np.bincount(files.labels[keep], minlength=len(files.classes))
    target = (size[1], size[0])
    return {
        "kind": "images", "folder": str(files.root), "files": int(keep.sum()),
        "classes": {name: int(n) for name, n in zip(files.classes, counts)},
        "image_size": list(size), "channels": channels, "scale": "[0, 1]",
        "resized": int(sum(s != target for s, k in zip(files.sizes, keep) if k)),
        "modes": dict(Counter(m for m, k in zip(files.modes, keep) if k)),
        "bad_files": bad_files, "max_per_class": max_per_class,
        "skipped_count": len(all_skipped), "skipped": all_skipped[:_LISTED], "ignored": files.ignored,
    }


def _scan_class(folder: Path, bad_files: str, max_per_class: int | None, skipped: list, ignored: list) -> list:
    images = []
    for entry in _visible(folder, ignored):
        if max_per_class is not None and len(images) >= max_per_class:
            break
        if entry.is_dir():
            raise DataError(f"class folder {str(folder)!r} holds a folder {entry.name!r}: images must sit "
                            f"directly in one sub-folder per class (point the source at {str(folder)!r} "
                            f"if its sub-folders are the classes)")
        header = _probe(entry)
        if isinstance(header, str):
            _bad(entry, header, bad_files, skipped)
        else:
            images.append((entry, *header))
    if not images:
        left_out = sum(Path(s["file"]).parent == folder for s in skipped)
        why = f" ({left_out} files skipped)" if left_out else ""
        raise DataError(f"class folder {str(folder)!r} holds no images{why}; remove the folder or add "
                        f"images of class {folder.name!r}")
    return images


def _probe(path: Path):
    """``(size, mode)`` from the header, or why the file is not an image."""
    image_module = _pillow()
    try:
        with image_module.open(path) as img:
            return img.size, img.mode
    except (OSError, ValueError, SyntaxError) as error:
        return f"is not an image Pillow can read ({type(error).__name__}: {error})"


def _bad(path: Path, reason: str, bad_files: str, skipped: list) -> None:
    if bad_files == "error":
        raise DataError(f"{str(path)!r} {reason}; "
                        f"remove it, or set bad_files = \"skip\" to leave such files out (they are listed)")
    skipped.append({"file": str(path), "reason": reason})


def _visible(folder: Path, ignored: list) -> list[Path]:
    entries = sorted(folder.iterdir(), key=lambda p: p.name)
    ignored.extend(str(e) for e in entries if e.name.startswith("."))
    return [e for e in entries if not e.name.startswith(".")]


def _high_depth(image_module, img, size: tuple[int, int]) -> np.ndarray:
    """16-bit (and float) grayscale: scaled in float so no bits are cut before resizing."""
    # NOTE: Pillow's convert("L") clips 16-bit values at 255 rather than scaling them.
    array = np.asarray(img, dtype=np.float32) / (1.0 if img.mode == "F" else 65535.0)
    if img.size != size:
        array = np.asarray(image_module.fromarray(array).resize(size, image_module.Resampling.BILINEAR))
    return array


def _check_options(bad_files: str, max_per_class: int | None) -> None:
    if bad_files not in BAD_FILES:
        raise ConfigError(f"bad_files must be one of {BAD_FILES}, got {bad_files!r}")
    if max_per_class is not None and (isinstance(max_per_class, bool) or not isinstance(max_per_class, int)
                                      or max_per_class < 1):
        raise ConfigError(f"max_per_class must be a positive integer or None, got {max_per_class!r}")


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError("image folders need Pillow: pip install Pillow (or the knobs[images] extra)") from None
    return Image
