"""Image folders too large for memory: decoded on access, for a ``DataLoader``.

Why a separate path: ``load_image_folder`` decodes once into memory, which is right for the many
trials of a search on small sets; a folder of hundreds of thousands of images does not fit, so
``ImageFolder`` decodes each image when a batch asks for it, in ``DataLoader`` worker processes
that run beside the training step. ``loader_options`` holds the one decision about workers and
pinned memory, so every loader in knobs makes it the same way.

Example:
    >>> files = scan_image_folder("photos")                                    # doctest: +SKIP
    >>> ds = ImageFolder(files, image_size=64)                                  # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_size=128, shuffle=True, **loader_options("cuda"))  # doctest: +SKIP

Under ``bad_files="skip"`` a file that no longer decodes is answered with an ``UnreadableItem``;
a DataLoader of the user's own leaves it out with ``collate_fn=knobs.data.skip_unreadable`` and
``ds.unreadable`` lists it (``knobs.data._skip``); knobs' own streamed loader (``StreamedRows``)
leaves it out by itself.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch

from knobs.data._images import BAD_FILES, GRAY_MODES, ImageFiles, read_image, resolve_size
from knobs.data._skip import UnreadableFiles, UnreadableItem
from knobs.errors import ConfigError, DataError

__all__ = ["ImageFolder", "loader_options"]


class ImageFolder(torch.utils.data.Dataset):
    """``(image (C, H, W) float32 tensor in [0, 1], label)`` pairs, decoded on access.

    Args:
        files: the checked files of a folder (``scan_image_folder``).
        image_size: ``int`` or ``(height, width)``; default: the size every image shares.
        image_channels: 1 or 3; default 1 when every image is grayscale, else 3.
        transform: applied to each image tensor (augmentation), or None.
        bad_files: what an image that passed the header scan but does not decode when read (a
            truncated or damaged file) does: ``"error"`` (default) raises one ``DataError``
            naming it and the way out; ``"skip"`` answers the index with an ``UnreadableItem``
            (the file and why), not a sample: in a DataLoader of your own pass
            ``collate_fn=knobs.data.skip_unreadable``, which leaves it out of its batch (a batch
            one image smaller, not another image in its place) and lists it in ``unreadable``
            (under ``num_workers > 0`` too), with one warning per file; knobs' streamed reading
            (``StreamedRows``) leaves it out and lists it by itself.

    Example:
        >>> loader = DataLoader(ImageFolder(files, bad_files="skip"), batch_size=64,
        ...                     collate_fn=skip_unreadable, num_workers=2)       # doctest: +SKIP
    """

    def __init__(self, files: ImageFiles, image_size=None, image_channels: int | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None, bad_files: str = "error") -> None:
        if image_channels not in (None, 1, 3):
            raise ConfigError(f"image_channels must be 1, 3 or None (inferred), got {image_channels!r}")
        if bad_files not in BAD_FILES:
            raise ConfigError(f"bad_files must be one of {BAD_FILES}, got {bad_files!r}")
        self.files = files
        self.bad_files = bad_files
        self.image_size = resolve_size(files, image_size)
        self.channels = image_channels or (1 if all(m in GRAY_MODES for m in files.modes) else 3)
        self.transform = transform
        self._left_out = UnreadableFiles()

    def __len__(self) -> int:
        return len(self.files.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | UnreadableItem:
        path = self.files.files[index]
        try:
            image = torch.from_numpy(read_image(path, self.image_size, self.channels))
        except DataError as error:
            if self.bad_files == "skip":
                return UnreadableItem({"file": str(path), "reason": f"{error} (found when read, after the scan)",
                                       "position": int(index)}, f"{error}; left out (bad_files = \"skip\")",
                                      self._left_out.token, self.image_shape)
            raise self._unreadable(error) from None
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.files.labels[index])

    @property
    def unreadable(self) -> list[dict]:
        """The files ``skip_unreadable`` left out of a DataLoader's batches so far (``{"file", "reason",
        "position"}``, once each, in the order found; knobs' streamed reading lists its own in
        ``StreamedRows.unreadable``)."""
        return list(self._left_out.records.values())

    def _unreadable(self, error: DataError) -> DataError:
        """The error for a file whose header was read at the scan but whose data does not decode now."""
        return DataError(f"{error}: its header was read when the folder was scanned, its data does not decode "
                         f"now (a truncated or damaged file); remove or replace it, or set data.bad_files = \"skip\" "
                         f"to leave such files out of their batches (they are listed)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.image_size)

    @property
    def targets(self) -> np.ndarray:
        """Every label, without decoding an image (for stratified splits and class weights)."""
        return self.files.labels


def loader_options(device: str | torch.device = "cpu", *, decoded_on_access: bool = True,
                   cpu_count: int | None = None) -> dict:
    """``num_workers``, ``pin_memory`` and ``persistent_workers`` for a ``DataLoader``.

    The decisions:

    - Data decoded on access gets ``cpu_count - 1`` workers, at most 8: decoding then overlaps the
      training step, and one core stays with the main process, which runs the step (on 2 cores:
      one worker). Beyond 8, decoding small images is rarely the bottleneck and each worker holds
      its own memory.
    - Data already in memory gets no workers: indexing a tensor is faster than sending batches
      between processes.
    - ``pin_memory`` only for CUDA, where page-locked batches copy to the GPU asynchronously; on a
      CPU it only costs memory.
    - Workers persist across epochs (starting them each epoch costs seconds).

    Args:
        device: where training runs (``"auto"`` means CUDA when available).
        decoded_on_access: whether items are decoded/loaded in ``__getitem__``.
        cpu_count: the cores to plan for (default: ``os.cpu_count()``).

    Example:
        >>> loader_options("cpu", cpu_count=2)
        {'num_workers': 1, 'pin_memory': False, 'persistent_workers': True}
    """
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    cores = cpu_count or os.cpu_count() or 1
    workers = min(8, max(0, cores - 1)) if decoded_on_access else 0
    return {"num_workers": workers, "pin_memory": torch.device(device).type == "cuda",
            "persistent_workers": workers > 0}
