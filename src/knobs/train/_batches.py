"""The user's data as device minibatches: in-memory tensors by index permutation, or a DataLoader.

Why not a DataLoader for tensors: for data that fits in memory, moving it to the device once and
slicing a seeded random permutation there costs one ``randperm`` per epoch and one gather per step,
where a DataLoader adds collation and host-to-device copies to every step. The permutation comes
from a ``torch.Generator`` whose state is checkpointed, so a resumed run sees the same order.

The forms a batch (or in-memory data) may take, read by ``unpack`` into (inputs, targets,
sample weights or None):

- ``(x, y)`` and ``(x, y, w)``: ``w`` holds one non-negative weight per example;
- ``((x1, x2, ...), y[, w])``: several inputs, the model is called as ``model(x1, x2, ...)``;
- a mapping ``{"x": ..., "y": ..., "weight": ...}`` (``weight`` optional); ``BatchKeys`` names
  other keys, and a tuple of keys for ``x`` gives several inputs (``{"x": ("ids", "mask")}``).

Batches are yielded as ``(xb, yb)`` or, when they carry weights, ``(xb, yb, wb)``.

Example:
    >>> X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> batches = TensorBatches(X, y, batch_size=4, generator=torch.Generator().manual_seed(0))
    >>> [len(yb) for xb, yb in batches]
    [4, 4, 2]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from knobs.errors import ConfigError, DataError
from knobs.train._losses import IGNORE_INDEX, dense_targets, one_channel, single_logit

__all__ = ["TensorBatches", "LoaderBatches", "BoundedBatches", "BatchKeys", "as_tensors", "batch_bounds", "make_batches",
           "check_outputs", "check_position_outputs", "materialize_lazy", "class_targets", "dataset_loader", "named_logits", "label_classes", "multilabel_targets",
           "check_weights", "unpack", "inputs_of", "to_device", "forward"]


@dataclass(frozen=True)
class BatchKeys:
    """The keys of mapping batches: ``x`` (a key, or a tuple of keys for several inputs), ``y``
    and ``weight`` (optional in each batch)."""

    x: str | tuple[str, ...] = "x"
    y: str = "y"
    weight: str = "weight"

    @classmethod
    def of(cls, keys: Any) -> "BatchKeys":
        """``None``, a ``BatchKeys`` or a mapping such as ``{"x": "image", "y": "label"}``."""
        if keys is None:
            return cls()
        if isinstance(keys, cls):
            return keys
        if isinstance(keys, Mapping) and set(keys) <= {"x", "y", "weight"}:
            x = keys.get("x", "x")
            return cls(tuple(x) if isinstance(x, (list, tuple)) else x, keys.get("y", "y"),
                       keys.get("weight", "weight"))
        raise ConfigError(f"batch_keys: expected a mapping with keys among 'x', 'y', 'weight' (e.g. "
                          f"{{'x': 'image', 'y': 'label'}}), got {keys!r}")


def _forms(name: str, keys: BatchKeys) -> str:
    return (f"(x, y), (x, y, sample_weight), ((x1, x2, ...), y) or a mapping with keys {keys.x!r} and "
            f"{keys.y!r} (optional {keys.weight!r}; Trainer(batch_keys=...) names others)")


def _describe(batch: Any) -> str:
    if isinstance(batch, Mapping):
        return f"a {type(batch).__name__} with keys {sorted(map(str, batch))}"
    if isinstance(batch, (tuple, list)):
        return f"a {type(batch).__name__} of {len(batch)} items ({', '.join(type(b).__name__ for b in batch)})"
    if isinstance(batch, torch.Tensor):
        return f"a single tensor of shape {tuple(batch.shape)} (no targets)"
    return f"a {type(batch).__name__}"


#: The names datasets give their targets (Hugging Face's ``labels``, torchvision's ``target``), tried in this order.
TARGET_NAMES = ("labels", "label", "targets", "target", "y")


def _named_keys(batch: Mapping, keys: BatchKeys) -> tuple[Any, list[Any]]:
    """``(target key, input keys)`` of a dict batch with default keys, its target named as datasets name them
    (``TARGET_NAMES``) and its inputs the rest but a weight; ``(None, [])`` under configured keys or without a target."""
    target = next((k for k in TARGET_NAMES if k in batch), None) if keys == BatchKeys() else None
    return (target, []) if target is None else (target, [k for k in batch if k not in (target, keys.weight,
                                                                                      "sample_weight")])


def _one_input_and_target(batch: Mapping, keys: BatchKeys) -> tuple[Any, Any] | None:
    """``(input key, target key)`` of a dict batch with default keys that holds one input and a target named as
    datasets name them (``{"image": ..., "label": ...}``); None otherwise — several inputs are not guessed: their
    order is the model's signature's, which a dict's order need not follow."""
    target, inputs = _named_keys(batch, keys)
    return (inputs[0], target) if len(inputs) == 1 else None


