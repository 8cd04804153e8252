"""Fold mode (``data.folds = k``): the non-test rows dealt into k folds, each prepared on its own.

Why each fold is prepared from raw rows: everything learned from data — fill values, categories,
the vocabulary, the standardizer — must come from the rows a model trains on. Fitted once on all
non-test rows, they would carry each fold's validation rows into its training (a leak that makes
the cross-validated estimate optimistic). So every fold runs the same two steps as a single-split
run, ``encode_splits`` then ``prepare``, on its own training part (then [balance] on its own
training rows).

Why a fold is prepared when it is used, and let go after: prepared up front, the k folds held
their encoded rows and their standardized tensors all at once, beside the raw rows and the run's
standardized ones — 2k + 2 copies of the non-test rows, 12 at k = 5. A fold keeps only its row positions; ``FoldData.prepare``
makes its data from the raw rows (the fold's rows copied once, then standardized in place) for the
fit that trains on it, and the caller lets it go. The steps and their inputs are the same, so the
data is the same to the bit. The price: each trial prepares its folds again (a pass over the rows
and a balance sampler's resampling, seconds against its training); the fitted preprocessors are
not kept between them (learning them again is cheap; keeping them is a second way to get a fold).
Likewise the run's own standardized rows, which only the final refit trains on, are let go once
the inputs are checked (``release_refit_rows``) and made again for the refit (``restore_refit_rows``):
a search holds the raw rows and the fold that trains (docs/architecture.md, "What a run holds in memory").

Folds are stratified by class (``knobs.data.kfold_indices``) and, with ``data.groups``, never cut a
group (``StratifiedGroupKFold``). The test rows took no part: they were sealed before the folds were
dealt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knobs.data import Dataset, Splits, encode_splits, kfold_indices
from knobs.data._dataset import RowsReleased
from knobs.data._stream import is_streamed
from knobs.errors import ConfigError, KnobsError
from knobs.pipeline.inputs._practices import balance_training_rows
from knobs.pipeline.inputs._prepared import PreparedData, model_tensors, prepare, standardized_away

__all__ = ["FoldData", "PreparedFold", "prepare_folds", "check_folds", "release_refit_rows", "restore_refit_rows"]


@dataclass(frozen=True, eq=False)
class PreparedFold:
    """One fold made ready for a fit (``FoldData.prepare``).

    Attributes:
        data: the tensors a trial trains on, standardized with this fold's training statistics
            (``balanced`` too, with [balance]); ``data.data_checks``: the data checks of its rows
            before standardization, when asked for.
        splits: ``(train, val)`` with their targets; the rows are standardized into ``data`` (their
            shape only: ``standardized_away``); ``test`` is None.
    """

    data: PreparedData
    splits: Splits


@dataclass(frozen=True, eq=False)
class _Rows:
    """What every fold is prepared from: the raw non-test rows, shared by the folds, never copied whole."""

    cfg: Any
    dataset: Dataset
    X: np.ndarray
    y: np.ndarray


@dataclass(eq=False)
class FoldData:
    """One fold: which non-test rows it trains and validates on; its data is made by ``prepare``.

    Attributes:
        number: 0-based fold number.
        train_index, val_index: positions among the non-test rows.
        source: the raw non-test rows every fold is prepared from (shared, not copied).
        groups: ``{"train": labels, "val": labels}`` when the data has groups, else None.
    """

    number: int
    train_index: np.ndarray
    val_index: np.ndarray
    source: _Rows = field(repr=False)
    groups: dict | None = None

    def prepare(self, data_checks: bool = False) -> PreparedFold:
        """This fold's data, made now from the raw rows: encoded with a preprocessor fitted on its
        training part, standardized with that part's statistics, balanced as [balance] says.

        Nothing keeps it but the caller: let it go before preparing another fold, or the run holds
        two. ``data_checks``: answer the data checks of the rows before they are standardized
        (``data.data_checks``; a preflight or a diagnosis reads them).
        """
        rows = self.source
        dataset = rows.dataset
        # NOTE: indexing copies the fold's rows: they are its own, so they are standardized in place
        pairs = Splits(train=(rows.X[self.train_index], rows.y[self.train_index]),
                       val=(rows.X[self.val_index], rows.y[self.val_index]), test=None)
        preprocessor, encoded, report = encode_splits(dataset, pairs)
        texts = pairs.train[0] if dataset.loading.get("kind") == "text" else None
        del pairs  # NOTE: without a preprocessor, ``encoded`` holds the same rows; with one, these go now
        data = prepare(dataset, encoded, rows.cfg.model.family, rows.cfg.data.standardize, preprocessor, report,
                       texts=texts, in_place=True, data_checks=data_checks)
        balance_training_rows(rows.cfg, data)
        return PreparedFold(data, standardized_away(encoded))


def prepare_folds(cfg, dataset: Dataset, rest: tuple[np.ndarray, np.ndarray],
                  groups: np.ndarray | None) -> list[FoldData]:
    """Deal the raw non-test rows ``rest`` into ``cfg.data.folds`` folds (positions only: each
    fold's data is made when a fit uses it, ``FoldData.prepare``; ``check_folds`` makes each once).

    Raises:
        ConfigError: more folds than rows of a class or than groups, or a fold whose training
            part lacks a class — naming ``data.folds``.
    """
    X, y = rest
    k = cfg.data.folds
    _check_enough(k, dataset, y, groups, cfg.data.groups)
    rows = _Rows(cfg, dataset, X, y)
    out = []
    for number, (train_index, val_index) in enumerate(kfold_indices(y, k=k, seed=cfg.seed, groups=groups)):
        _check_fold_classes(k, dataset, number, y[train_index])
        parts = None if groups is None else {"train": groups[train_index], "val": groups[val_index]}
        out.append(FoldData(number, train_index, val_index, rows, parts))
    return out


def check_folds(folds: list[FoldData] | None) -> None:
    """Prepare every fold once, in turn, letting each go: a fold whose rows cannot be encoded or
    balanced (a column empty in its training part, too few rows of a class for SMOTE) stops the run
    before anything is written, as a single split's would.

    Raises:
        KnobsError: of the kind the preparation raised, its message led by the fold's number.
    """
    for fold in folds or ():
        try:
            fold.prepare()
        except KnobsError as error:
            raise type(error)(f"data.folds = {len(folds)}: fold {fold.number + 1}, prepared from its own rows: "
                              f"{error}") from error


def release_refit_rows(data: PreparedData) -> None:
    """Let the run's training rows go — every non-test row standardized, which only the refit trains
    on (the search reads each fold's own data) — with their balanced copy; ``restore_refit_rows``
    makes them again. Their targets and shape stay (sizes, ``len``)."""
    X, y = data.train
    if isinstance(X, RowsReleased) or is_streamed(X):  # NOTE: rows read from disk are not held: nothing to let go
        return
    why = ("fold mode lets the refit's standardized rows go until the refit; restore_refit_rows makes "
           "them again (FoldMode.training_data)")
    data.train = (RowsReleased(tuple(X.shape), np.float32, why), y)
    data.balanced = None  # NOTE: it holds those rows (SMOTE: a resampled copy)


def restore_refit_rows(cfg: Any, data: PreparedData, dataset: Dataset, encoded: tuple[np.ndarray, np.ndarray]) -> None:
    """The run's training rows made again for the refit from the ``encoded`` non-test rows, as
    ``prepare`` made them — standardized with the run's scaler into a copy, targets scaled — and
    balanced again (seeded): the same tensors to the bit."""
    if not isinstance(data.train[0], RowsReleased):
        return
    data.train = model_tensors(data, dataset, encoded)
    balance_training_rows(cfg, data)


def _check_enough(k: int, dataset: Dataset, y: np.ndarray, groups: np.ndarray | None, column: str | None) -> None:
    if dataset.task == "classification":
        labels, counts = np.unique(y, return_counts=True)
        smallest = int(np.argmin(counts))
        if counts[smallest] < k:
            raise ConfigError(
                f"data.folds = {k}: stratified folds need at least {k} rows of every class outside the test "
                f"split, but class {_name(dataset, labels[smallest])!r} has {int(counts[smallest])}; use "
                f"data.folds <= {int(counts[smallest])} or collect more rows of that class")
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise ConfigError(f"data.folds = {k}: each group stays in one fold, and only {n_groups} groups of "
                              f"data.groups = {column!r} lie outside the test split; use data.folds <= {n_groups}")
    elif len(y) < k:
        raise ConfigError(f"data.folds = {k}: only {len(y)} rows lie outside the test split")


def _check_fold_classes(k: int, dataset: Dataset, number: int, y_train: np.ndarray) -> None:
    """A fold that never trains on a class cannot be judged on it; with groups that can happen."""
    if dataset.task != "classification":
        return
    missing = np.setdiff1d(np.arange(dataset.n_classes), y_train)
    if missing.size:
        raise ConfigError(f"data.folds = {k}: fold {number + 1}'s training part has no row of class "
                          f"{_name(dataset, missing[0])!r} (all its non-test rows fall in that fold's groups); "
                          f"use fewer folds, or rows of that class from more groups")


def _name(dataset: Dataset, label) -> str:
    names = dataset.class_names
    return str(names[int(label)]) if names else str(label)
