"""Numbers the user already has — arrays, tensors, a torch ``Dataset`` — as a ``Dataset``.

Why one module for ``data.builder`` and ``data.kind = "arrays"``: both hand knobs features and
targets that need no encoding, given whole or already split into train / (val) / test. The same
rules apply to both: one target per row, labels encoded as ``load_csv`` encodes them (sorted
original values → ``0..C-1``, the classes decided by the training rows), a test label the
training rows lack refused, images recognised by their shape.

Forms accepted (``ACCEPTED`` says it in messages):

* ``(X, y)`` — numpy arrays or torch tensors, one row per sample;
* ``{"train": (X, y), "test": (X, y)}`` with an optional ``"val"`` (a tuple of two or three pairs
  means train, test or train, val, test);
* a map-style ``torch.utils.data.Dataset`` whose items are ``(x, y)`` (or such a dict/tuple of
  them). With its labels as ``targets`` (one per item, as torchvision data sets have) it is not
  read here: ``X`` is a ``StreamedRows`` view, the split is drawn from the labels alone, and the
  run reads it into memory after the split when it fits its budget, else streams it
  (``knobs.pipeline.inputs._streamed``). Without ``targets`` it is read once through a
  ``DataLoader`` into memory, refused beyond ``max_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from knobs.data._dataset import Dataset
from knobs.data._stream import StreamedRows, is_streamed, source_targets
from knobs.data._validate import validate_features
from knobs.data._target import is_label_rows
from knobs.errors import ConfigError, DataError

__all__ = ["GivenData", "ACCEPTED", "from_built", "load_arrays", "build_data", "subsample"]

Pair = tuple[np.ndarray, np.ndarray]

ACCEPTED = ("(X, y) of numpy arrays or torch tensors; {\"train\": (X, y), \"test\": (X, y)} with an optional "
            "\"val\"; a tuple of 2 or 3 such pairs (train, [val,] test); or a map-style torch Dataset of "
            "(x, y) items (or such a dict/tuple of Datasets)")
MAX_BYTES = 4 * 2**30  # a materialized torch Dataset larger than this is refused


@dataclass(frozen=True, eq=False)
class GivenData:
    """A data set and the parts its source fixed: an official ``test`` (and ``val``) pair, or None."""

    dataset: Dataset
    test: Pair | None = None
    val: Pair | None = None


def build_data(builder: Callable[[], Any], ref: str, *, task: str | None = None, max_classes: int = 20,
               max_bytes: int = MAX_BYTES, layout: str = "auto") -> GivenData:
    """Call ``builder()`` and turn what it returns into ``GivenData``.

    Raises:
        DataError: the builder raised (its error quoted), or returned something unusable (naming
            its type and the forms accepted), or parts that disagree (rows, feature shapes).
    """
    try:
        built = builder()
    except Exception as error:  # the user's code: whatever it raises is reported, not a traceback
        raise DataError(f"data.builder = {ref!r} raised {type(error).__name__}: {error}") from None
    return from_built(built, name=ref, source=f"builder:{ref}", task=task, max_classes=max_classes,
                      max_bytes=max_bytes, record={"kind": "builder", "builder": ref}, layout=layout)


def load_arrays(path: str | Path, *, target: str | None = None, task: str | None = None,
                max_classes: int = 20, layout: str = "auto") -> GivenData:
    """``.npy`` (a structured array or a dict saved with ``allow_pickle`` is refused: features only
    need a target → use ``.npz``), ``.npz`` (keys ``X``/``y``, ``x``/``y``, or ``y`` named by
    ``target``; ``X_test``/``y_test`` and ``X_val``/``y_val`` give those splits) or ``.parquet``
    (every column but ``target`` is a feature; needs pyarrow)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        built = _read_npz(path, target)
    elif suffix == ".parquet":
        built = _read_parquet(path, target or "label")
    else:
        raise ConfigError(f"data.kind = \"arrays\" reads .npz (X and y) or .parquet files; {str(path)!r} is "
                          f"neither (a .npy holds one array: save X and y together with numpy.savez)")
    return from_built(built, name=path.stem, source=str(path), task=task, max_classes=max_classes,
                      record={"kind": "arrays", "file": str(path)}, layout=layout)


#: how the rows of arrays are read: ``"auto"`` (3-D rows ``(C, H, W)`` and 2-D rows ``(H, W)`` are images, a
#: ConvNet's input), ``"image"`` (the same, said), ``"sequence"`` (2-D rows are T steps of F features)
LAYOUTS = ("auto", "image", "sequence")


