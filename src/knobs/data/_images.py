"""Image folders: one sub-folder per class, decoded with Pillow to channels-first float arrays.

Layout::

    root/cat/0001.png   root/cat/0002.jpg   root/dog/0001.png ...

Why everything is checked before anything is decoded: a stray ``notes.txt``, a corrupt file or
an empty class folder found after minutes of decoding wastes the minutes; ``scan_image_folder``
reads only the headers (Pillow opens lazily), so it names the culprit in seconds. Bad files are
an error by default; ``bad_files="skip"`` leaves them out and lists every one of them in
``Dataset.loading["skipped"]``: nothing is dropped unreported. Hidden entries (``.DS_Store``) are
ignored and listed too.

Why in memory: the run's search trains many models on the same images, so decoding once beats
decoding every epoch of every trial. Eight-bit images are decoded straight into one ``uint8``
array (a quarter of their float size: 147 MiB for CIFAR-10's 50,000 training images), which is
scaled to the ``float32`` ``Dataset.X`` once at the end, and kept on disk for the next load of the
same folder (``knobs.data._image_cache``). Sets whose float32 arrays would pass ``max_bytes`` are
refused with the estimate and the way out: ``ImageFolder`` decodes on access for a ``DataLoader``
(see ``loader_options``).

Pixels are scaled to [0, 1] (8-bit / 255, 16-bit / 65535); standardization is the run's own step,
fitted on the training split. Images are resized (stretched, aspect ratio not kept) with Pillow's
antialiased bilinear filter; alpha channels are dropped; grayscale images become three equal
channels when the set has colour images.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knobs.data._dataset import Dataset
from knobs.data._image_cache import ImageCache
from knobs.errors import ConfigError, DataError

__all__ = ["ImageFiles", "scan_image_folder", "read_image", "load_image_folder", "resolve_size",
           "BAD_FILES"]

BAD_FILES = ("error", "skip")
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_LISTED = 100  # skipped files listed by name in Dataset.loading (all are counted)
_log = logging.getLogger("knobs.data")


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


def scan_image_folder(root: str | Path, *, bad_files: str = "error", max_per_class: int | None = None,
                      seed: int = 0) -> ImageFiles:
    """Find the images of ``root`` (one sub-folder per class) and read their headers.

    Args:
        root: the folder.
        bad_files: ``"error"`` (default): a file that is not an image Pillow can read, or one lying
            outside a class folder, stops the load naming it; ``"skip"``: leave it out and list it.
        max_per_class: keep N images of each class, drawn at random (the same N for the same
            ``seed`` and files; a bad file skipped is replaced by another draw), listed in
            file-name order. Not the first N by name: files are often named in the order they
            were collected, so the first N would be a biased sample.
        seed: seeds the draw of ``max_per_class`` (the run's seed).

    Raises:
        DataError: no such folder, no class folders, a class folder holding a folder, an empty
            class folder (named), a bad file under ``bad_files="error"`` (named), or one class.
    """
    root = Path(root)
    _check_options(bad_files, max_per_class, seed)
    if not root.is_dir():
        raise DataError(f"image folder not found: {str(root)!r}; expected a folder with one sub-folder per class")
    skipped, ignored = [], []
    entries = _visible(root, ignored)
    for stray in (path for path, is_dir in entries if not is_dir):
        _bad(stray, "lies outside the class folders (expected root/<class>/<image>)", bad_files, skipped)
    folders = [path for path, is_dir in entries if is_dir]
    if not folders:
        raise DataError(f"{root}: no class folders; put the images of each class in a sub-folder "
                        f"named after the class (root/cat/1.png, root/dog/2.png)")
    found = [_scan_class(folder, bad_files, max_per_class, seed, skipped, ignored) for folder in folders]
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
                      max_bytes: int = 2**31, workers: int | None = None, seed: int = 0,
                      cache_dir: str | Path | None | bool = None, stream: bool = False) -> Dataset:
    """Decode an image folder into memory as a classification ``Dataset``.

    Args:
        root: the folder (one sub-folder per class; classes in folder-name order).
        image_size: ``int`` or ``(height, width)`` to resize to; default: the size every image
            already has (mixed sizes are refused, listing them).
        image_channels: 1 (grayscale) or 3 (RGB); default 1 when every image is grayscale, else 3.
        bad_files, max_per_class, seed: see ``scan_image_folder``; a file whose data fails to
            decode counts as a bad file too.
        max_bytes: the most memory the decoded float32 arrays may take.
        stream: when they would take more, return a ``Dataset`` whose ``X`` reads the images on
            access (``knobs.data._stream.StreamedRows`` over ``ImageFolder``; nothing decoded or
            cached now) instead of refusing.
        workers: decoding threads (default: the CPU count, at most 4; Pillow decodes outside the GIL).
        cache_dir: where the decoded pixels are kept for the next load of the same files with the
            same options (see ``knobs.data._image_cache``): a folder; ``None`` (default) for
            ``$KNOBS_CACHE_DIR`` or ``~/.cache/knobs/images``, used for folders of 5,000 files or
            more; ``False`` for none.

    Returns:
        A ``Dataset`` with ``X`` float32 of shape ``(n, C*H*W)`` in [0, 1] and
        ``image_shape = (C, H, W)``; ``loading["cache"]`` says how the pixels were obtained
        (decoded or read from the disk cache, the uint8 size, the seconds, the file).

    Example:
        >>> ds = load_image_folder("photos", image_size=32)  # doctest: +SKIP
        >>> ds.image_shape, ds.class_names                     # doctest: +SKIP
        ((3, 32, 32), ['cat', 'dog'])
    """
    if image_channels not in (None, 1, 3):
        raise ConfigError(f"image_channels must be 1, 3 or None (inferred), got {image_channels!r}")
    _check_options(bad_files, max_per_class, seed)
    started = time.perf_counter()
    root = Path(root)
    cache = ImageCache(root, {"image_size": image_size, "image_channels": image_channels, "bad_files": bad_files,
                              "max_per_class": max_per_class, "seed": seed if max_per_class else None}, cache_dir)
    known = cache.read_record()
    if stream and known is not None and "files" in known and _too_big(len(known["labels"]), known["image_shape"], max_bytes):
        return _streamed(_files_of(root, known), tuple(known["image_shape"]), known["loading"])
    stored = cache.read()
    if stored is not None:
        pixels, record = stored
        _check_memory(record["loading"]["folder"], len(pixels), record["image_shape"], max_bytes)
        return _dataset(pixels, record, _cache_record(cache, pixels, started, hit=True))
    files = scan_image_folder(root, bad_files=bad_files, max_per_class=max_per_class, seed=seed)
    height, width = resolve_size(files, image_size)
    channels = image_channels or (1 if all(m in GRAY_MODES for m in files.modes) else 3)
    shape = (channels, height, width)
    if stream and _too_big(len(files.files), shape, max_bytes):
        keep = np.ones(len(files.files), dtype=bool)
        return _streamed(files, shape, _record(files, (height, width), channels, keep, [], bad_files, max_per_class, seed))
    _check_memory(files.root, len(files.files), shape, max_bytes)
    # NOTE: 16-bit and float images keep their depth: decoded to float32 directly, not cached.
    deep = any(mode.startswith("I") or mode == "F" for mode in files.modes)
    pixels, keep, skipped = _decode_all(files, shape, bad_files, workers, np.float32 if deep else np.uint8)
    labels = files.labels[keep]
    _check_classes_left(files, labels)
    record = {"labels": labels.tolist(), "classes": list(files.classes), "image_shape": list(shape),
              "name": files.root.name, "source": str(files.root),
              "files": [str(f) for f, k in zip(files.files, keep) if k],  # the rows' ids (splits.json)
              "loading": _record(files, (height, width), channels, keep, skipped, bad_files, max_per_class, seed)}
    written = not deep and cache.write(pixels, record)
    return _dataset(pixels, record, _cache_record(cache if written else None, pixels, started, hit=False))


def _dataset(pixels: np.ndarray, record: dict, cache: dict) -> Dataset:
    """The ``Dataset`` of decoded pixels: uint8 scaled to float32 in [0, 1] once (float32 as is)."""
    X = pixels
    if pixels.dtype == np.uint8:
        # NOTE: the same float32 division read_image does, so both give the same bits.
        X = np.empty(pixels.shape, dtype=np.float32)
        np.divide(pixels, np.float32(255.0), out=X)
    return Dataset(X=X, y=np.asarray(record["labels"], dtype=np.int64), task="classification",
                   n_classes=len(record["classes"]), name=record["name"], class_names=list(record["classes"]),
                   image_shape=tuple(record["image_shape"]), source=record["source"],
                   loading={**record["loading"], "cache": cache},
                   row_ids=np.array(record["files"], dtype=object) if "files" in record else None)


def _too_big(n: int, shape, max_bytes: int) -> bool:
    return n * int(np.prod(shape)) * 4 > max_bytes


def _files_of(root: Path, record: dict) -> ImageFiles:
    """The files and labels a cache record lists (no scan: the record's key is the folder's listing)."""
    files = [Path(f) for f in record["files"]]
    return ImageFiles(root, files, np.asarray(record["labels"], dtype=np.int64), list(record["classes"]), [], [])


def _streamed(files: ImageFiles, shape: tuple[int, int, int], loading: dict) -> Dataset:
    """The folder as rows decoded on access: nothing decoded now, nothing cached (too big for memory).

    A file that passed the header scan but fails to decode when a batch reads it follows
    ``bad_files`` too: it stops the run naming it, or is left out of its batch and listed
    (``ImageFolder``, ``StreamedRows.unreadable``)."""
    from knobs.data._image_folder import ImageFolder
    from knobs.data._stream import StreamedRows

    folder = ImageFolder(files, image_size=shape[1:], image_channels=shape[0],
                         bad_files=loading.get("bad_files", "error"))
    rows = StreamedRows(folder, item_shape=shape)
    return Dataset(X=rows, y=np.asarray(files.labels, dtype=np.int64), task="classification",
                   n_classes=len(files.classes), name=files.root.name, class_names=list(files.classes),
                   image_shape=tuple(shape), source=str(files.root), loading={**loading, "streamed": True},
                   row_ids=np.array([str(f) for f in files.files], dtype=object))


def _cache_record(cache: ImageCache | None, pixels: np.ndarray, started: float, hit: bool) -> dict:
    """What the load did with the pixels, for ``Dataset.loading["cache"]`` and the log."""
    seconds = round(time.perf_counter() - started, 2)
    n, mib, kind = len(pixels), round(pixels.nbytes / 2**20, 1), pixels.dtype.name
    where = str(cache.path) if cache is not None and cache.path is not None else None
    if hit:
        message = f"read {n:,} decoded images ({mib} MiB {kind}) from the disk cache {where} in {seconds} s"
    else:
        message = (f"decoded {n:,} images once into a {mib} MiB {kind} cache in {seconds} s"
                   + (f", kept on disk at {where}" if where else ""))
    _log.info(message)
    return {"hit": hit, "images": n, "dtype": kind, "mib": mib, "seconds": seconds, "file": where, "message": message}


def _check_memory(root, n: int, shape, max_bytes: int) -> None:
    channels, height, width = shape
    needed = n * channels * height * width * 4
    if needed > max_bytes:
        raise DataError(f"{root}: {n} images of {channels}x{height}x{width} take "
                        f"{needed / 2**30:.2f} GiB as float32, over max_bytes ({max_bytes / 2**30:.2f} "
                        f"GiB); use a smaller image_size, max_per_class, or knobs.data.ImageFolder "
                        f"with a DataLoader (decoded on access)")


def _decode_all(files: ImageFiles, shape: tuple[int, int, int], bad_files: str, workers: int | None,
                dtype) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Every image decoded into one preallocated ``(n, C*H*W)`` array of ``dtype`` (uint8: the
    8-bit pixels as they are; float32: in [0, 1]); the rows that decoded, and the files skipped."""
    channels, height, width = shape
    out = np.zeros((len(files.files), channels * height * width), dtype=dtype)
    reasons: list[str | None] = [None] * len(files.files)
    decode = _decode_uint8 if dtype == np.uint8 else read_image

    def into(index: int) -> None:
        try:
            out[index] = decode(files.files[index], (height, width), channels).reshape(-1)
        except DataError as error:
            if bad_files == "error":
                raise
            reasons[index] = str(error)

    with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(into, range(len(files.files))))
    keep = np.array([r is None for r in reasons], dtype=bool)
    skipped = [{"file": str(path), "reason": r} for path, r in zip(files.files, reasons) if r is not None]
    return (out if keep.all() else out[keep]), keep, skipped


