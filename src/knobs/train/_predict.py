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
from knobs.train._batches import BatchKeys, forward, inputs_of, to_device
from knobs.train._device import resolve_precision

__all__ = ["predict", "device_of"]


def device_of(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without any)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def predict(model: nn.Module, data: Any, *, batch_size: int, precision: Any = None,
            keys: BatchKeys = BatchKeys()) -> torch.Tensor:
    """The model's outputs for every row of ``data`` as one CPU tensor, in row order.

    ``data``: inputs ``X`` (tensor or array), a batch form the trainer reads (targets and weights
    ignored), ``((X1, X2),)`` for several inputs, or a DataLoader (a batch of no rows — every item
    unreadable, left out by ``knobs.data.skip_unreadable`` — is passed over, as in training). Eval
    mode, no gradients, batches of ``batch_size`` on the model's device; the model's mode is restored.

    Raises:
        DataError: ``data`` gave no row at all.
    """
    device = device_of(model)
    precision = precision or resolve_precision("fp32", device)
    outs, was_training = [], model.training
    model.eval()
    try:
        with torch.no_grad():
            for xb in _input_batches(data, batch_size, keys):
                with precision.autocast():
                    outs.append(forward(model, to_device(xb, device)).float().cpu())
    finally:
        model.train(was_training)
    if not outs:
        raise DataError("data: no rows to predict (a DataLoader with no batches, or whose every item was unreadable: "
                        "see its dataset's `unreadable`)")
    return torch.cat(outs)


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
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    return x.float() if x.dtype == torch.float64 else x