def from_built(built: Any, *, name: str, source: str, task: str | None = None, max_classes: int = 20,
               max_bytes: int = MAX_BYTES, record: dict | None = None, layout: str = "auto") -> GivenData:
    """Arrays, tensors, a torch ``Dataset`` or a dict/tuple of splits → ``GivenData`` (see the module doc);
    ``layout`` says how rows of more than one axis are read (``LAYOUTS``)."""
    parts, note = _parts(built, name, max_bytes)
    train = parts["train"]
    resolved = task or _infer_task(train[1], max_classes)
    classes = (np.unique(train[1]) if resolved == "classification" else
               np.unique(train[1][train[1] != IGNORE]) if resolved == "segmentation" else None)
    encoded = {key: (X, _encode_y(y, classes, key, name, resolved)) for key, (X, y) in parts.items()}
    if resolved == "multilabel":
        classes = np.array([f"label_{k}" for k in range(train[1].shape[1])])
        _check_label_columns(encoded, name)
    if not any(is_streamed(X) for X, _ in encoded.values()):  # streamed rows: shapes known once a row is read
        _check_shapes(encoded, name)
    X, y = encoded["train"]
    image_shape = None if is_streamed(X) else (
        tuple(X.shape[1:]) if X.ndim == 4 else ((1, *X.shape[1:]) if X.ndim == 3 else None))
    sequence_shape = _sequence_shape(X, layout, name)
    if sequence_shape is not None:
        image_shape = None
    loading = {**(record or {}), "rows": sum(len(y) for _, y in parts.values()), "given": sorted(parts)}
    if note:
        loading["note"] = note
    dataset = Dataset(X=_flat(X), y=y, task=resolved, n_classes=None if classes is None else len(classes),
                      name=name, class_names=None if classes is None else [label_name(c) for c in classes],
                      image_shape=image_shape, source=source, loading=loading, sequence_shape=sequence_shape)
    given = {key: (_flat(X), y) for key, (X, y) in encoded.items() if key != "train"}
    return GivenData(dataset, test=given.get("test"), val=given.get("val"))


def _sequence_shape(X: Any, layout: str, name: str) -> tuple[int, int] | None:
    """``(T, F)`` of rows read as sequences (``layout="sequence"``), else None.

    Raises:
        ConfigError: an unknown layout; a sequence layout for rows that are not ``(T, F)`` or are read on access.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"data.layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout != "sequence":
        return None
    if is_streamed(X) or X.ndim != 3:
        shown = "rows read on access" if is_streamed(X) else f"rows of shape {tuple(X.shape[1:])}"
        raise ConfigError(f"data.layout = \"sequence\" reads each row as (time steps, features), an X of shape "
                          f"(n, T, F); {name} has {shown}")
    return int(X.shape[1]), int(X.shape[2])


def subsample(dataset: Dataset, rows: int, seed: int) -> Dataset:
    """A seeded random ``rows`` of ``dataset`` (in their original order), or it whole when smaller."""
    import dataclasses

    if rows >= len(dataset):
        return dataset
    index = np.sort(np.random.default_rng(seed).choice(len(dataset), size=rows, replace=False))
    return dataclasses.replace(dataset, X=dataset.X[index], y=dataset.y[index], row_ids=dataset.ids()[index],
                               groups=None if dataset.groups is None else dataset.groups[index],
                               loading={**dataset.loading, "rows_sampled": rows, "rows_before_sampling": len(dataset)})


# ---- the forms ------------------------------------------------------------------------------------

def _parts(built: Any, name: str, max_bytes: int) -> tuple[dict[str, Pair], str | None]:
    """``{"train": pair, ["val": pair,] ["test": pair]}`` and a note on what was materialized."""
    notes: list[str] = []
    if isinstance(built, dict):
        unknown = sorted(set(built) - {"train", "val", "test"})
        if "train" not in built or unknown:
            raise DataError(f"{name} returned a dict with keys {sorted(built)}; a dict needs \"train\" and may "
                            f"have \"val\" and \"test\". Accepted: {ACCEPTED}")
        parts = {key: _pair(value, f"{name}[{key!r}]", max_bytes, notes) for key, value in built.items()}
    elif isinstance(built, (tuple, list)) and len(built) in (2, 3) and all(_is_part(p) for p in built):
        keys = ("train", "test") if len(built) == 2 else ("train", "val", "test")
        parts = {key: _pair(value, f"{name} part {key}", max_bytes, notes) for key, value in zip(keys, built)}
    else:
        parts = {"train": _pair(built, name, max_bytes, notes)}
    return parts, "; ".join(notes) or None


def target_shape_fits(X: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``y`` is a target shape a run trains on: one class or value per row ``(n,)``, rows of labels or values
    ``(n, K)``, or integer masks ``(n, H, W)`` beside images ``(n, [C,] H, W)`` of that height and width."""
    masks = y.ndim == 3 and y.dtype.kind in "iu" and X.ndim in (3, 4) and y.shape[1:] == X.shape[-2:]
    return y.ndim == 1 or (y.ndim == 2 and y.dtype.kind in "biuf") or masks


