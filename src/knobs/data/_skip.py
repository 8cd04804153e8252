"""Unreadable items in a DataLoader of the user's own: left out of their batch by ``skip_unreadable``, and listed.

Why a collate function: a map-style dataset cannot drop an item (the sampler asks for every index),
and an exception raised in ``__getitem__`` ends the DataLoader's pass — with workers, the whole
loader. So a source whose policy leaves damaged files out (``ImageFolder(bad_files="skip")``) answers
such an index with an ``UnreadableItem`` instead of a sample, and ``skip_unreadable`` stacks the
batch without it. Why not the next readable file in its place: that file would then count twice in
the epoch, and in an evaluation pass one image's prediction would be scored against another's
label; the same reason knobs' own loader leaves such rows out (``knobs.data._stream``). The cost
is a batch one item smaller; a batch of only unreadable items is empty (0 rows).

Nothing is left out silently: each file left out is warned about once and recorded on its dataset
(``ImageFolder.unreadable``: ``{"file", "reason", "position"}``, once per file, in the order
found), the same records knobs' own loader lists. Under ``num_workers > 0`` the collate function
runs in a worker process, on a copy of the dataset the user never sees; so the records travel
back with the batch and are added to the dataset's list as the batch arrives in the process that
iterates the loader (``_Arrival``). An ``UnreadableItem`` used as a sample (unpacked, or stacked by
the default collate function) raises one ``DataError`` naming the file and ``skip_unreadable``.

Example:
    >>> loader = DataLoader(folder, batch_size=64, collate_fn=skip_unreadable, num_workers=2)  # doctest: +SKIP
    >>> for images, labels in loader: ...                                                      # doctest: +SKIP
    >>> folder.unreadable                       # every file left out so far                   # doctest: +SKIP
"""

from __future__ import annotations

import uuid
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import default_collate, get_worker_info

from knobs.errors import DataError

__all__ = ["UnreadableItem", "UnreadableFiles", "skip_unreadable"]

#: The record lists of the datasets alive in this process, by token (what a batch from a worker names).
_LISTS: "weakref.WeakValueDictionary[str, UnreadableFiles]" = weakref.WeakValueDictionary()


class UnreadableFiles:
    """The files of one dataset left out by ``skip_unreadable`` (position → record), in this process.

    A copy sent to a worker process keeps the token, so the records a worker's batch carries back
    land in the original's list (see the module doc)."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.records: dict[int, dict] = {}
        _LISTS[self.token] = self

    def add(self, record: dict) -> None:
        position = int(record["position"])
        if position in self.records:
            return
        self.records[position] = dict(record)
        warnings.warn(f"left out {record['file']!r} ({record['reason']}); its dataset's `unreadable` lists every "
                      f"file left out", UserWarning, stacklevel=2)

    def __getstate__(self) -> dict:
        return {"token": self.token, "records": dict(self.records)}

    def __setstate__(self, state: dict) -> None:
        self.token, self.records = state["token"], state["records"]
        _LISTS.setdefault(self.token, self)


class UnreadableItem(Sequence):
    """What a dataset in skip mode answers for an item it cannot read: not a sample.

    Attributes:
        record: ``{"file", "reason", "position"}`` (``position``: the item's index in its dataset).
        message: the sentence knobs' own loader raises it with (``UnreadableRow``).
        empty: an ``(images, labels)`` batch of no rows shaped as this dataset's (used when a whole
            batch is unreadable).
    """

    def __init__(self, record: dict, message: str, token: str, image_shape: tuple[int, ...]) -> None:
        self.record, self.message, self.token, self.image_shape = dict(record), message, token, tuple(image_shape)

    def empty(self) -> list[torch.Tensor]:
        return [torch.zeros((0, *self.image_shape)), torch.zeros(0, dtype=torch.long)]

    def _refuse(self) -> DataError:
        return DataError(f"{self.message}: the dataset leaves it out only when a DataLoader's batches are made by "
                         f"collate_fn=knobs.data.skip_unreadable (which lists it), so pass that collate function, "
                         f"or set bad_files=\"error\"")

    def __len__(self) -> int:
        raise self._refuse()

    def __getitem__(self, index: Any) -> Any:
        raise self._refuse()

    def __repr__(self) -> str:
        return f"UnreadableItem({self.record['file']!r})"


def skip_unreadable(batch: list) -> Any:
    """A DataLoader's ``collate_fn``: ``default_collate`` of the batch's readable items; the
    ``UnreadableItem``s among them are left out and recorded on their dataset (see the module doc).

    A batch of only unreadable items is ``[images, labels]`` with 0 rows.
    """
    left = [item for item in batch if isinstance(item, UnreadableItem)]
    if not left:
        return default_collate(batch)
    kept = [item for item in batch if not isinstance(item, UnreadableItem)]
    collated = default_collate(kept) if kept else left[0].empty()
    if get_worker_info() is not None:  # a worker: the records go back with the batch
        return _Arrival(collated, [(item.token, item.record) for item in left])
    _record([(item.token, item.record) for item in left])
    return collated


class _Arrival:
    """A batch from a worker process with the records of the items left out of it: unpickled in
    the loading process, it records them there and becomes the batch itself."""

    def __init__(self, batch: Any, records: list[tuple[str, dict]]) -> None:
        self.batch, self.records = batch, records

    def __reduce__(self):
        return _arrived, (self.batch, self.records)


def _arrived(batch: Any, records: list[tuple[str, dict]]) -> Any:
    _record(records)
    return batch


def _record(records: list[tuple[str, dict]]) -> None:
    for token, record in records:
        found = _LISTS.get(token)
        if found is not None:
            found.add(record)
