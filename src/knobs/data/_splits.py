"""Train / validation / test splits, stratified and seeded.

Why two stages: the test rows are taken first, from the whole data set, so the test split does
not depend on the validation fraction; changing ``val`` re-deals only train and validation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from knobs.data._dataset import Dataset
from knobs.data._target import is_label_rows
from knobs.errors import ConfigError, DataError

__all__ = ["Splits", "split"]

Pair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class Splits:
    """The three splits as ``(X, y)`` numpy pairs.

    ``test`` becomes ``None`` once the test rows are sealed in a ``Vault`` (see ``without_test``):
    from then on only ``Vault.open`` can read them. ``index`` holds, per split, the positions of
    its rows in the data set (``split`` and ``group_split`` record them; the run writes them to
    ``splits.json``), or is ``None`` for splits made otherwise.
    """

    train: Pair
    val: Pair
    test: Pair | None
    index: dict[str, np.ndarray] | None = None

    def without_test(self) -> "Splits":
        """The same splits with the test pair dropped (call after ``Vault.seal``)."""
        return dataclasses.replace(self, test=None)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows per split (``test`` only while it is still held)."""
        pairs = {"train": self.train, "val": self.val, "test": self.test}
        return {name: len(pair[1]) for name, pair in pairs.items() if pair is not None}


def split(ds: Dataset | tuple, val: float = 0.15, test: float = 0.15, seed: int = 0,
          stratify: bool = True) -> Splits:
    """Split a data set into train, validation and test rows.

    Args:
        ds: the data set: a ``Dataset``, or ``(X, y)`` arrays or tensors (returned as they are, row by
            row; labels that are integers, strings or booleans are classes and stratified, floats are
            regression targets).
        val: the fraction of all rows for validation (0 gives an empty split).
        test: the fraction of all rows for test (0 gives an empty split).
        seed: the shuffling seed; the same seed gives the same rows.
        stratify: keep each class's proportion in every split (classification; multi-label data keeps each
            label's, by iterative stratification, Sechidis et al. 2011; regression splits are plain shuffles).

    Raises:
        ConfigError: fractions outside [0, 1) or summing to 1 or more.
        DataError: a class too small to appear in every split when stratifying.

    Example:
        >>> s = split(load_builtin("digits"))
        >>> s.sizes
        {'train': 1257, 'val': 270, 'test': 270}
    """
    for key, fraction in (("val", val), ("test", test)):
        if not 0 <= fraction < 1:
            raise ConfigError(f"split {key} must be a fraction in [0, 1), got {fraction!r}")
    if val + test >= 1:
        raise ConfigError(f"split val + test must leave rows for training; got {val} + {test}")
    ds = _as_dataset(ds)
    # NOTE: a class per pixel has no one class to stratify by; several labels per row are stratified label by label
    # (iterative stratification: a rare label keeps its share in every split), one class per row by class
    strata = stratify and (ds.task == "multilabel" or (ds.task == "classification" and np.ndim(ds.y) == 1))
    index = np.arange(len(ds))
    rest, test_index = _divide(ds, index, test, seed, strata)
    # NOTE: val is a fraction of all rows; after the test rows are gone it is val / (1 - test).
    train_index, val_index = _divide(ds, rest, val / (1 - test), seed, strata)
    return Splits(train=_take(ds, train_index), val=_take(ds, val_index),
                  test=_take(ds, test_index), index={"train": train_index, "val": val_index, "test": test_index})


def _as_dataset(ds) -> Dataset:
    """``ds`` itself, or ``(X, y)`` as a ``Dataset`` holding those very arrays (rows indexed, nothing encoded).

    NOTE: ``split((X, y))`` is how scikit-learn's users call a splitter; it failed with an AttributeError."""
    if isinstance(ds, Dataset):
        return ds
    if not isinstance(ds, (tuple, list)) or len(ds) != 2:
        raise DataError(f"split takes a knobs Dataset (knobs.data.load_dataset, load_builtin, ...) or (X, y) arrays; "
                        f"got {type(ds).__name__}")
    X, y = ds
    labels = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
    if labels.ndim < 1 or len(labels) != len(X) or np.ndim(X) < 2:
        raise DataError(f"split: expected X of shape (rows, features...) and y with one entry per row (a label, a "
                        f"target, a row of labels or a class per position); got X {tuple(np.shape(X))} and y "
                        f"{labels.shape}")
    task = ("multilabel" if is_label_rows(labels) else  # rows of 0 / 1 labels: stratified label by label
            "regression" if labels.dtype.kind in "fc" else "classification")
    return Dataset(X=X, y=y, task=task, n_classes=None, name="arrays")


def _divide(ds: Dataset, index: np.ndarray, fraction: float, seed: int,
            strata: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, taken)`` index arrays with ``fraction`` of ``index`` taken."""
    if fraction == 0:
        return index, index[:0]
    if strata and ds.task == "multilabel":
        kept, taken = next(label_shuffle_split(fraction, seed).split(np.zeros((len(index), 1)), ds.y[index]))
        return index[kept], index[taken]
    try:
        return train_test_split(index, test_size=fraction, random_state=seed, shuffle=True,
                                stratify=ds.y[index] if strata else None)
    except ValueError as error:
        labels, counts = np.unique(ds.y[index], return_counts=True)
        raise DataError(
            f"cannot split {ds.name!r} ({len(index)} rows) taking {fraction:.3g} stratified: "
            f"{error}. Class counts: {dict(zip(labels.tolist(), counts.tolist()))}. Use more data, "
            f"larger fractions, or stratify=False"
        ) from None


def label_shuffle_split(fraction: float, seed: int):
    """One split of multi-label rows taking ``fraction`` of them, each label's share kept on both sides
    (``iterstrat``'s iterative stratification for rows of 0 / 1 labels)."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    return MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)


def _take(ds: Dataset, index: np.ndarray) -> Pair:
    return ds.X[index], ds.y[index]