def _is_part(value: Any) -> bool:
    """A whole split (a pair or a torch Dataset), not a single array."""
    return _is_torch_dataset(value) or (isinstance(value, (tuple, list)) and len(value) == 2)


def _pair(value: Any, what: str, max_bytes: int, notes: list[str]) -> Pair:
    targets = source_targets(value) if _is_torch_dataset(value) else None
    if targets is not None:
        if len(targets) == 0:
            raise DataError(f"{what}: the torch Dataset is empty")
        notes.append(f"{what}: a torch Dataset of {len(targets)} items, labels from its .targets, rows read on access")
        return StreamedRows(value), targets
    if _is_torch_dataset(value):
        X, y = _materialize(value, what, max_bytes)
        notes.append(f"{what}: a torch Dataset of {len(y)} items read into memory ({(X.nbytes + y.nbytes) / 2**20:.1f} MB)")
        return X, y
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise DataError(f"{what} returned {_describe(value)}; accepted: {ACCEPTED}")
    X, y = (_array(v, what, part) for v, part in zip(value, ("X", "y")))
    if X.ndim == 0 or not target_shape_fits(X, y) or len(X) != len(y):
        raise DataError(f"{what}: X has shape {X.shape} and y {y.shape}; X needs one row per sample and y one "
                        f"target per row (the same length, 1-D), or rows of 0 / 1 labels (n, labels) for a "
                        f"multi-label task, or rows of values (n, outputs) to regress together, or a class per pixel "
                        f"(n, H, W) of images (n, [C,] H, W)")
    if len(y) == 0:
        raise DataError(f"{what}: no rows (X has shape {X.shape})")
    validate_features(X, name=f"{what}: X")
    return (X.reshape(len(X), 1) if X.ndim == 1 else X), y


def _array(value: Any, what: str, part: str) -> np.ndarray:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    array = np.asarray(value) if isinstance(value, (np.ndarray, list)) else None
    if part.endswith("y") and array is not None:
        array = _class_names(array)
    if array is None or array.dtype.kind not in ("biufU" if part.endswith("y") else "biuf"):
        expected = "numbers or class names (strings)" if part.endswith("y") else "a numeric numpy array or torch tensor"
        raise DataError(f"{what}: {part} is {_describe(value)}; expected {expected}")
    return array


def _class_names(y: np.ndarray) -> np.ndarray:
    """Labels given as text (bytes, or Python strings in an object array) as a unicode array; others as they are."""
    if y.dtype.kind == "S":
        return y.astype(str)
    if y.dtype.kind == "O" and y.size and all(isinstance(v, str) for v in y.ravel()):
        return y.astype(str)
    return y


