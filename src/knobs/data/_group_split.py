"""Train / validation / test splits that never cut a group: each group's rows land in one split.

Why: rows of one patient, one recording session or one photographed object are near copies of
each other. Split row by row and the test set holds siblings of training rows, so its score
measures memory, not generalization. ``group_split`` deals whole groups to the splits (stratified
by class where the data allows, with scikit-learn's ``StratifiedGroupKFold``) and keeps each
split's group labels, so ``cv_folds`` can keep the groups whole inside cross-validation too.

Example:
    >>> splits = group_split(ds, groups=patient_ids, val=0.15, test=0.15, seed=0)  # doctest: +SKIP
    >>> vault = Vault.seal(run_dir / "vault", *splits.test)                         # doctest: +SKIP
    >>> folds = cv_folds(splits.without_test(), k=5)   # groups kept whole in every fold  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from knobs.data._dataset import Dataset
from knobs.data._splits import Splits
from knobs.errors import ConfigError, DataError

__all__ = ["GroupSplits", "group_split", "check_groups", "check_seed"]


@dataclass(frozen=True, eq=False)
class GroupSplits(Splits):
    """``Splits`` plus the group label of every row: ``groups["train" | "val" | "test"]``."""

    groups: dict[str, np.ndarray] = field(default_factory=dict)

    def without_test(self) -> "GroupSplits":
        """The same splits with the test pair and its groups dropped (call after ``Vault.seal``)."""
        kept = {name: g for name, g in self.groups.items() if name != "test"}
        return dataclasses.replace(self, test=None, groups=kept)


def check_groups(groups, n: int, *, name: str = "groups") -> np.ndarray:
    """Return ``groups`` as a 1-D array with one label per row.

    Raises:
        DataError: a length other than ``n`` or a shape other than 1-D, naming both.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1 or len(groups) != n:
        raise DataError(f"{name} must hold one group label per row: expected shape ({n},), got "
                        f"{groups.shape}; pass the group id (patient, session, ...) of every row")
    return groups


def check_seed(seed) -> None:
    """Refuse a seed scikit-learn's splitters would reject with a bare ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed!r}")


def group_split(ds: Dataset, groups, val: float = 0.15, test: float = 0.15, seed: int = 0,
                stratify: bool = True) -> GroupSplits:
    """Split a data set into train, validation and test by whole groups.

    Args:
        ds: the data set.
        groups: one group label per row, or the name of a feature column holding them; that
            column is then dropped from the features (an id is not a feature: the model would
            learn the group, not the pattern).
        val: the fraction of rows for validation.
        test: the fraction of rows for test (taken first, as in ``split``).
        seed: the shuffling seed.
        stratify: keep class proportions close across splits (classification only).

    Returns:
        ``GroupSplits``. Rows move in whole groups, so the fractions are approximate: stratified
        splits take one fold of ``round(1 / fraction)``; unstratified ones take ``fraction`` of
        the groups (scikit-learn's ``GroupShuffleSplit``).

    Raises:
        ConfigError: fractions outside [0, 1) or leaving no training rows.
        DataError: groups of the wrong length, an unknown column, too few groups for the
            fractions, or a class left out of the training split.
    """
    _check_fractions(val, test)
    check_seed(seed)
    ds, groups = _resolve_groups(ds, groups)
    strata = ds.y if stratify and ds.task == "classification" else None
    rest, test_index = _take(np.arange(len(ds)), groups, strata, test, seed, "test")
    # NOTE: val is a fraction of all rows; after the test rows are gone it is val / (1 - test).
    train_index, val_index = _take(rest, groups, strata, val / (1 - test), seed, "val")
    _check_train_classes(ds, train_index)
    parts = {"train": train_index, "val": val_index, "test": test_index}
    return GroupSplits(
        train=(ds.X[train_index], ds.y[train_index]), val=(ds.X[val_index], ds.y[val_index]),
        test=(ds.X[test_index], ds.y[test_index]),
        groups={name: groups[index] for name, index in parts.items()}, index=parts,
    )


def _check_fractions(val: float, test: float) -> None:
    for key, fraction in (("val", val), ("test", test)):
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction < 1:
            raise ConfigError(f"group_split {key} must be a fraction in [0, 1), got {fraction!r}")
    if val + test >= 1:
        raise ConfigError(f"group_split val + test must leave rows for training; got {val} + {test}")


def _resolve_groups(ds: Dataset, groups) -> tuple[Dataset, np.ndarray]:
    """The data set (less the group column when one is named) and one group label per row."""
    if not isinstance(groups, str):
        return ds, check_groups(groups, len(ds))
    names = list(ds.feature_names or [])
    if groups not in names or ds.X.ndim != 2:
        raise DataError(f"groups={groups!r} is not a feature column of {ds.name!r}; the columns are "
                        f"{names}. Pass a column name or an array of group labels")
    if getattr(ds, "preprocessor", None) is not None:
        # NOTE: the preprocessor was built for these raw columns; dropping one would shift them.
        raise DataError(f"groups={groups!r}: {ds.name!r} holds raw columns for a preprocessor, so "
                        f"the group column cannot be dropped here; pass the labels as an array "
                        f"(ds.X[:, {names.index(groups)}]) and leave the column out when loading")
    column = names.index(groups)
    labels = ds.X[:, column]
    kept = [j for j in range(len(names)) if j != column]
    ds = dataclasses.replace(ds, X=np.ascontiguousarray(ds.X[:, kept]),
                             feature_names=[names[j] for j in kept], image_shape=None)
    return ds, labels


def _take(index: np.ndarray, groups: np.ndarray, strata: np.ndarray | None, fraction: float,
          seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(kept, taken)`` row indices, ``taken`` holding about ``fraction`` of them in whole groups."""
    if fraction == 0:
        return index, index[:0]
    n_groups = len(np.unique(groups[index]))
    if strata is None:
        if n_groups < 2:
            raise DataError(f"group_split: the {what} split needs at least 2 groups to choose from, "
                            f"found {n_groups}; pass finer groups or more data")
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        kept, taken = next(splitter.split(index, groups=groups[index]))
        return index[kept], index[taken]
    # NOTE: one fold of m stratified group folds holds ~1/m of the rows with each class's share
    # kept as well as whole groups allow; m = round(1 / fraction), at least 2.
    m = max(2, int(round(1 / fraction)))
    if n_groups < m:
        raise DataError(f"group_split: a {what} fraction of {fraction:.3g} deals the groups into "
                        f"{m} folds, but there are only {n_groups} groups; use a larger {what} "
                        f"fraction, finer groups, or more data")
    splitter = StratifiedGroupKFold(n_splits=m, shuffle=True, random_state=seed)
    kept, taken = next(splitter.split(index, strata[index], groups[index]))
    return index[kept], index[taken]


def _check_train_classes(ds: Dataset, train_index: np.ndarray) -> None:
    if ds.task != "classification":
        return
    missing = np.setdiff1d(np.unique(ds.y), ds.y[train_index])
    if missing.size:
        raise DataError(f"group_split left class(es) {missing.tolist()} out of the training split: "
                        f"all their rows fall in groups dealt to val/test. Try another seed, "
                        f"smaller val/test fractions, or collect rows of those classes from more groups")