def _keys_hint(batch: Mapping, keys: BatchKeys) -> str:
    """``; for these batches: Trainer(batch_keys={...})`` when the batch's keys tell which are targets and which
    inputs (``_named_keys``); "" when they do not."""
    target, inputs = _named_keys(batch, keys)
    if not inputs:
        return ""
    x = repr(inputs[0]) if len(inputs) == 1 else f"({', '.join(map(repr, inputs))})"
    weight = ", 'weight': 'sample_weight'" if "sample_weight" in batch else ""
    return f"; for these batches: Trainer(batch_keys={{'x': {x}, 'y': {target!r}{weight}}})"


def unpack(batch: Any, name: str, keys: BatchKeys = BatchKeys()) -> tuple[Any, Any, Any]:
    """``(inputs, targets, weights or None)`` of one batch in any of the module's forms.

    Raises:
        DataError: naming what the batch is and the forms it may take.
    """
    if isinstance(batch, Mapping):
        x_keys = keys.x if isinstance(keys.x, tuple) else (keys.x,)
        missing = [k for k in (*x_keys, keys.y) if k not in batch]
        if missing and (named := _one_input_and_target(batch, keys)) is not None:
            return batch[named[0]], batch[named[1]], batch.get(keys.weight, batch.get("sample_weight"))
        if missing:
            raise DataError(f"{name}: a batch is {_describe(batch)}, missing {', '.join(map(repr, missing))}; "
                            f"expected {_forms(name, keys)}{_keys_hint(batch, keys)}")
        x = tuple(batch[k] for k in x_keys) if isinstance(keys.x, tuple) else batch[keys.x]
        return x, batch[keys.y], batch.get(keys.weight)
    if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        x = tuple(batch[0]) if isinstance(batch[0], (tuple, list)) else batch[0]
        return x, batch[1], batch[2] if len(batch) == 3 else None
    raise DataError(f"{name}: a batch is {_describe(batch)}; expected {_forms(name, keys)}")


def inputs_of(batch: Any, keys: BatchKeys = BatchKeys()) -> Any:
    """The model inputs of a batch for prediction: a tensor alone, or the inputs of ``unpack``."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return batch
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        return batch[0]
    return unpack(batch, "data", keys)[0]


def to_device(x: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """A tensor, or a tuple of tensors, on ``device``."""
    if isinstance(x, tuple):
        return tuple(t.to(device, non_blocking=non_blocking) for t in x)
    return x.to(device, non_blocking=non_blocking)


def input_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype ``model`` reads one input tensor in: int64 ids for a model with an embedding table
    (``nn.Embedding`` / ``nn.EmbeddingBag``), else its first floating parameter's (float32 without one)."""
    if any(isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag)) for m in model.modules()):
        return torch.long
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def cast_inputs(x: Any, dtype: torch.dtype) -> Any:
    """One input tensor in the dtype its model reads (``input_dtype``): for an embedding model integer inputs as
    int64 ids (float ones stay floats, float64 made float32: a model may embed positions and read float features),
    for any other model every input in its float dtype (float32; float64 for a model made ``.double()``).

    NOTE: in-memory inputs were all made float32, so a user's own embedding model could not train on its id
    tensor, a float64 model failed with a dtype mismatch named as a shape error, and ``predict`` kept integers,
    so an MLP could not predict from integer features. Anything but one tensor (several inputs) is the model's
    own business and passes as it is."""
    if type(x) is not torch.Tensor:
        return x
    if dtype == torch.long:
        if x.is_floating_point():
            return x.float() if x.dtype == torch.float64 else x
        return x if x.dtype == torch.long else x.long()
    return x if x.dtype == dtype else x.to(dtype)


class RawPixelsWarning(UserWarning):
    """Integer images (0-255 pixels) reached a float model: cast, they train unscaled."""


def warn_raw_pixels(x: Any, dtype: torch.dtype, name: str) -> None:
    """Warn once that integer image batches ``(N, C, H, W)`` reach a float model as 0-255 floats.

    NOTE: ``cast_inputs`` makes them floats (they crashed on the dtype before), and unscaled inputs are the practice
    cycle's classic way to train badly: a network's first layer sees values a hundred times its init's scale."""
    if type(x) is torch.Tensor and x.ndim == 4 and not x.is_floating_point() and dtype.is_floating_point:
        warnings.warn(RawPixelsWarning(
            f"{name}: {x.dtype} images reach the model as floats in 0..{int(x.max())}; scale them first (x.float() / "
            f"255, as torchvision's ToTensor does) and standardize with the training set's mean and std"), stacklevel=3)


