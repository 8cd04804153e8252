"""Segmentation folders: images beside their masks, a class id per pixel, decoded into memory.

Layout (the one most segmentation sets ship in: Oxford-IIIT Pets' trimaps, Pascal VOC's
``SegmentationClass``, Carvana, ISIC), one mask per image with the same file stem::

    root/images/0001.jpg   root/masks/0001.png
    root/images/0002.jpg   root/masks/0002.png

A mask is a one-channel image (mode ``L``, ``P`` — VOC's palette PNGs, whose indices are the
classes — ``I`` or ``1``) whose pixel values are class ids; the distinct values of the training masks
are the classes, in numeric order (``knobs.data._arrays.pixel_classes``: 0 / 255 masks are two
classes named "0" and "255"). ``ignore_index`` names the value of pixels without a class (VOC's
255 on object borders), kept out of the loss and the metrics. An RGB mask whose channels differ is
a colour-coded one, refused with the way out (map its colours to ids), never read as grey levels.

Why every pair is checked before anything is decoded, as ``scan_image_folder`` does: an image
without its mask (or a mask of another size) found after minutes of decoding wastes the minutes.
Images are resized with Pillow's bilinear filter like class folders' (``read_image``), masks with
nearest-neighbour, so no pixel gets a class between two classes.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from knobs.data._arrays import IGNORE, from_built, pixel_classes
from knobs.data._dataset import Dataset
from knobs.data._images import GRAY_MODES, _bad, _pillow, _probe, _visible, read_image, resolve_size
from knobs.errors import ConfigError, DataError

__all__ = ["IMAGES", "MASKS", "is_mask_folder", "load_mask_folder", "load_like_run", "masks_on_classes",
           "mask_values_on_classes", "read_mask", "MaskPairs"]

IMAGES, MASKS = "images", "masks"
MASK_MODES = frozenset({"1", "L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"})


def is_mask_folder(path: str | Path) -> bool:
    """A folder holding ``images/`` and ``masks/`` (and no other folder): a segmentation set, not two classes."""
    path = Path(path)
    if not path.is_dir():
        return False
    folders = {entry.name for entry in path.iterdir() if entry.is_dir() and not entry.name.startswith(".")}
    return folders == {IMAGES, MASKS}


class MaskPairs:
    """The image files of a segmentation folder with their masks, checked from their headers."""

    def __init__(self, root: Path, images: list[Path], masks: list[Path], sizes: list[tuple[int, int]],
                 modes: list[str], skipped: list[dict], ignored: list[str], unmatched: list[str]) -> None:
        self.root, self.images, self.masks, self.sizes, self.modes = root, images, masks, sizes, modes
        self.skipped, self.ignored, self.unmatched = skipped, ignored, unmatched

    # NOTE: ``resolve_size`` reads ``files``, ``sizes`` and ``root`` of an ``ImageFiles``
    @property
    def files(self) -> list[Path]:
        return self.images


def scan_mask_folder(root: str | Path, bad_files: str = "error") -> MaskPairs:
    """Pair each image of ``root/images`` with the mask of its stem in ``root/masks`` (headers only).

    Raises:
        DataError: no such folder or layout; an image without a mask, a mask of another size than its image or in a
            mode that holds no class ids, or a file that is not an image (each named; under ``bad_files = "skip"``
            such images are left out and listed); no image left.
    """
    root = Path(root)
    if not is_mask_folder(root):
        raise DataError(f"{str(root)!r} is not a segmentation folder: expected {IMAGES}/ and {MASKS}/ in it, a mask "
                        f"per image with the same file stem ({IMAGES}/0001.jpg with {MASKS}/0001.png)")
    skipped: list[dict] = []
    ignored: list[str] = []
    masks: dict[str, Path] = {}
    for path, is_dir in _visible(root / MASKS, ignored):
        if is_dir:
            raise DataError(f"{str(root / MASKS)!r} holds a folder {path.name!r}: masks must sit directly in it")
        if path.stem in masks:
            raise DataError(f"two masks share the stem {path.stem!r} ({masks[path.stem].name}, {path.name}); keep one")
        masks[path.stem] = path
    images, pairs, sizes, modes = [], [], [], []
    for path, is_dir in _visible(root / IMAGES, ignored):
        if is_dir:
            raise DataError(f"{str(root / IMAGES)!r} holds a folder {path.name!r}: images must sit directly in it")
        mask = masks.pop(path.stem, None)
        header = _probe(path)
        problem = header if isinstance(header, str) else _pair_problem(path, header, mask)
        if problem:
            _bad(path, problem, bad_files, skipped)
            continue
        images.append(path)
        pairs.append(mask)
        sizes.append(header[0])
        modes.append(header[1])
    if not images:
        left = f" ({len(skipped)} left out, the first: {skipped[0]['file']} {skipped[0]['reason']})" if skipped else ""
        raise DataError(f"{str(root / IMAGES)!r} holds no image with a mask{left}")
    return MaskPairs(root, images, pairs, sizes, modes, skipped, ignored, sorted(str(p) for p in masks.values()))


def _pair_problem(image: Path, header: tuple, mask: Path | None) -> str:
    """Why ``image`` (its header's ``(size, mode)``) and ``mask`` are not a pair to train on, or ``""``."""
    if mask is None:
        return f"has no mask (no {MASKS}/{image.stem}.* beside it)"
    found = _probe(mask)
    if isinstance(found, str):
        return f"has a mask {mask.name!r} that {found}"
    (size, mode), (image_size, _) = found, header
    if size != image_size:
        return (f"is {image_size[0]}x{image_size[1]} pixels and its mask {mask.name!r} {size[0]}x{size[1]}; a mask "
                f"labels its image's pixels, so both need one size")
    if mode not in MASK_MODES | {"RGB", "RGBA", "LA"}:
        return f"has a mask {mask.name!r} of mode {mode!r}, which holds no class ids"
    return ""


def read_mask(path: str | Path, image_size: tuple[int, int], ignore_index: int | None = None) -> np.ndarray:
    """A mask's class ids ``(height, width)`` int64, resized nearest-neighbour; ``ignore_index`` pixels ``IGNORE``.

    Raises:
        DataError: a colour-coded RGB mask (its channels differ), or a file that does not decode (named).
    """
    image_module = _pillow()
    height, width = image_size
    try:
        with image_module.open(path) as img:
            if img.mode in ("RGB", "RGBA", "LA"):
                array = np.asarray(img)
                channels = array[..., :3] if img.mode != "LA" else array[..., :1]
                if (channels != channels[..., :1]).any():
                    raise DataError(f"mask {str(path)!r} is a colour image whose channels differ: a colour per class; "
                                    f"save a class id per pixel instead (a one-channel PNG: mode L, or P with a "
                                    f"palette), e.g. np.array of the colours mapped to 0, 1, 2, ...")
                img = image_module.fromarray(channels[..., 0])
            if img.size != (width, height):
                img = img.resize((width, height), image_module.Resampling.NEAREST)
            mask = np.asarray(img).astype(np.int64)
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"cannot decode mask {str(path)!r}: {error}") from None
    if ignore_index is not None:
        mask[mask == ignore_index] = IGNORE
    return mask


