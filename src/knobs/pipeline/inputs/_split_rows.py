"""Which rows a run trains, validates and tests on: the split step of ``load_inputs``.

Why one place: the modes combine — rows or whole groups (``data.groups``), one validation split
or k folds (``data.folds``) — and one rule holds in all of them: the test rows are drawn first,
from every row, so changing ``data.val`` or turning fold mode on never moves the test split
(same seed, same test fraction, same groups). In fold mode the validation split is empty: every
non-test row is training data, which ``knobs.pipeline.inputs._folds`` then deals into folds.

Why the rows are taken here and not by ``split``: ``split`` copies each split out of the loaded
rows, so for a moment the run held every row twice (the loaded rows and their copies) — the peak
of an image folder's load. The split is drawn on the rows' positions, and loaded rows only this run
holds (``OWN_KINDS``, large enough for it to matter: ``IN_PLACE_BYTES``) are reordered in place —
train, then val, then test — so each split is a view of one array; the ``Dataset`` is let go
right after (``load_inputs``), as its rows are no longer in its order. Other rows are copied.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from knobs.data import Dataset, Splits, group_split, split
from knobs.data._arrays import GivenData
from knobs.errors import ConfigError, DataError

__all__ = ["split_rows", "check_fold_settings"]

#: loaded rows of at least this many bytes are split in place (below, a copy costs little memory and
#: is faster than the row-by-row reordering)
IN_PLACE_BYTES = 64 * 2**20
#: sources knobs reads into arrays of its own, which nobody else holds (a builder's arrays are the user's)
OWN_KINDS = frozenset({"images", "tabular", "text", "arrays"})


def split_rows(cfg, dataset: Dataset, val: float, given: GivenData | None = None) -> tuple[Splits, np.ndarray | None]:
    """The raw (not yet encoded) splits, and the group of every non-test row or None.

    ``val``: the validation fraction (the run's mode decides: ``data.val``, or none in fold mode,
    whose folds validate on parts of the training split). ``given``: parts the source fixed — an
    official test set (``data.test`` a path, a builder's ``"test"``) takes the place of drawn test
    rows, so the source's rows split into train and validation only; a given validation split
    takes the place of drawn validation rows.

    Returns:
        ``(splits, groups)``: ``groups`` holds the labels of ``splits.train`` rows then
        ``splits.val`` rows when the data set has groups. ``splits.index`` holds each drawn
        split's row positions in ``dataset`` (a given split's entry is None).

    Raises:
        ConfigError: fold-mode settings that contradict each other (``check_fold_settings``).
        DataError: too few groups for the fractions (naming ``data.groups``), or a class too
            small to stratify.
    """
    check_fold_settings(cfg)
    test_given = given is not None and given.test is not None
    val_given = given is not None and given.val is not None
    if val_given and cfg.data.folds is not None:
        raise ConfigError(f"data.folds = {cfg.data.folds}: the data comes with its own validation split, but fold "
                          f"mode validates on folds of the training rows; give train and test only, or remove data.folds")
    test = 0.0 if test_given else cfg.data.test_fraction
    if val_given:
        if not test_given:
            raise ConfigError("the data gives a validation split but no test split; give \"test\" too")
        return Splits(train=(dataset.X, dataset.y), val=given.val, test=given.test,
                      index={"train": np.arange(len(dataset)), "val": None, "test": None}), None
    drawn = _positions_only(dataset)
    if dataset.groups is None:
        splits = split(drawn, val=val, test=test, seed=cfg.seed)
        groups = None
    else:
        try:
            splits = group_split(drawn, dataset.groups, val=val, test=test, seed=cfg.seed)
        except DataError as error:
            raise DataError(f"data.groups = {cfg.data.groups!r}: {error}") from None
        groups = np.concatenate([splits.groups["train"], splits.groups["val"]])
    splits = _with_rows(dataset, splits)
    if test_given:
        splits = dataclasses.replace(splits, test=given.test, index={**splits.index, "test": None})
    return splits, groups


def _positions_only(dataset: Dataset) -> Dataset:
    """``dataset`` with rows of no columns, to draw the split on (labels, groups, positions) without
    copying a row; streamed rows as they are (their split makes views)."""
    if not isinstance(dataset.X, np.ndarray):
        return dataset
    return dataclasses.replace(dataset, X=np.empty((len(dataset), 0), dtype=dataset.X.dtype), image_shape=None,
                               sequence_shape=None,
                               preprocessor=None)


def _with_rows(dataset: Dataset, splits: Splits) -> Splits:
    """``splits`` (drawn on positions) holding ``dataset``'s rows: views of its array reordered in
    place when only the run holds it (module doc), else copies."""
    X = dataset.X
    if not isinstance(X, np.ndarray):
        return splits
    parts = [splits.index[name] for name in ("train", "val", "test")]
    if _reorderable(dataset):
        _reorder_rows(X, np.concatenate(parts))
        ends = np.cumsum([len(p) for p in parts])
        rows = (X[:ends[0]], X[ends[0]:ends[1]], X[ends[1]:])
    else:
        rows = tuple(X[p] for p in parts)
    return dataclasses.replace(splits, train=(rows[0], splits.train[1]), val=(rows[1], splits.val[1]),
                               test=(rows[2], splits.test[1]))


def _reorderable(dataset: Dataset) -> bool:
    X = dataset.X
    return (dataset.loading.get("kind") in OWN_KINDS and X.nbytes >= IN_PLACE_BYTES and X.flags.writeable
            and X.flags.c_contiguous)


def _reorder_rows(X: np.ndarray, order: np.ndarray) -> None:
    """``X[:] = X[order]`` in place with one row of extra memory, following the permutation's cycles
    (a Python step per row: about 0.2 s for 50,000 images)."""
    order = order.tolist()
    done = bytearray(len(order))
    for start in range(len(order)):
        if done[start] or order[start] == start:
            continue
        saved = X[start].copy()
        i = start
        while True:
            done[i] = 1
            j = order[i]
            if j == start:
                X[i] = saved
                break
            X[i] = X[j]
            i = j


def check_fold_settings(cfg) -> None:
    """Refuse settings that fold mode would otherwise ignore or contradict, naming the key.

    Raises:
        ConfigError: ``data.val`` set with ``data.folds`` (each fold validates on 1/k of the
            non-test rows), ``balance.threshold`` (it is tuned on a validation split that the
            refit model does not have), or an enabled ``[ensemble]`` (chosen on that split too).
    """
    k = cfg.data.folds
    if k is None:
        return
    if "val" in cfg.data.model_fields_set:
        raise ConfigError(f"data.val = {cfg.data.val}: with data.folds = {k} each fold validates on 1/{k} of the "
                          f"non-test rows, so a validation fraction does not apply; remove data.val (or data.folds)")
    if cfg.balance.threshold != "none":
        raise ConfigError(f"balance.threshold = {cfg.balance.threshold!r}: a threshold is tuned on a validation "
                          f"split, and fold mode's final model is refit on every non-test row, leaving none; "
                          f"remove balance.threshold or data.folds")
    if "ensemble" in cfg.model_fields_set and cfg.ensemble.enabled:
        raise ConfigError(f"ensemble.enabled: with data.folds = {k} the final model is the best configuration "
                          f"refit on every non-test row; an ensemble is chosen on a validation split, which "
                          f"fold mode does not keep. Set ensemble.enabled = false or remove data.folds")