def forward(model: torch.nn.Module, x: Any) -> Any:
    """``model(x)``, or ``model(x1, x2, ...)`` for several inputs."""
    return model(*x) if type(x) is tuple else model(x)


def named_logits(out: Any) -> torch.Tensor | None:
    """The tensor a model's output names ``logits`` — a dict's ``"logits"``, an output object's ``.logits``, as
    Hugging Face's models return them — or None."""
    logits = out.get("logits") if isinstance(out, Mapping) else getattr(out, "logits", None)
    return logits if isinstance(logits, torch.Tensor) else None


def model_output(out: Any, where: str) -> torch.Tensor:
    """``out`` when it is a tensor, the tensor it names ``logits`` (``named_logits``); else one DataError naming
    what the model returned and the fix.

    NOTE: validation, metrics and predictions read one tensor of outputs (logits for classification);
    a model returning a tuple, a dict or an output object (``.logits``) failed deep in the loss with an
    AttributeError. Outputs that name their logits (a Hugging Face model's) are read by that name; in training a
    custom ``loss`` may take any outputs (an auxiliary head's)."""
    if isinstance(out, torch.Tensor):
        return out
    if (logits := named_logits(out)) is not None:
        return logits
    if isinstance(out, Mapping):
        got, pick = f"a {type(out).__name__} with keys {list(out)[:6]}", f"model(x)[{next(iter(out), 'key')!r}]"
    elif isinstance(out, (tuple, list)):
        shapes = ", ".join(f"shape {tuple(o.shape)}" if isinstance(o, torch.Tensor) else type(o).__name__ for o in out[:4])
        got, pick = f"a {type(out).__name__} of {len(out)} items ({shapes})", "model(x)[0]"
    else:
        attrs = [a for a in ("logits", "last_hidden_state") if isinstance(getattr(out, a, None), torch.Tensor)]
        got, pick = f"an object of type {type(out).__name__}", f"model(x).{attrs[0]}" if attrs else "the tensor in it"
    raise DataError(f"{where}: the model returned {got}, and knobs reads one tensor of outputs (logits for "
                    f"classification); return that tensor alone from forward, or wrap the model in a module whose "
                    f"forward returns {pick}")


def check_weights(w: Any, n: int, name: str) -> torch.Tensor:
    w = torch.as_tensor(np.asarray(w)) if not isinstance(w, torch.Tensor) else w
    w = w.reshape(-1) if w.ndim == 2 and w.shape[1] == 1 else w
    if w.ndim != 1 or len(w) != n:
        raise DataError(f"{name}: sample weights must be one number per example ({n}), got shape {tuple(w.shape)}")
    w = w.float()
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or not bool((w > 0).any()):
        raise DataError(f"{name}: sample weights must be finite, >= 0 and not all 0")
    return w


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each minibatch; a trailing batch of one example joins the previous one.

    NOTE: a batch of one breaks batch norm in training mode (variance of a single value), and
    dropping the example would make an epoch skip data, so it rides along with its neighbour.
    """
    bounds = [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def as_tensors(data: Any, name: str, task: str, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check an ``(X, y)`` pair and return inputs and task-typed targets: the inputs in the model's ``dtype``
    (``input_dtype``, cast from what they are: token ids never pass through float32, which rounds past 2**24, nor
    float64 inputs on their way to a float64 model; integer images warn, ``warn_raw_pixels``), float32 without one.

    Raises:
        DataError: not a pair, empty, first dimensions differ, non-finite inputs, labels that are
            not integer class indices, or negative labels.
    """
    if isinstance(data, Mapping) or not isinstance(data, (tuple, list)) or len(data) != 2:
        raise DataError(f"{name}: expected (X, y) tensors or arrays, got {type(data).__name__}")
    X, y = input_tensor(data[0], name), label_tensor(data[1], name)
    if X.ndim == 0 or y.ndim == 0 or len(X) == 0:
        raise DataError(f"{name}: X and y must hold at least one example; got shapes {tuple(X.shape)} and {tuple(y.shape)}")
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{name}: X has shape {tuple(X.shape)} but y has shape {tuple(y.shape)}; "
            f"their first dimensions (the number of examples) must match"
        )
    if dtype is None:
        X = X if X.is_floating_point() and X.dtype != torch.float64 else X.float()
    else:
        warn_raw_pixels(X, dtype, name)
        X = cast_inputs(X, dtype)
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise DataError(f"{name}: X contains NaN or infinite values; impute or drop them first")
    return X, _targets(y, name, task)


