"""Outputs of a trained model for new rows: ``Trainer.predict``'s loop.

Why its own loop and not ``model(X)``: a whole data set in one forward pass can exhaust the
device's memory, gradients would be recorded for nothing, dropout and batch norm must be in eval
mode, and the inputs must reach the model's device — four things a caller forgets one at a time.
The outputs come back on the CPU, in row order, so they can be compared, stored or combined
(``knobs.ensemble``) without holding the device.

Example:
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> predict(net, torch.randn(10, 3), batch_size=4).shape
    torch.Size([10, 2])
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from knobs.errors import DataError
from knobs.train._batches import (BatchKeys, cast_inputs, dataset_loader, forward, input_dtype, input_tensor,
                                  inputs_of, model_output, to_device)
from knobs.train._device import resolve_precision

__all__ = ["predict", "device_of", "aligned_rows"]


def device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def predict(model: nn.Module, data: Any, *, batch_size: int, precision: Any = None,
            keys: BatchKeys = BatchKeys()) -> torch.Tensor:
    """The model's outputs for every row of ``data`` as one CPU tensor, in row order.

    ``data``: inputs ``X`` (tensor or array), a batch form the trainer reads (targets and weights
    ignored), ``((X1, X2),)`` for several inputs, a DataLoader or a torch ``Dataset``. Eval mode, no gradients, batches
    of ``batch_size`` on the model's device; the model's mode is restored.

    A DataLoader's items left out of their batch as unreadable (``knobs.data.skip_unreadable``,
    listed in its dataset's ``unreadable``) get a row of NaN in their place: the outputs keep one row
    per item the loader drew, in its order, so row i is still item i's (``aligned_rows``).

    Raises:
        DataError: ``data`` gave no row at all; or items were left out of a loader whose order
            cannot be matched back to them (shuffled, or a dataset that does not list them).
    """
    if isinstance(data, torch.utils.data.Dataset):  # a torch Dataset as it is: its rows in order
        data = dataset_loader(data, batch_size)
    device = device_of(model)
    precision = precision or resolve_precision("fp32", device)
    outs, was_training = [], model.training
    model.eval()
    try:
        with torch.no_grad():
            dtype = input_dtype(model)
            for xb in _input_batches(data, batch_size, keys):
                with precision.autocast():
                    outs.append(model_output(forward(model, to_device(cast_inputs(xb, dtype), device)),
                                             "predict").float().cpu())
    finally:
        model.train(was_training)
    if not outs:
        raise DataError("data: no rows to predict (a DataLoader with no batches, or whose every item was unreadable: "
                        "see its dataset's `unreadable`)")
    out = torch.cat(outs)
    return aligned_rows(data, out) if isinstance(data, torch.utils.data.DataLoader) else out


def aligned_rows(loader: torch.utils.data.DataLoader, out: torch.Tensor) -> torch.Tensor:
    """``out`` (the rows of the items read) with a NaN row at each item left out as unreadable.

    Why NaN rows and not fewer rows: a caller matches outputs to their items by position (the
    files of an ``ImageFolder``, the rows of a table); one item left out silently shifted every
    later output onto the item before it. Which items those are: the positions its dataset lists
    in ``unreadable`` (``skip_unreadable``'s records), among the positions its sampler draws —
    which only an unshuffled loader draws again in the same order.
    """
    if isinstance(loader.dataset, torch.utils.data.IterableDataset) or len(out) >= _drawn_count(loader):
        return out  # NOTE: the common case, decided without listing the positions
    drawn = _drawn_positions(loader)
    if len(out) >= len(drawn):
        return out
    left = _left_out(loader.dataset)
    kept = np.array([p not in left for p in drawn], dtype=bool) if left is not None else None
    if kept is None or not isinstance(loader.sampler, torch.utils.data.SequentialSampler) or kept.sum() != len(out):
        raise DataError(
            f"data: the loader drew {len(drawn)} items but its batches held {len(out)} rows, so the outputs cannot be "
            f"matched to the items; " + (
                "predict with an unshuffled loader (shuffle=False) to get a NaN row for each unreadable item"
                if left is not None else
                "items were left out of their batches by a dataset that does not list them (`unreadable`)"))
    aligned = torch.full((len(drawn), *out.shape[1:]), float("nan"), dtype=out.dtype)
    aligned[torch.from_numpy(kept)] = out
    return aligned


def _drawn_count(loader: torch.utils.data.DataLoader) -> float:
    """How many items a map-style loader draws (infinite when its sampler does not say)."""
    try:
        batches = loader.batch_sampler
        if batches is not None and getattr(batches, "drop_last", False):
            return len(batches) * batches.batch_size
        return len(loader.sampler)
    except TypeError:
        return float("inf")


def _drawn_positions(loader: torch.utils.data.DataLoader) -> list[int]:
    """The dataset positions a map-style loader draws, in batch order."""
    if loader.batch_sampler is not None:
        return [int(i) for batch in loader.batch_sampler for i in batch]
    return [int(i) for i in loader.sampler]


def _left_out(dataset: Any) -> set[int] | None:
    """Positions (in ``dataset``'s own numbering) of its items left out as unreadable, or None when
    the dataset does not list them (a ``Subset`` maps its source's list onto its indices)."""
    records = getattr(dataset, "unreadable", None)
    if records is not None:
        return {int(r["position"]) for r in records}
    if isinstance(dataset, torch.utils.data.Subset):
        inner = _left_out(dataset.dataset)
        return None if inner is None else {i for i, j in enumerate(dataset.indices) if int(j) in inner}
    return None


def _input_batches(data: Any, batch_size: int, keys: BatchKeys) -> Iterator[Any]:
    """Model inputs in row order: slices of in-memory inputs, or a DataLoader's batches."""
    if isinstance(data, torch.utils.data.DataLoader):
        for batch in data:
            inputs = _as_inputs(inputs_of(batch, keys))
            if len(inputs[0] if isinstance(inputs, tuple) else inputs):
                yield inputs
        return
    X = data if isinstance(data, (torch.Tensor, np.ndarray)) else inputs_of(data, keys)
    if isinstance(X, tuple):
        X = tuple(_tensor(x) for x in X)
        for a in range(0, len(X[0]), batch_size):
            yield tuple(x[a:a + batch_size] for x in X)
        return
    X = _tensor(X)
    for a in range(0, len(X), batch_size):
        yield X[a:a + batch_size]


def _as_inputs(x: Any) -> Any:
    return tuple(_tensor(t) for t in x) if isinstance(x, tuple) else _tensor(x)


def _tensor(x: Any) -> torch.Tensor:
    """A tensor; float64 arrays become float32 (what models are built in), integers stay."""
    x = input_tensor(x, "data")  # text is one message naming token ids
    return x.float() if x.dtype == torch.float64 else x