def _decode_uint8(path: Path, image_size: tuple[int, int], channels: int) -> np.ndarray:
    """One 8-bit image as ``uint8 (channels, height, width)``, decoded as ``read_image`` does."""
    image_module = _pillow()
    height, width = image_size
    try:
        with image_module.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height), image_module.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"cannot decode image {str(path)!r}: {error}") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _check_classes_left(files: ImageFiles, labels: np.ndarray) -> None:
    counts = np.bincount(labels, minlength=len(files.classes))
    if (counts == 0).any():
        name = files.classes[int(np.argmin(counts))]
        raise DataError(f"class folder {str(files.root / name)!r} has no image that decodes; every "
                        f"file in it was skipped (see the skipped files)")


def _record(files: ImageFiles, size, channels, keep, skipped, bad_files, max_per_class, seed) -> dict:
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
        **({"max_per_class_seed": seed} if max_per_class is not None else {}),
        "skipped_count": len(all_skipped), "skipped": all_skipped[:_LISTED], "ignored": files.ignored,
    }


def _scan_class(folder: Path, bad_files: str, max_per_class: int | None, seed: int, skipped: list,
                ignored: list) -> list:
    entries = _visible(folder, ignored)
    for entry, is_dir in entries:
        if is_dir:
            raise DataError(f"class folder {str(folder)!r} holds a folder {entry.name!r}: images must sit "
                            f"directly in one sub-folder per class (point the source at {str(folder)!r} "
                            f"if its sub-folders are the classes)")
    images = []
    for index in _draw_order(len(entries), max_per_class, seed, folder.name):
        if max_per_class is not None and len(images) >= max_per_class:
            break
        entry = entries[index][0]
        header = _probe(entry)
        if isinstance(header, str):
            _bad(entry, header, bad_files, skipped)
        else:
            images.append((index, entry, *header))
    if not images:
        left_out = sum(Path(s["file"]).parent == folder for s in skipped)
        why = f" ({left_out} files skipped)" if left_out else ""
        raise DataError(f"class folder {str(folder)!r} holds no images{why}; remove the folder or add "
                        f"images of class {folder.name!r}")
    return [image[1:] for image in sorted(images, key=lambda image: image[0])]