def _targets(y: torch.Tensor, name: str, task: str) -> torch.Tensor:
    if task == "regression":
        y = y.float()
        return y.unsqueeze(1) if y.ndim == 1 else y
    if task == "multilabel":
        return multilabel_targets(y, name)
    return class_targets(y, name)


def multilabel_targets(y: torch.Tensor, name: str) -> torch.Tensor:
    """Multi-label targets ``(n, K)`` as float: 1 where a row has the label, else 0 (a ``(n,)`` column is one label);
    in training also probabilities in [0, 1] (label smoothing done in the data).

    Raises:
        DataError: more than two axes, non-finite values or values outside [0, 1], or probabilities outside training
            (validation, metrics and predictions compare 0 / 1 labels)."""
    if y.ndim == 1:
        y = y.unsqueeze(1)
    if y.ndim != 2 or y.is_complex():
        hint = " (a class per row is task='classification')" if y.ndim == 1 else ""
        raise DataError(f"{name}: multi-label targets must be one row of 0 / 1 per example, shape (n, labels); got "
                        f"shape {tuple(y.shape)}{hint}")
    p = y.double()
    if not bool((torch.isfinite(p) & (p >= 0) & (p <= 1)).all()):
        raise DataError(f"{name}: multi-label targets must be 0 or 1 (a row's labels as a 0 / 1 indicator, e.g. "
                        f"sklearn's MultiLabelBinarizer), found values from {float(p.min()):g} to {float(p.max()):g}")
    if name != "train" and not bool(((p == 0) | (p == 1)).all()):
        raise DataError(f"{name}: label probabilities are for training data only; give {name} 0 / 1 labels")
    return y.float()


def class_targets(y: torch.Tensor, name: str) -> torch.Tensor:
    """Classification targets as the loss takes them: class indices ``(n,)`` as int64, class probabilities
    ``(n, C)`` as float for training, or a class per position as int64 (``dense_targets``: ``(n, T)`` token tags,
    ``(n, H, W)`` pixel classes, ``IGNORE_INDEX`` = -100 where a position has none).

    NOTE: a label column ``(n, 1)`` (Keras' habit) is the indices it holds, and one-hot rows are their indices
    (lossless): both failed deep in the loss from a DataLoader ("multi-target not supported"). Other rows of
    non-negative numbers summing to 1 are soft labels (a mixup of the user's own, label smoothing done in the
    data), which cross-entropy takes, in training only: validation, metrics and predictions compare with a
    class. A float label with a fraction was cut to its integer part from a DataLoader; now it is refused.
    Per-position labels (a tagger's, a segmentation's) were refused as "1-D class indices" though
    ``nn.CrossEntropyLoss`` takes them: integer rows that are not one-hot are such labels, as are labels of three
    or more axes (a mask ``(n, 1, H, W)`` is read as ``(n, H, W)``)."""
    if y.ndim >= 2 and y.shape[1] == 1:
        y = y.reshape(-1) if y.ndim == 2 else y.squeeze(1)
    if y.is_complex():
        raise DataError(f"{name}: classification labels must be integer class indices, got {y.dtype} values")
    if y.ndim == 2 and y.shape[1] > 1:
        p = y.double()
        zero_one = bool(((p == 0) | (p == 1)).all())
        one_per_row = bool(torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-3))
        if not y.is_floating_point() and not (zero_one and one_per_row):
            return _position_targets(y, name)
        if not bool(((p >= 0) & torch.isfinite(p)).all()) or not one_per_row:
            several = (" (rows of 0 / 1 with several 1s are multi-label targets: Trainer(task='multilabel'))"
                       if zero_one else "")
            raise DataError(f"{name}: classification labels of shape {tuple(y.shape)} must be class indices (n,), or one "
                            f"row of class probabilities per example (non-negative, summing to 1), or integer classes "
                            f"per position (n, T){several}")
        if zero_one:
            return y.argmax(1)  # one-hot rows: their indices
        if name != "train":
            raise DataError(f"{name}: class probabilities (soft labels) are for training data only; give {name} class "
                            f"indices (e.g. y.argmax(1))")
        return y.float()
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise DataError(f"{name}: classification labels must be integer class indices, got {y.dtype} values")
    if y.ndim >= 3:
        return _position_targets(y, name)
    y = y.long()
    if len(y) and int(y.min()) < 0:
        raise DataError(f"{name}: labels must be >= 0, found {int(y.min())}")
    return y


