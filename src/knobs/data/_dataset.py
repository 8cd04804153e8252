"""The ``Dataset`` record: arrays plus the facts every later layer needs about them.

Why a frozen record: splits, checks, models and reports all read the same description of the data
(task, number of classes, image shape, where it came from) and none of them may change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from knobs.errors import DataError

__all__ = ["Dataset", "RowsReleased", "TASKS"]

TASKS = ("classification", "regression", "multilabel", "segmentation")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Features, targets and their description.

    Attributes:
        X: ``np.float32`` array ``(n, *feature_shape)``; raw text cells ``(n, columns)`` when
            ``preprocessor`` is set.
        y: ``np.int64`` labels ``0..C-1`` (classification), ``np.float32`` targets (regression),
            ``np.float32`` 0 / 1 rows ``(n, K)`` (multilabel: each row may carry any of K labels), or ``np.int64``
            masks ``(n, H, W)`` of classes ``0..C-1`` with -100 for a pixel without one (segmentation).
        task: ``"classification"``, ``"regression"``, ``"multilabel"`` or ``"segmentation"``.
        n_classes: the number of classes ``C``, or of labels ``K`` (multilabel: one logit each); ``None``
            for regression.
        name: a short human name (``"digits"``, the CSV file's stem).
        feature_names: one name per column of a 2-D ``X``, when known.
        class_names: the original label of each class index (multilabel: each label's name), when known.
        image_shape: ``(C, H, W)`` when the rows of ``X`` are flattened images, so a ConvNet can
            ``X.reshape(-1, *image_shape)``.
        sequence_shape: ``(T, F)`` when the rows of ``X`` are flattened sequences of T steps of F features
            (arrays given with ``data.layout = "sequence"``): a model gets them as ``(n, T, F)``, each feature
            standardized over the rows and steps.
        source: where the data came from (``"builtin:digits"``, a CSV path).
        preprocessor: for raw rows that need encoding (text cells of a CSV, texts), the unfitted
            preprocessor that turns them into numbers; ``encode_splits`` fits a copy on the
            training split. ``None`` when ``X`` is already numeric model input.
        loading: a JSON record of what the loader did (kind, column kinds, missing-value policy
            and counts, rows dropped, files skipped), for the run's records.
        groups: one group label per row (patient, session, …) read from a column that is not a
            feature, or ``None``; splits never put one group's rows on two sides
            (``knobs.data.group_split``, ``kfold(groups=...)``).
        row_ids: what names each row in its source — the line in a table, the file of an image —
            for the run's ``splits.json``; ``None``: the row's position.

    Example:
        >>> ds = Dataset(np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]), "classification", 2, "toy")
        >>> len(ds), ds.n_features
        (4, 2)
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    n_classes: int | None
    name: str
    feature_names: list[str] | None = None
    class_names: list[str] | None = None
    image_shape: tuple[int, ...] | None = None
    source: str = ""
    sequence_shape: tuple[int, int] | None = None
    preprocessor: Any = None
    loading: dict = field(default_factory=dict)
    groups: np.ndarray | None = None
    row_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        # NOTE: a record that disagrees with itself (30 labels for 20 rows) would fail far away,
        # inside torch; the few invariants are checked here, where the record is made.
        if self.task not in TASKS:
            raise DataError(f"Dataset {self.name!r}: task must be one of {TASKS}, got {self.task!r}")
        if self.X.ndim < 2 or len(self.X) != len(self.y):
            raise DataError(
                f"Dataset {self.name!r}: X must be (n, features...) with one target per row; "
                f"got X {self.X.shape} and y {self.y.shape}"
            )
        if self.groups is not None and (np.ndim(self.groups) != 1 or len(self.groups) != len(self.y)):
            raise DataError(f"Dataset {self.name!r}: groups must hold one label per row ({len(self.y)}), "
                            f"got shape {np.shape(self.groups)}")
        if self.row_ids is not None and len(self.row_ids) != len(self.y):
            raise DataError(f"Dataset {self.name!r}: row_ids must name every row ({len(self.y)}), got {len(self.row_ids)}")
        if self.sequence_shape is not None and (self.image_shape is not None or
                                                int(np.prod(self.sequence_shape)) != self.n_features):
            raise DataError(f"Dataset {self.name!r}: sequence_shape {self.sequence_shape} does not hold "
                            f"{self.n_features} features per row (or image_shape is set too)")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.n_features:
            raise DataError(
                f"Dataset {self.name!r}: image_shape {self.image_shape} does not hold "
                f"{self.n_features} features per row"
            )

    def __len__(self) -> int:
        return len(self.X)

    def without_rows(self) -> "Dataset":
        """The same description with its in-memory rows let go (``X`` becomes a ``RowsReleased``).

        Why: a run copies the rows into its splits and keeps this record for its facts (source,
        classes, image shape, row ids); holding the rows too kept a third copy of an image folder
        alive through the whole search. Streamed rows (read on access) are kept: they hold none."""
        if not isinstance(self.X, np.ndarray):
            return self
        return replace(self, X=RowsReleased(self.X.shape, self.X.dtype))

    def ids(self) -> np.ndarray:
        """``row_ids``, or the row positions when the loader named none."""
        return self.row_ids if self.row_ids is not None else np.arange(len(self.X))

    @property
    def n_features(self) -> int:
        """Values per row (the product of the feature shape)."""
        return int(np.prod(self.X.shape[1:]))

    def __repr__(self) -> str:
        classes = f", n_classes={self.n_classes}" if self.n_classes is not None else ""
        return (f"Dataset(name={self.name!r}, X={self.X.shape}, task={self.task!r}{classes}, "
                f"source={self.source!r})")


class RowsReleased:
    """Stands for rows a run has let go — a ``Dataset``'s once split, a split's once standardized in
    place: their shape, not their values.

    What reads the record (``len``, ``n_features``, ``ids``, split sizes) reads the shape only;
    reading a value is a bug in knobs, said as such (``why``) rather than answered with zeros.
    """

    def __init__(self, shape: tuple[int, ...], dtype,
                 why: str = "this Dataset's rows were let go once the run split them; read the splits") -> None:
        self.shape, self.dtype, self.ndim, self.why = tuple(shape), np.dtype(dtype), len(shape), why

    def __len__(self) -> int:
        return self.shape[0]

    def _refuse(self, *args, **kwargs):
        raise RuntimeError(self.why)

    __getitem__ = __array__ = __iter__ = _refuse

    def __repr__(self) -> str:
        return f"RowsReleased(shape={self.shape}, dtype={self.dtype})"
