"""Rows read on access: a map-style torch ``Dataset`` (or an image folder) too big for memory.

Why a stand-in for the ``X`` array and not a second pipeline: a run splits, standardizes, trains,
ensembles and tests rows; all of that needs only *which* rows a split holds and, batch by batch,
their values. ``StreamedRows`` is that: a source (anything with ``len`` and ``source[i] -> (x, y)``)
and the positions of a split's rows in it. Selecting rows with an integer array (``rows[index]``,
what ``split`` and ``subsample`` do) gives another view and reads nothing; ``reshape`` and
``with_transform`` (standardization) are views too. Values are read only by ``loader`` (a
``DataLoader`` with workers, pinned memory on CUDA, persistent workers), ``sample`` (a seeded
random few, for statistics and checks) and ``read`` (a few rows at once; more than ``MAX_READ``
is refused, so a bug that would materialize a split fails loudly instead of exhausting memory).

A row its source cannot read — an image folder's file that passed the header scan but whose data
does not decode, found hours into training — follows the source's policy: the source raises a
``KnobsError`` naming it (``bad_files = "error"``), or answers with an ``UnreadableItem``
(``"skip"``; raising ``UnreadableRow`` does the same), and the row is then left out of the batch being read, its label with it, and listed in ``unreadable``
(every view of a source shares the list; ``listen`` hands each record to the run's event log).
Why left out and not replaced by another row: a replacement would count some other row twice in
the epoch, and in a validation or test pass it would pair one row's prediction with another's
label; leaving the row out keeps every batch's inputs and labels from the same rows, and every
metric over rows that were read. The cost is one batch a row smaller (a batch of no readable row
is not yielded, and the loader's ``len`` leaves it out once its rows are known: ``RowLoader``). Errors raised in ``DataLoader`` worker processes travel back as data and are
raised in the reading process as themselves: one message, not the worker's traceback.

Labels never come from reading items: the source gives them as ``targets`` (one per item, as
torchvision data sets and ``knobs.data.ImageFolder`` do), so the split — test rows first — is
drawn without touching a single item, and a test row is first read after the vault is opened.

Example:
    >>> class Squares(torch.utils.data.Dataset):
    ...     targets = [0, 1] * 50
    ...     def __len__(self): return 100
    ...     def __getitem__(self, i): return torch.full((2,), float(i)), self.targets[i]
    >>> rows = StreamedRows(Squares())
    >>> odd = rows[np.arange(1, 100, 2)]          # a view: nothing read
    >>> odd.read(slice(0, 2)).tolist()
    [[1.0, 1.0], [3.0, 3.0]]
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from knobs.data._skip import UnreadableItem
from knobs.errors import DataError, KnobsError

__all__ = ["StreamedRows", "StreamedPair", "RowLoader", "UnreadableRow", "is_streamed", "source_targets", "MAX_READ",
           "STATS_SAMPLE"]

MAX_READ = 8192  # the most rows ``read`` returns at once (a guard against materializing a split)
STATS_SAMPLE = 2048  # training rows a streamed run's standardization statistics are drawn from


class UnreadableRow(DataError):
    """An item its source's policy leaves out (an image folder's damaged file under ``bad_files =
    "skip"``, which the folder answers with an ``UnreadableItem``), raised while reading a row;
    ``record`` (``{"file", "reason"}``) is what the run lists."""

    def __init__(self, message: str, record: dict | None = None) -> None:
        super().__init__(message)
        self.record = dict(record or {})

    def __reduce__(self):
        return (type(self), (str(self), self.record))


class _Unreadable:
    """The rows of a source left out because they could not be read (source position → record),
    shared by every view of the source, kept in the reading process; ``listener`` gets each new
    record (and, when set, every earlier one: nothing found before the run's event log opened is lost)."""

    def __init__(self) -> None:
        self.records: dict[int, dict] = {}
        self.listener: Callable[[dict], Any] | None = None

    def add(self, position: int, record: dict) -> None:
        if position in self.records:
            return
        self.records[position] = {**record, "position": position}
        if self.listener is not None:
            self.listener(self.records[position])

    def listen(self, listener: Callable[[dict], Any] | None) -> None:
        self.listener = listener
        for record in self.records.values() if listener is not None else ():
            listener(record)

    def __getstate__(self) -> dict:
        return {"records": dict(self.records), "listener": None}  # NOTE: a worker process reports in-band, not here


class _Probe:
    """The shape of one item of a source, read once and shared by every view of that source."""

    def __init__(self, item_shape: tuple[int, ...] | None = None) -> None:
        self.item_shape = item_shape

    def shape(self, source: Any, position: int) -> tuple[int, ...]:
        if self.item_shape is None:
            self.item_shape = tuple(_as_array(_item(source, position)[0]).shape)
        return self.item_shape


class StreamedRows:
    """The rows ``index`` of ``source``, read on access (see the module doc).

    Args:
        source: a map-style dataset whose items are ``(x, y)``; only ``x`` is read.
        index: the rows' positions in ``source`` (default: every item).
        row_shape: the shape each row is given as (default: the item flattened, ``(numel,)``).
        item_shape: the items' shape when known without reading one (an image folder's headers);
            otherwise the first row asked for is read once to learn it (a row of the view being
            asked: the training split's, when the run first asks after the split).
        transform: applied to a batch of rows ``(n, *row_shape)`` float32 (standardization).
        loader_options: ``DataLoader`` keywords (``num_workers``, ``pin_memory``,
            ``persistent_workers``) used by ``loader``.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, source: Any, index: np.ndarray | None = None, *, row_shape: tuple[int, ...] | None = None,
                 item_shape: tuple[int, ...] | None = None, transform: Callable | None = None,
                 loader_options: dict | None = None, _probe: _Probe | None = None,
                 _unreadable: _Unreadable | None = None) -> None:
        self.source = source
        self.index = np.arange(len(source), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
        self.transform = transform
        self.loader_options = dict(loader_options or {})
        self._row_shape = None if row_shape is None else tuple(int(s) for s in row_shape)
        self._probe = _probe or _Probe(item_shape)
        self._unreadable = _unreadable or _Unreadable()

    # ---- what the view looks like (no row read, except once for the item shape) --------------------

    def __len__(self) -> int:
        return len(self.index)

    @property
    def ndim(self) -> int:
        return 1 + (len(self._row_shape) if self._row_shape is not None else 1)

    @property
    def item_shape(self) -> tuple[int, ...]:
        """The shape of one source item (read from the first readable row of this view when not yet
        known: rows before it that the source leaves out are recorded, not taken as the shape's
        answer — else every row of the view would fail with the first one's error)."""
        if self._probe.item_shape is not None:
            return self._probe.item_shape
        if len(self.index) == 0:
            raise DataError("an empty selection of streamed rows cannot tell the rows' shape")
        for position in self.index:
            try:
                return self._probe.shape(self.source, int(position))
            except UnreadableRow as left:
                self._unreadable.add(int(position), left.record)
        raise DataError(f"none of the {len(self.index)} streamed rows can be read (the first: "
                        f"{self._unreadable.records[int(self.index[0])]['reason']})")

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self._row_shape if self._row_shape is not None else (int(np.prod(self.item_shape)),)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def nbytes(self) -> int:
        """What the rows would take in memory as float32."""
        return len(self) * int(np.prod(self.row_shape)) * 4

    # ---- views -------------------------------------------------------------------------------------

    def _view(self, **changes: Any) -> "StreamedRows":
        fields = {"index": self.index, "row_shape": self._row_shape, "transform": self.transform,
                  "loader_options": self.loader_options}
        fields.update(changes)
        return StreamedRows(self.source, _probe=self._probe, _unreadable=self._unreadable, **fields)

    def __getitem__(self, key: Any) -> Any:
        """The rows ``key`` selects (an integer array, a boolean mask or a slice), as a view; an
        integer reads that one row (its values, as ``X[i]`` gives a row of an array)."""
        if isinstance(key, torch.Tensor):
            key = key.cpu().numpy()
        if isinstance(key, (int, np.integer)):
            row = self._view(index=self.index[[int(key)]])
            kept, values = row._batch(range(1))
            if not len(kept):
                raise DataError(f"row {int(key)} cannot be read: " + row._unreadable.records[int(row.index[0])]["reason"])
            return values[0]
        return self._view(index=self.index[key])

    def take(self, index: np.ndarray) -> "StreamedRows":
        return self[np.asarray(index, dtype=np.int64)]

    def reshape(self, *shape: Any) -> "StreamedRows":
        """The same rows given as ``shape[1:]`` (``shape[0]`` must be ``len(self)`` or -1)."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
        row = tuple(int(s) for s in shape[1:])
        if shape[0] not in (-1, len(self)) or int(np.prod(row)) != int(np.prod(self.item_shape)):
            raise DataError(f"streamed rows of shape {self.shape} cannot be reshaped to {shape}")
        return self._view(row_shape=row)

    def with_transform(self, transform: Callable | None) -> "StreamedRows":
        return self._view(transform=transform)

    def with_loader_options(self, options: dict) -> "StreamedRows":
        return self._view(loader_options=options)

    # ---- reading -----------------------------------------------------------------------------------

    def read(self, key: Any = slice(None)) -> np.ndarray:
        """The values of the rows ``key`` selects, ``(n, *row_shape)`` float32, transformed (rows their
        source leaves out are not among them: ``read_kept`` says which were read).

        Raises:
            DataError: more than ``MAX_READ`` rows asked at once (stream them with ``loader``).
        """
        return self.read_kept(key)[1]

    def read_kept(self, key: Any = slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """``(positions within the selection that were read, their values)``: ``read``, for a caller
        that pairs the rows with labels."""
        view = self[key]
        if len(view) > MAX_READ:
            raise DataError(f"{len(view)} streamed rows asked at once (at most {MAX_READ}): streamed data is read "
                            f"batch by batch through rows.loader(...), never whole")
        return view._batch(range(len(view)))

    @property
    def unreadable(self) -> list[dict]:
        """The rows of the source left out so far (``{"file", "reason", "position"}``), in the order found."""
        return list(self._unreadable.records.values())

    def listen(self, listener: Callable[[dict], Any] | None) -> None:
        """Hand every row left out, found so far and from now on, to ``listener`` (the run's event log)."""
        self._unreadable.listen(listener)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.read()
        return values if dtype is None else values.astype(dtype)

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(positions within this view, values)`` of a seeded random ``n`` rows (all when fewer; rows
        the source leaves out are not among them)."""
        chosen = np.arange(len(self)) if n >= len(self) else np.sort(
            np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        kept, values = self[chosen]._batch(range(len(chosen)))
        return chosen[kept], values

    def loader(self, batch_size: int = 1024, y: Any = None, *, batch_sampler: Any = None) -> "RowLoader":
        """A ``DataLoader`` of the rows (with their ``y``, one per row, when given) in order, or in the
        batches ``batch_sampler`` yields (lists of positions within this view); rows the source
        leaves out are left out of their batch (``RowLoader``)."""
        dataset = _Rows(self, None if y is None else torch.as_tensor(y))
        options = dict(self.loader_options)
        if not options.get("num_workers"):
            options.pop("persistent_workers", None)
            options.pop("prefetch_factor", None)
        sizing = {"batch_sampler": batch_sampler} if batch_sampler is not None else {"batch_size": batch_size}
        return RowLoader(torch.utils.data.DataLoader(dataset, collate_fn=_Collate(self.transform, y is not None),
                                                     **sizing, **options), self._unreadable, self.index)

    def raw_row(self, i: int) -> np.ndarray:
        """Row ``i`` of this view as stored (no transform)."""
        x = _as_array(_item(self.source, int(self.index[i]))[0])
        return x.reshape(self.row_shape)

    def _batch(self, positions) -> tuple[np.ndarray, np.ndarray]:
        """``(the positions read, their rows transformed)``; a row the source leaves out is recorded."""
        kept, rows = [], []
        for i in positions:
            try:
                rows.append(self.raw_row(i))
            except UnreadableRow as left:
                self._unreadable.add(int(self.index[i]), left.record)
                continue
            kept.append(i)
        out = np.stack(rows) if rows else np.zeros((0, *self.row_shape), np.float32)
        kept = np.asarray(kept, dtype=np.int64)
        return kept, (out if self.transform is None else np.asarray(self.transform(out), dtype=np.float32))

    def __repr__(self) -> str:
        return f"StreamedRows({type(self.source).__name__}, rows={len(self)})"


class StreamedPair(tuple):
    """``(StreamedRows, y tensor)``: a split whose inputs are read batch by batch.

    A tuple, so ``X, y = pair`` and ``pair[1]`` work as for tensors; ``as_loader`` is what
    ``knobs.train``'s batching asks for instead of moving ``X`` to the device whole.

    ``sampler`` (a ``torch.utils.data.Sampler`` of positions in this split, e.g. a
    ``WeightedRandomSampler`` that oversamples rare classes) replaces the trainer's shuffled order:
    each pass draws its positions anew and cuts them into the batches the trainer asked for (its
    ``bounds``: no batch of one), and the sampler's generator is the one a checkpoint saves."""

    def __new__(cls, rows: StreamedRows, y: torch.Tensor, sampler: Any = None) -> "StreamedPair":
        pair = super().__new__(cls, (rows, y))
        pair.sampler = sampler
        return pair

    def as_loader(self, batch_sampler: Any) -> torch.utils.data.DataLoader:
        """The rows and targets in the batches ``batch_sampler`` yields (positions in this split), or
        — with a ``sampler`` — in its draws, cut at ``batch_sampler``'s bounds."""
        if self.sampler is not None:
            batch_sampler = DrawnBatches(self.sampler, batch_sampler.bounds)
        return self[0].loader(y=self[1], batch_sampler=batch_sampler)


class DrawnBatches(torch.utils.data.Sampler):
    """A batch sampler over ``sampler``'s draws, cut at ``bounds`` (``[(start, stop), ...]`` of one
    pass); its ``generator`` is the sampler's, so a trainer's checkpoint resumes the same draws."""

    def __init__(self, sampler: Any, bounds: list[tuple[int, int]]) -> None:
        self.sampler, self.bounds = sampler, bounds
        self.generator = getattr(sampler, "generator", None)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self):
        drawn = [int(i) for i in self.sampler]
        for a, b in self.bounds:
            yield drawn[a:b]


def is_streamed(X: Any) -> bool:
    return isinstance(X, StreamedRows)


def source_targets(source: Any) -> np.ndarray | None:
    """The labels a dataset gives without reading items (``targets``), or None."""
    targets = getattr(source, "targets", None)
    if targets is None:
        return None
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    targets = np.asarray(targets)
    return targets if targets.ndim == 1 and len(targets) == len(source) else None


class RowLoader:
    """A ``DataLoader`` over a view's rows whose batches leave out the rows the source could not
    read (see the module doc): iterating it yields the batches, ``X`` or ``(X, y)``, of the rows
    read; ``left_out`` lists the positions (within the view) left out by the last pass, and the
    view's ``unreadable`` records them. An error raised reading a row, in this process or in a
    worker, is raised here as itself. Anything else is the ``DataLoader``'s (``generator``, ...)."""

    def __init__(self, loader: torch.utils.data.DataLoader, unreadable: _Unreadable,
                 index: np.ndarray | None = None) -> None:
        self.loader, self._unreadable = loader, unreadable
        self.index = np.arange(len(loader.dataset), dtype=np.int64) if index is None else index
        self.left_out: list[int] = []

    def __len__(self) -> int:
        """The batches the next pass yields: the DataLoader's, less those whose every row is known
        to be unreadable (such a batch is not yielded).

        Exact once the view's unreadable rows have been met — after one pass, since every view of
        the source remembers them — and, until then, an upper bound: a row is known unreadable only
        once read. With rows known unreadable, the next pass's batches are drawn on a copy of the
        batch sampler's random state (its ``generator``, or torch's global one), so asking ``len``
        changes no order. Why not always the DataLoader's count: a schedule or a progress bar sized
        by it would count steps that never come.
        """
        bad = np.isin(self.index, np.fromiter(self._unreadable.records, dtype=np.int64))
        if not bad.any():
            return len(self.loader)
        return sum(1 for batch in _next_batches(self.loader.batch_sampler) if not bad[batch].all())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["loader"], name)

    def __iter__(self):
        self.left_out = []
        for payload, left, failure in self.loader:
            if failure is not None:
                raise failure from None
            for at, position, record in left:
                self.left_out.append(int(at))
                self._unreadable.add(int(position), record)
            if payload is not None:
                yield payload


def _next_batches(batch_sampler: Any) -> list[list[int]]:
    """The batches ``batch_sampler`` yields next, its random state (its or its sampler's
    ``generator``, torch's global generator) left as it was."""
    generators = [g for g in (getattr(batch_sampler, "generator", None),
                              getattr(getattr(batch_sampler, "sampler", None), "generator", None))
                  if isinstance(g, torch.Generator)]
    states = [g.get_state() for g in generators]
    try:
        with torch.random.fork_rng(devices=[]):
            return [list(batch) for batch in batch_sampler]
    finally:
        for generator, state in zip(generators, states):
            generator.set_state(state)


class _LeftOut(tuple):
    """``(position in the view, position in the source, record)`` of a row the source left out."""


class _Failed(tuple):
    """``(error,)``: reading a row raised this ``KnobsError``; the reading process raises it."""


class _Rows(torch.utils.data.Dataset):
    """The rows of a view as a dataset of ``(row, y)`` (or rows alone), untransformed: the
    transform runs once per batch in ``_Collate``. A row that cannot be read becomes a marker
    (``_LeftOut``, ``_Failed``) instead of an exception, so a worker process sends it back as data."""

    def __init__(self, rows: StreamedRows, y: torch.Tensor | None) -> None:
        self.rows, self.y = rows, y

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        try:
            x = self.rows.raw_row(i)
        except UnreadableRow as left:
            return _LeftOut((i, int(self.rows.index[i]), left.record))
        except KnobsError as error:
            return _Failed((error,))
        return x if self.y is None else (x, self.y[i])


class _Collate:
    """Stacks a batch's rows (those read), applies the view's transform; returns ``(X or (X, y) —
    None when no row was read —, [the rows left out], the error to raise or None)``."""

    def __init__(self, transform: Callable | None, labelled: bool) -> None:
        self.transform, self.labelled = transform, labelled

    def __call__(self, items: list):
        failed = next((item for item in items if isinstance(item, _Failed)), None)
        if failed is not None:
            return None, [], failed[0]
        left = [tuple(item) for item in items if isinstance(item, _LeftOut)]
        items = [item for item in items if not isinstance(item, _LeftOut)]
        if not items:
            return None, left, None
        xs = np.stack([item[0] for item in items] if self.labelled else items)
        if self.transform is not None:
            xs = np.asarray(self.transform(xs), dtype=np.float32)
        X = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float32))
        return ((X, torch.stack([item[1] for item in items])) if self.labelled else X), left, None


def _item(source: Any, position: int) -> Any:
    try:
        item = source[position]
    except KnobsError:  # NOTE: written for a person already (an image folder's damaged file), UnreadableRow included
        raise
    except Exception as error:  # the user's dataset: its error, named
        raise DataError(f"reading item {position} of the streamed {type(source).__name__} failed: "
                        f"{type(error).__name__}: {error}") from None
    if isinstance(item, UnreadableItem):  # a source's answer for an item its policy leaves out
        raise UnreadableRow(item.message, {k: v for k, v in item.record.items() if k != "position"})
    if not (isinstance(item, (tuple, list)) and len(item) >= 1):
        raise DataError(f"a streamed {type(source).__name__}'s items must be (x, y) pairs; item {position} is "
                        f"a {type(item).__name__}")
    return item


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"a streamed item's x must be numeric (a tensor or array); got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)