def input_tensor(X: Any, name: str) -> torch.Tensor:
    """Inputs as a tensor (an array, nested lists).

    Raises:
        DataError: text (strings), which a model reads as token ids, naming where those come from (torch said
            "can't convert np.ndarray of type numpy.str_")."""
    if isinstance(X, torch.Tensor):
        return X
    values = np.asarray(X)
    if _strings(values):
        raise DataError(f"{name}: X holds text ({str(values.flat[0])[:30]!r}, ...); a model reads token ids: encode "
                        f"the texts first — knobs run's text data does it (data.text_column), or a tokenizer's "
                        f"input_ids with Trainer(batch_keys=...)")
    return torch.as_tensor(values)


def _strings(values: np.ndarray) -> bool:
    """Whether an array holds text (NumPy strings, or Python strings in an object array)."""
    return values.dtype.kind in "US" or (values.dtype.kind == "O" and values.size > 0 and isinstance(values.flat[0], str))


def label_tensor(y: Any, name: str) -> torch.Tensor:
    """Targets as a tensor (an array, a list, a DataLoader's collated Python numbers).

    Raises:
        DataError: class names (strings), which a model cannot be trained against: they name the encoding to use.
            (``torch.as_tensor`` said "can't convert np.ndarray of type numpy.str_", a loader's tuple of names
            "'tuple' object has no attribute 'ndim'".)"""
    if isinstance(y, torch.Tensor):
        return y
    values = np.asarray(y)
    if _strings(values):
        shown = ", ".join(repr(v) for v in list(dict.fromkeys(values.reshape(-1).tolist()))[:3])
        raise DataError(f"{name}: the labels are names ({shown}, ...), not class indices; encode them first — classes, "
                        f"y = np.unique(labels, return_inverse=True), or a Dataset that returns each item's class "
                        f"index (its classes list giving the names back)")
    return torch.as_tensor(values)


def label_classes(y: Any, name: str) -> np.ndarray:
    """Every labelled row's (or position's) class as one 1-D int64 array, read as ``class_targets`` reads labels:
    a label column or one-hot rows as their indices, per-position labels flattened without ``IGNORE_INDEX`` — what
    class counts and class weights count.

    Raises:
        DataError: labels ``class_targets`` refuses, or class probabilities (soft labels: no class to count)."""
    labels = y.detach().cpu() if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    targets = class_targets(labels, name)
    if targets.is_floating_point():
        raise DataError(f"{name}: rows of class probabilities (soft labels) have no class to count; count the "
                        f"classes of hard labels")
    return (targets[targets != IGNORE_INDEX] if dense_targets(targets) else targets).numpy()


def _position_targets(y: torch.Tensor, name: str) -> torch.Tensor:
    """Per-position classes as int64: each >= 0, or ``IGNORE_INDEX`` for a position without one."""
    y = y.long()
    bad = (y < 0) & (y != IGNORE_INDEX)
    if bool(bad.any()):
        raise DataError(f"{name}: per-position labels must be classes >= 0, or {IGNORE_INDEX} where a position has "
                        f"none (padding, a void pixel); found {int(y[bad][0])}")
    return y


class TensorBatches:
    """Minibatches of device tensors in a random order drawn from ``generator``; with sample
    weights ``w`` each batch is ``(xb, yb, wb)``."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int,
                 generator: torch.Generator | None = None, shuffle: bool = True,
                 w: torch.Tensor | None = None) -> None:
        self.X, self.y, self.w, self.generator, self.shuffle = X, y, w, generator, shuffle
        self.bounds = batch_bounds(len(X), batch_size)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        X, y, w = self.X, self.y, self.w
        if not self.shuffle:
            for a, b in self.bounds:
                yield (X[a:b], y[a:b]) if w is None else (X[a:b], y[a:b], w[a:b])
            return
        perm = torch.randperm(len(X), generator=self.generator, device=X.device)
        for a, b in self.bounds:
            idx = perm[a:b]
            yield (X[idx], y[idx]) if w is None else (X[idx], y[idx], w[idx])


class BoundedBatches(torch.utils.data.Sampler):
    """A batch sampler of the batches ``TensorBatches`` makes: the same ``batch_bounds`` (no batch
    of one) over a permutation drawn from ``generator`` — for data read through a DataLoader."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None = None, shuffle: bool = True) -> None:
        self.n, self.generator, self.shuffle = n, generator, shuffle
        self.bounds = batch_bounds(n, batch_size)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            device = self.generator.device if self.generator is not None else "cpu"
            order = torch.randperm(self.n, generator=self.generator, device=device).cpu().tolist()
        else:
            order = list(range(self.n))
        for a, b in self.bounds:
            yield order[a:b]