def _is_torch_dataset(value: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(value, torch.utils.data.Dataset) and hasattr(value, "__len__")


#: what a Dataset too large to read into memory can do instead, read from a data.builder
STREAM_ADVICE = ("give the Dataset a `targets` attribute (one label per item, as torchvision data sets have) so knobs "
                 "can split it without reading items and stream it, or use a subset (data.rows) or smaller items")


def _materialize(dataset: Any, what: str, max_bytes: int, advice: str = STREAM_ADVICE) -> Pair:
    """Every ``(x, y)`` item of a map-style torch Dataset, batched through a ``DataLoader`` (``advice``: what to do
    when it is over ``max_bytes``)."""
    import torch

    n = len(dataset)
    if n == 0:
        raise DataError(f"{what}: the torch Dataset is empty")
    first = dataset[0]
    if (keys := _dict_pair(first)) is not None:  # Hugging Face's item form: read by its keys
        dataset = _KeyedPairs(dataset, *keys)
        first = dataset[0]
    if not (isinstance(first, (tuple, list)) and len(first) == 2):
        raise DataError(f"{what}: a torch Dataset's items must be (x, y) pairs; item 0 is {_describe(first)}"
                        f"{_pair_hint(first)}")
    needed = n * (_array(first[0], what, "item x").nbytes + 8)
    if needed > max_bytes:
        raise DataError(f"{what}: {n} items of {np.shape(first[0])} take {needed / 2**30:.2f} GiB in memory, over "
                        f"{max_bytes / 2**30:.2f} GiB; {advice}")
    loader = torch.utils.data.DataLoader(dataset, batch_size=1024, shuffle=False, num_workers=0)
    xs, ys = [], []
    try:
        for xb, yb in loader:
            xs.append(_array(xb, what, "x"))
            ys.append(_array(yb, what, "y").reshape(len(xb)))
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{what}: reading the torch Dataset failed: {type(error).__name__}: {error}") from None
    return np.concatenate(xs), np.concatenate(ys)


def _read_npz(path: Path, target: str | None) -> Any:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            data = {key: arrays[key] for key in arrays.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{str(path)!r} is not a readable .npz of numeric arrays ({error})") from None
    y_key = target or "y"
    x_key = next((k for k in ("X", "x") if k in data), None)
    if x_key is None or y_key not in data:
        raise DataError(f"{str(path)!r} holds the arrays {sorted(data)}; expected X (or x) and "
                        f"{y_key!r}{'' if target else ' (or name the target array with data.target)'}")
    built = {"train": (data[x_key], data[y_key])}
    for part in ("val", "test"):
        keys = (f"{x_key}_{part}", f"{y_key}_{part}")
        if all(k in data for k in keys):
            built[part] = (data[keys[0]], data[keys[1]])
    return built if len(built) > 1 else built["train"]


def _read_parquet(path: Path, target: str) -> Pair:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(f"reading {str(path)!r} needs pyarrow: pip install pyarrow (or knobs[parquet])") from None
    try:
        table = pq.read_table(path)
    except Exception as error:
        raise DataError(f"{str(path)!r} is not a readable parquet file ({error})") from None
    if target not in table.column_names:
        raise DataError(f"{str(path)!r}: no column {target!r}; its columns are {table.column_names}. Set data.target")
    features = [c for c in table.column_names if c != target]
    try:
        X = np.stack([table.column(c).to_numpy() for c in features], axis=1).astype(np.float32)
    except (ValueError, TypeError) as error:
        raise DataError(f"{str(path)!r}: every feature column must be numeric ({error}); encode text columns "
                        f"first, or save the table as .csv (data.kind = \"tabular\" one-hot encodes them)") from None
    return X, table.column(target).to_numpy()


# ---- labels and shapes ----------------------------------------------------------------------------

def _infer_task(y: np.ndarray, max_classes: int) -> str:
    if y.ndim == 3:  # a class per pixel of each image (``_pair`` checked it against the images' height and width)
        return "segmentation"
    if y.ndim == 2:
        return "multilabel" if is_label_rows(y) else "regression"
    if y.dtype.kind == "U":  # class names
        return "classification"
    if y.dtype.kind in "biu":
        return "classification" if len(np.unique(y)) <= max_classes else "regression"
    whole = np.all(np.isfinite(y) & (y == np.round(y)))
    return "classification" if whole and len(np.unique(y)) <= max_classes else "regression"


def _encode_y(y: np.ndarray, classes: np.ndarray | None, part: str, name: str, task: str = "") -> np.ndarray:
    if task == "multilabel" and not is_label_rows(y):
        raise DataError(f"{name}: data.task = \"multilabel\" needs rows of 0 / 1 labels (n, labels); the {part} "
                        f"targets have shape {y.shape}{'' if y.ndim != 2 else ' and other values'}")
    if task == "classification" and y.ndim == 2:
        raise DataError(f"{name}: the {part} targets are rows {y.shape}, not one class per row; leave data.task out "
                        f"(0 / 1 rows: a multi-label task; other values: several outputs to regress), or set it to "
                        f"\"multilabel\" or \"regression\"")
    if task == "multilabel":
        return y.astype(np.float32)
    if task == "segmentation":
        return pixel_classes(y, classes, part, name)
    if classes is None:
        if y.dtype.kind == "U":
            shown = [label_name(c) for c in np.unique(y)[:5]]
            raise DataError(f"{name}: the {part} targets are class names ({shown}), which a regression cannot fit; "
                            f"leave data.task out (or set it to \"classification\")")
        if not np.isfinite(y.astype(np.float64)).all():
            raise DataError(f"{name}: the {part} targets hold NaN or infinite values")
        return y.astype(np.float32)
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        raise DataError(f"{name}: the {part} split has classes {[label_name(c) for c in unknown[:10]]} that the "
                        f"training rows lack (training classes: {[label_name(c) for c in classes[:20]]}); a model cannot "
                        f"predict a class it never saw: drop those rows or add examples to training")
    return np.searchsorted(classes, y).astype(np.int64)


#: a pixel without a class (torch's ``ignore_index``): left out of the loss and the metrics
IGNORE = -100


def pixel_classes(y: np.ndarray, classes: np.ndarray, part: str, name: str) -> np.ndarray:
    """Masks ``(n, H, W)`` of class ids as ``0..C-1`` (``classes``: the training masks' sorted ids), ``IGNORE`` kept
    — a run's splits, and the masks ``knobs evaluate`` reads.

    Raises:
        DataError: masks that are not integers, or a class the training masks lack."""
    if y.ndim != 3 or y.dtype.kind not in "iu":
        raise DataError(f"{name}: data.task = \"segmentation\" needs integer masks (n, H, W), a class per pixel; the "
                        f"{part} targets have shape {y.shape} and dtype {y.dtype}")
    labelled = y != IGNORE
    unknown = np.setdiff1d(np.unique(y[labelled]), classes)
    if unknown.size:
        raise DataError(f"{name}: the {part} masks have classes {unknown[:10].tolist()} that the training masks lack "
                        f"(training classes: {classes[:20].tolist()}); mark such pixels {IGNORE} (no class) or add "
                        f"training images that show them")
    return np.where(labelled, np.searchsorted(classes, np.where(labelled, y, classes[0])), IGNORE).astype(np.int64)


def _check_label_columns(parts: dict[str, Pair], name: str) -> None:
    """Every split carries the same labels (a label set in no training row is the preflight's to warn about)."""
    widths = {key: y.shape[1] for key, (_, y) in parts.items()}
    if len(set(widths.values())) > 1:
        raise DataError(f"{name}: the splits' label rows have different widths {widths}; every split needs the same labels")


def _check_shapes(parts: dict[str, Pair], name: str) -> None:
    shapes = {key: tuple(X.shape[1:]) for key, (X, _) in parts.items()}
    if len(set(shapes.values())) > 1:
        raise DataError(f"{name}: the splits' rows have different shapes {shapes}; every split needs the same features")


def _flat(X: Any) -> Any:
    if is_streamed(X):
        return X
    X = np.ascontiguousarray(X, dtype=np.float32)
    return X.reshape(len(X), -1) if X.ndim > 2 else X


def label_name(value: Any) -> str:
    """A label as a class name: a whole float as its integer (3.0 → "3"), anything else as ``str``."""
    value = value.item() if hasattr(value, "item") else value
    return str(int(value)) if isinstance(value, float) and value == int(value) else str(value)



def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"a {type(value).__name__} of shape {tuple(shape)}"
    if isinstance(value, dict):
        return f"a {type(value).__name__} with keys {list(value)[:6]}"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


#: the keys a dict item's label goes by (Hugging Face's ``label`` / ``labels``, and the usual others)
LABEL_KEYS = ("label", "labels", "y", "target", "targets")


def _dict_pair(item: Any) -> tuple[str, str] | None:
    """``(input key, label key)`` of a dict item holding one input and a label (``LABEL_KEYS``); None otherwise."""
    if not isinstance(item, dict):
        return None
    label = next((key for key in LABEL_KEYS if key in item), None)
    inputs = [key for key in item if key != label]
    return (inputs[0], label) if label is not None and len(inputs) == 1 else None


class _KeyedPairs:
    """A map-style Dataset of dict items read as ``(item[x], item[y])`` pairs.

    NOTE: such a Dataset (Hugging Face's item form) was refused, told to return pairs; one input and a label are
    unambiguous, so they are read as they are."""

    def __init__(self, dataset: Any, x: str, y: str) -> None:
        self.dataset, self.x, self.y = dataset, x, y

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        item = self.dataset[i]
        return item[self.x], item[self.y]


def _pair_hint(item: Any) -> str:
    """How to make ``item`` an ``(x, y)`` pair (a dict item of one input and a label is read as it is)."""
    if not isinstance(item, dict):
        return "; return (x, y) from its __getitem__"
    return ("; return (x, y) from its __getitem__ (knobs.run reads one input and a label per row — a dict item of one "
            f"input and one of the keys {', '.join(map(repr, LABEL_KEYS))} is read by them; a model of several inputs "
            "trains with knobs.train.Trainer(batch_keys=...))")