#: a mask value this far above every other one, with no ``ignore_index`` set, is likely a "no class" marker
_MARKERS = (255, 65535)


def _classes_note(masks: np.ndarray, ignore_index: int | None) -> str:
    """The run's first-lines sentence on the classes the masks hold — and, for VOC-style masks (255 beside a few small
    ids, no ``ignore_index``), that 255 is read as a class and how to say it is none."""
    values = np.unique(masks[masks != IGNORE])
    shown = ", ".join(str(v) for v in values[:12]) + (", ..." if len(values) > 12 else "")
    note = f"segmentation masks: {len(values)} classes (mask values {shown})"
    if ignore_index is not None:
        return note + f"; value {ignore_index}: no class"
    marker = next((int(v) for v in values if int(v) in _MARKERS), None)
    if marker is not None and len(values) > 2 and values[values != marker].max() < marker // 2:
        note += (f"; {marker} is read as a class of its own: if it marks pixels of no class (as Pascal VOC's object "
                 f"borders), set data.ignore_index = {marker}")
    return note


def load_mask_folder(root: str | Path, image_size: Any = None, image_channels: int | None = None, *,
                     ignore_index: int | None = None, bad_files: str = "error",
                     max_bytes: int = 2**31, rows: int | None = None, seed: int = 0) -> Dataset:
    """Decode a segmentation folder (``images/`` with ``masks/``, see the module doc) into a segmentation ``Dataset``.

    Args:
        root: the folder.
        image_size, image_channels, bad_files: as ``load_image_folder``'s (a pair that is not one — an image without
            its mask, sizes that differ — is a bad file).
        ignore_index: the mask value of pixels without a class (VOC's 255), or None.
        max_bytes: the most memory the decoded float32 images may take.
        rows, seed: decode only a seeded random ``rows`` of the pairs (``data.rows``: the draw
            ``knobs.data._arrays.subsample`` makes, made before decoding, so a folder over the budget can be tried
            on a part of it).

    Returns:
        A ``Dataset`` with ``X`` ``(n, C*H*W)`` float32 in [0, 1], ``image_shape`` ``(C, H, W)``, ``y`` masks
        ``(n, H, W)`` of classes ``0..K-1`` (``-100`` where ``ignore_index`` was), ``class_names`` the mask values,
        ``row_ids`` the image files (relative to ``root``).

    Raises:
        DataError: see ``scan_mask_folder``; over ``max_bytes`` (naming ``data.memory``); no class in the masks.
        ConfigError: ``ignore_index`` not an integer.
    """
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer))):
        raise ConfigError(f"data.ignore_index must be an integer (the mask value of pixels without a class), "
                          f"got {ignore_index!r}")
    root = Path(root)
    pairs = scan_mask_folder(root, bad_files)
    found = len(pairs.images)
    if rows is not None and rows < found:  # NOTE: subsample's draw, so the run's data.rows step finds it made
        keep = np.sort(np.random.default_rng(seed).choice(found, size=rows, replace=False))
        pairs.images, pairs.masks = [pairs.images[i] for i in keep], [pairs.masks[i] for i in keep]
        pairs.sizes, pairs.modes = [pairs.sizes[i] for i in keep], [pairs.modes[i] for i in keep]
    height, width = resolve_size(pairs, image_size)
    channels = image_channels or (1 if all(m in GRAY_MODES for m in pairs.modes) else 3)
    # NOTE: the masks count too: int64 class ids take 8 bytes a pixel beside an RGB image's 12
    needed = len(pairs.images) * height * width * (channels * 4 + 8)
    if needed > max_bytes:
        raise DataError(f"{str(root)!r}: {len(pairs.images)} images of {channels}x{height}x{width} with their masks "
                        f"take {needed / 2**20:.0f} MiB (float32 pixels, int64 classes), over the memory budget of "
                        f"{max_bytes / 2**20:.0f} MiB; "
                        f"raise data.memory, take fewer images (data.rows) or a smaller data.image_size "
                        f"(segmentation folders are decoded into memory)")
    # NOTE: Pillow decodes outside the GIL, so threads decode pairs side by side (as load_image_folder's do), each
    # into its place in arrays made once (no list of arrays stacked: the images' memory is not taken twice)
    X = np.empty((len(pairs.images), channels, height, width), np.float32)
    masks = np.empty((len(pairs.images), height, width), np.int64)

    def decode(i: int) -> None:
        X[i] = read_image(pairs.images[i], (height, width), channels)
        masks[i] = read_mask(pairs.masks[i], (height, width), ignore_index)

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(decode, range(len(pairs.images))))
    if not (masks != IGNORE).any():
        raise DataError(f"{str(root)!r}: every mask pixel is data.ignore_index = {ignore_index}; no class to learn")
    record = {"kind": "images", "layout": "masks", "folder": str(root), "image_size": [height, width],
              "channels": channels, "bad_files": bad_files, "ignore_index": ignore_index,
              "images": len(pairs.images)}
    if len(pairs.images) < found:
        record.update(rows_sampled=len(pairs.images), rows_before_sampling=found)
    if pairs.skipped:
        record.update(skipped=pairs.skipped[:100], skipped_count=len(pairs.skipped))
    if pairs.unmatched:
        record.update(masks_without_image=pairs.unmatched[:100], masks_without_image_count=len(pairs.unmatched))
    record["note"] = _classes_note(masks, ignore_index)
    given = from_built((X, masks), name=root.name, source=str(root), task="segmentation", record=record)
    return dataclasses.replace(given.dataset, row_ids=np.array([str(p.relative_to(root)) for p in pairs.images],
                                                               dtype=object))