class LoaderBatches:
    """A DataLoader's batches (any form of ``unpack``) moved to ``device``; its own sampler
    decides the order. A batch of no rows is passed over.

    NOTE: a batch whose every item was unreadable comes out of ``knobs.data.skip_unreadable`` with
    0 rows; a model may not take it (``x.view(len(x), -1)`` cannot), its mean loss is NaN (which
    would read as divergence), and counted it would be a step that trained nothing. So training,
    validation and ``Trainer.evaluate`` never see it: no step, no loss, no rows in any average.
    ``len`` stays the DataLoader's (an upper bound then; the LR schedule's clock allows for it)."""

    def __init__(self, loader: Any, device: torch.device, task: str, name: str = "train",
                 keys: BatchKeys = BatchKeys(), dtype: torch.dtype | None = None) -> None:
        self.loader, self.device, self.task, self.name, self.keys = loader, device, task, name, keys
        self.dtype = dtype  # the model's input dtype (``input_dtype``); None: batches as the loader gives them
        self._looked = False  # the first batch's inputs checked for raw pixels (``warn_raw_pixels``)
        # NOTE: the order's random stream, checkpointed for a resume: the loader's own, or that of knobs' batch sampler
        # (a Dataset or a streamed split read in ``BoundedBatches``), whose resumed fit drew another order
        self.generator = getattr(loader, "generator", None) or getattr(getattr(loader, "batch_sampler", None),
                                                                       "generator", None)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        blocking = self.device.type == "cpu"
        device, regression = self.device, self.task == "regression"
        for batch in self.loader:
            X, y, w = unpack(batch, self.name, self.keys)
            if len(y) == 0:
                continue
            y = label_tensor(y, self.name)
            y = y.float().reshape(len(y), -1) if regression else _targets(y, self.name, self.task)
            if self.dtype is not None:
                if not self._looked:
                    self._looked = True
                    warn_raw_pixels(X, self.dtype, self.name)
                X = cast_inputs(X, self.dtype)
            X, y = to_device(X, device, not blocking), y.to(device, non_blocking=not blocking)
            if w is None:
                yield X, y
            else:
                yield X, y, check_weights(w, len(y), self.name).to(device, non_blocking=not blocking)


#: Rows read from a DataLoader by what works on data in memory (diagnose's checks, ``lr_find``), in the
#: loader's own order: a shuffled loader gives a random sample.
MAX_LOADER_ROWS = 10_000


def loader_rows(loader: Any, who: str, keys: BatchKeys = BatchKeys()) -> tuple:
    """``(X, y)`` or ``(X, y, w)``: the loader's batches concatenated, up to ``MAX_LOADER_ROWS`` rows; a batch
    of no rows (every item unreadable, ``knobs.data.skip_unreadable``) passed over as the Trainer does.

    Raises:
        DataError: led by ``who`` (e.g. "diagnose: train"): batches of several inputs, or no rows at all.
    """
    parts: list[tuple] = []
    rows = 0
    for batch in loader:
        X, y, w = unpack(batch, f"{who} DataLoader", keys)
        if isinstance(X, tuple):
            raise DataError(f"{who} DataLoader gives {len(X)} inputs per batch ((x1, x2, ...), y); this reads "
                            f"models of one input")
        if len(y) == 0:
            continue
        parts.append((torch.as_tensor(X), torch.as_tensor(y), None if w is None else torch.as_tensor(w)))
        rows += len(parts[-1][1])
        if rows >= MAX_LOADER_ROWS:
            break
    if not parts:
        raise DataError(f"{who} DataLoader gave no batches with rows; give it a dataset with rows (and "
                        f"drop_last=False when it holds fewer rows than one batch; its dataset's `unreadable` lists "
                        f"the items left out as unreadable)")
    X, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    weights = [p[2] for p in parts]
    if all(w is not None for w in weights):
        return X[:MAX_LOADER_ROWS], y[:MAX_LOADER_ROWS], torch.cat(weights)[:MAX_LOADER_ROWS]
    return X[:MAX_LOADER_ROWS], y[:MAX_LOADER_ROWS]


def epoch_batches(batches: Any) -> int | None:
    """The batches an epoch of ``batches`` yields (``len``), or None for a DataLoader whose dataset has
    no length (an ``IterableDataset`` stream without ``__len__``: torch's ``len`` raises TypeError)."""
    try:
        return len(batches)
    except TypeError:
        return None


def dataset_loader(dataset: torch.utils.data.Dataset, batch_size: int, generator: torch.Generator | None = None,
                   shuffle: bool = False) -> torch.utils.data.DataLoader:
    """A torch ``Dataset`` given where a DataLoader goes, read in batches of ``batch_size``: a map-style one in the
    order ``TensorBatches`` draws (``BoundedBatches``: seeded by ``generator``, checkpointed with the trainer, no batch
    of one), an ``IterableDataset`` in its own order.

    NOTE: a ``TensorDataset``, a ``random_split`` ``Subset`` or a user's own ``Dataset`` was refused ("expected (X,
    y) ... or a DataLoader"); Hugging Face's Trainer and Keras take datasets as they are."""
    if isinstance(dataset, torch.utils.data.IterableDataset):
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    return torch.utils.data.DataLoader(dataset, batch_sampler=BoundedBatches(len(dataset), batch_size, generator,
                                                                             shuffle))