def _draw_order(n: int, max_per_class: int | None, seed: int, name: str) -> np.ndarray:
    """The order in which a class's files are probed: by name, or a seeded random permutation when
    only ``max_per_class`` of them are kept (seeded by the class name too, so adding a class does
    not change the others' draws)."""
    if max_per_class is None or max_per_class >= n:
        return np.arange(n)
    return np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(n)


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


def _visible(folder: Path, ignored: list) -> list[tuple[Path, bool]]:
    """``(path, is a folder)`` of the entries of ``folder`` by name, hidden ones listed in ``ignored``.

    NOTE: ``os.scandir`` knows which entries are folders without a ``stat`` per file (50,000 of
    them in CIFAR-10's training folder)."""
    with os.scandir(folder) as found:
        entries = sorted(((entry.name, entry.is_dir()) for entry in found))
    ignored.extend(str(folder / name) for name, _ in entries if name.startswith("."))
    return [(folder / name, is_dir) for name, is_dir in entries if not name.startswith(".")]


def _high_depth(image_module, img, size: tuple[int, int]) -> np.ndarray:
    """16-bit (and float) grayscale: scaled in float so no bits are cut before resizing."""
    # NOTE: Pillow's convert("L") clips 16-bit values at 255 rather than scaling them.
    array = np.asarray(img, dtype=np.float32) / (1.0 if img.mode == "F" else 65535.0)
    if img.size != size:
        array = np.asarray(image_module.fromarray(array).resize(size, image_module.Resampling.BILINEAR))
    return array


def _check_options(bad_files: str, max_per_class: int | None, seed: int = 0) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
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