def load_like_run(path: str | Path, loading: dict, what: str) -> Dataset:
    """A folder of ``images/`` with ``masks/`` decoded as a run decoded its own (``loading``: the run's recorded
    size, channels, ignore value and ``bad_files``) — its official test set, or the labelled images ``knobs evaluate``
    scores. ``what`` begins the message when ``path`` is not such a folder (the setting, and what it names)."""
    if not is_mask_folder(path):
        raise DataError(f"{what} a folder like its source, {IMAGES}/ with {MASKS}/ in it (a mask per image, the same "
                        f"file stem)")
    return load_mask_folder(path, image_size=tuple(loading["image_size"]), image_channels=loading["channels"],
                            ignore_index=loading.get("ignore_index"), bad_files=loading.get("bad_files", "error"))


def masks_on_classes(found: Dataset, class_names: list | None, part: str, what: str) -> np.ndarray:
    """``found``'s masks (indices into its own classes) on a run's classes (``class_names``: its training masks'
    values), ``IGNORE`` kept: a class the run never saw is refused by ``pixel_classes``."""
    values = np.asarray([int(name) for name in found.class_names], dtype=np.int64)
    raw = np.where(found.y != IGNORE, values[np.clip(found.y, 0, None)], IGNORE)
    return mask_values_on_classes(raw, class_names, part, what)


def mask_values_on_classes(raw: np.ndarray, class_names: list | None, part: str, what: str) -> np.ndarray:
    """Masks of class ids (the values a run's training masks held) as the run's class indices, ``IGNORE`` kept."""
    return pixel_classes(raw, np.asarray([int(name) for name in class_names or []], dtype=np.int64), part, what)