def make_batches(data: Any, name: str, *, task: str, device: torch.device, batch_size: int,
                 generator: torch.Generator | None, shuffle: bool, keys: BatchKeys = BatchKeys(),
                 dtype: torch.dtype | None = None):
    """``TensorBatches`` for in-memory ``(X, y)``, ``(X, y, w)`` or ``{"x": X, "y": y}`` (moved to
    ``device`` once), ``LoaderBatches`` for a DataLoader or a torch ``Dataset`` (``dataset_loader``).

    Raises:
        DataError: see ``as_tensors``; several inputs in memory (``((X1, X2), y)``) need a DataLoader.
    """
    if isinstance(data, torch.utils.data.DataLoader):
        return LoaderBatches(data, device, task, name, keys, dtype)
    if callable(getattr(data, "as_loader", None)):  # rows read on access (knobs.data.StreamedPair)
        order = BoundedBatches(len(data[1]), batch_size, generator, shuffle)
        return LoaderBatches(data.as_loader(order), device, task, name, keys, dtype)
    if isinstance(data, torch.utils.data.Dataset):
        return LoaderBatches(dataset_loader(data, batch_size, generator, shuffle), device, task, name, keys, dtype)
    if isinstance(data, Mapping):
        X, y, w = unpack(data, name, keys)
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        X, y, w = data[0], data[1], data[2] if len(data) == 3 else None
    else:
        raise DataError(f"{name}: expected (X, y) or (X, y, sample_weight) tensors or arrays, a mapping "
                        f"{{{keys.x!r}: X, {keys.y!r}: y}}, or a DataLoader; got {_describe(data)}")
    if isinstance(X, tuple) and X and all(isinstance(t, torch.Tensor) for t in X):
        raise DataError(f"{name}: several inputs ((X1, X2, ...), y) are read from a DataLoader; wrap them in "
                        f"torch.utils.data.DataLoader(TensorDataset(X1, X2, y)) with a collate_fn, or a "
                        f"Dataset returning ((x1, x2), y)")
    X, y = as_tensors((X, y), name, task, dtype)
    w = None if w is None else check_weights(w, len(y), name).to(device)
    return TensorBatches(X.to(device), y.to(device), batch_size, generator, shuffle, w)


def check_outputs(model: torch.nn.Module, train: Any, val: Any, task: str) -> None:
    """One tiny forward pass in eval mode: the model takes X, and its outputs fit the targets.

    Only in-memory tensors are checked (a DataLoader is not read ahead of training).

    Raises:
        DataError: X of another shape than the model takes, train/val example shapes differ, or
            labels beyond the model's outputs.
    """
    if not isinstance(train, TensorBatches):
        return
    X, y = train.X, train.y
    tensors_val = val if isinstance(val, TensorBatches) else None
    if tensors_val is not None and tensors_val.X.shape[1:] != X.shape[1:]:
        raise DataError(f"val: X has example shape {tuple(tensors_val.X.shape[1:])} but train has {tuple(X.shape[1:])}")
    out = _probe(model, X[:2])
    if task == "multilabel":
        if out.shape[1:] != y.shape[1:]:
            raise DataError(f"train: the targets hold {y.shape[1]} labels per row but the model outputs shape "
                            f"{tuple(out.shape[1:])}; give it one logit per label (its last layer nn.Linear(..., "
                            f"{y.shape[1]}))")
        return
    if task == "regression":
        squeezed = (out.ndim == 1 and y.shape[1:] == (1,)) or one_channel(out, y[:len(out)])  # read as y's shape
        if out.shape[1:] != y.shape[1:] and not squeezed:
            raise DataError(f"train: the model outputs shape {tuple(out.shape[1:])} per example, y has "
                            f"{tuple(y.shape[1:])}; give it one output per target column")
        return
    if dense_targets(y):
        check_position_outputs(out, y, [t.y for t in (train, tensors_val) if t is not None and dense_targets(t.y)])
        return
    if single_logit(out):  # one logit: a binary classifier (its BCE)
        top = max(int(t.y.max()) for t in (train, tensors_val) if t is not None and t.y.ndim == 1) if y.ndim == 1 else None
        if top is None or top > 1:
            raise DataError(f"train: the model gives one output per row, a binary classifier's logit, but the labels "
                            f"{'are class probabilities' if top is None else f'go up to {top}'}; "
                            f"one logit is for labels 0 / 1 — for C classes give the model C outputs")
        return
    if y.ndim == 2:  # class probabilities: one column per output
        if out.ndim != 2 or y.shape[1] != out.shape[1]:
            raise DataError(f"train: labels hold probabilities of {y.shape[1]} classes but the model outputs shape "
                            f"{tuple(out.shape[1:])}; build it with n_classes = {y.shape[1]}")
    top = max(int(t.y.max()) if t.y.ndim == 1 else t.y.shape[1] - 1 for t in (train, tensors_val) if t is not None)
    if out.ndim >= 3 and y.ndim == 1:
        # NOTE: integer rows with one 1 each read as one-hot rows (one class per row); a tagger's binary tags of one
        # positive token per row look the same
        raise DataError(f"train: the model gives logits per position, shape {tuple(out.shape[1:])}, but the labels "
                        f"hold one class per row (integer rows with a single 1 are read as one-hot rows, the class "
                        f"where the 1 is); give the model C outputs per row, or, for 0 / 1 tags of one position in "
                        f"each row, train them as Trainer(task='multilabel') with one logit per position (n, T)")
    if out.ndim != 2 or top >= out.shape[1]:
        low = min(int(t.y.min()) for t in (train, tensors_val) if t is not None and t.y.ndim == 1) if y.ndim == 1 else 0
        counted_from_1 = (f"; the labels start at {low}: if the classes are numbered from 1, subtract 1 (labels 0..C-1)"
                          if out.ndim == 2 and low >= 1 and top == out.shape[1] else "")
        raise DataError(
            f"train: labels go up to {top} but the model outputs shape {tuple(out.shape[1:])}; "
            f"build it with n_classes >= {top + 1}{counted_from_1}"
        )


def check_position_outputs(out: torch.Tensor, y: torch.Tensor, labels: list[torch.Tensor]) -> None:
    """A class per position needs the model's logits per position on axis 1 — ``(n, C, T)``, ``(n, C, H, W)`` —
    C above every label (one logit: labels 0 / 1); ``labels``: every split's per-position labels.

    Raises:
        DataError: naming the shapes and the fix (``movedim(-1, 1)`` for classes on the last axis)."""
    per = tuple(y.shape[1:])
    top = max((int(t[t != IGNORE_INDEX].max()) for t in labels if bool((t != IGNORE_INDEX).any())), default=0)
    if out.ndim == y.ndim + 1 and tuple(out.shape[2:]) == per:
        if out.shape[1] == 1 and top > 1:
            raise DataError(f"train: the model gives one logit per position, a binary one, but the labels go up to "
                            f"{top}; give it C = {top + 1} logits per position")
        if out.shape[1] > 1 and top >= out.shape[1]:
            raise DataError(f"train: labels go up to {top} but the model gives {out.shape[1]} logits per position; "
                            f"build it with n_classes >= {top + 1}")
        return
    hint = ""
    if out.ndim == y.ndim + 1 and tuple(out.shape[1:-1]) == per:
        hint = ("; its classes are on the last axis: return out.movedim(-1, 1) from forward (the cross-entropy reads "
                "the classes on axis 1)")
    elif out.ndim == 2 and y.ndim == 2 and out.shape[1] == y.shape[1]:
        hint = ("; if each row holds several classes at once (multi-label targets of 0 / 1), train them with "
                "Trainer(task='multilabel')")
    raise DataError(f"train: the labels hold a class per position, shape {per} per example, but the model outputs "
                    f"shape {tuple(out.shape[1:])}; give it C logits per position, shape (C, "
                    f"{', '.join(map(str, per))}){hint}")


def materialize_lazy(model: torch.nn.Module, data: Any) -> None:
    """Give a model with lazy modules (``nn.LazyLinear``, ``nn.LazyConv2d``) its parameters' shapes: one forward pass
    in eval mode, without gradients, on two rows of the training data — ``data`` the Trainer's batches (a loader's
    first batch) or the inputs themselves — before anything reads its parameters (an optimizer, a copy in float64).

    NOTE: such a model failed before its first step with torch's "Attempted to use an uninitialized parameter"."""
    if not any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in model.parameters()):
        return
    if isinstance(data, TensorBatches):
        xb = data.X[:2]
    elif isinstance(data, LoaderBatches):
        xb = next(iter(data))[0]
    else:
        xb = cast_inputs(data[:2], input_dtype(model))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            forward(model, xb)
    finally:
        model.train(training)


def _probe(model: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model_output(model(X), "train")
    except RuntimeError as err:
        raise DataError(f"train: the model cannot take inputs of shape {tuple(X.shape[1:])}: {err}") from None
    finally:
        model.train(was_training)
