"""k-fold cross-validation (stratified, grouped, test split sealed) and group-aware splits."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from sklearn.neighbors import NearestCentroid

from knobs.data import Dataset, Vault, load_builtin, split
from knobs.data._group_split import GroupSplits, group_split
from knobs.data._kfold import CVResult, Fold, aggregate, cross_validate, cv_folds, kfold, kfold_indices
from knobs.errors import ConfigError, DataError


def toy(n_per_class=(30, 10), seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    X = rng.normal(size=(len(y), 3)).astype(np.float32) + y[:, None]
    return X, y


def assert_partition(folds, n):
    vals = np.concatenate([f.val_index for f in folds])
    assert sorted(vals.tolist()) == list(range(n))  # every row validated exactly once
    for f in folds:
        assert not set(f.train_index) & set(f.val_index)
        assert len(f.train_index) + len(f.val_index) == n


# --- kfold ------------------------------------------------------------------------------------------

def test_stratified_folds_partition_rows_and_keep_class_shares():
    X, y = toy((30, 10))
    folds = kfold(X, y, k=5, seed=0)
    assert len(folds) == 5 and [f.number for f in folds] == list(range(5))
    assert_partition(folds, len(y))
    for f in folds:
        assert np.bincount(f.val[1]).tolist() == [6, 2]  # 30/5 and 10/5: exact shares
        np.testing.assert_array_equal(f.val[0], X[f.val_index])
        np.testing.assert_array_equal(f.train[1], y[f.train_index])


def test_folds_follow_the_seed():
    X, y = toy()
    same = [f.val_index.tolist() for f in kfold(X, y, k=4, seed=3)]
    assert same == [f.val_index.tolist() for f in kfold(X, y, k=4, seed=3)]
    assert same != [f.val_index.tolist() for f in kfold(X, y, k=4, seed=4)]


def test_regression_targets_are_not_stratified():
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.linspace(0, 1, 10).astype(np.float32)  # 10 distinct values: stratifying would fail
    folds = kfold(X, y, k=5)
    assert_partition(folds, 10)


def test_groups_never_straddle_train_and_val():
    X, y = toy((40, 20))
    groups = np.arange(60) // 4  # 15 groups of 4 rows, each group of one class
    for folds in (kfold(X, y, k=3, groups=groups), kfold(X, y, k=3, groups=groups, stratify=False)):
        assert_partition(folds, 60)
        for f in folds:
            assert not set(groups[f.train_index]) & set(groups[f.val_index])


# --- cv_folds: the test split stays sealed ----------------------------------------------------------

@pytest.mark.parametrize("targets, groups", [("classes", None), ("classes", "groups"), ("numbers", None),
                                             ("numbers", "groups")])
def test_kfold_indices_are_the_positions_of_kfolds_folds(targets, groups):
    """Dealt from the targets (and groups) alone: the folds ``kfold`` deals, without copying any row."""
    X, y = toy((30, 12))
    y = y if targets == "classes" else X[:, 0].astype(np.float64)
    labels = None if groups is None else np.arange(len(y)) // 3
    folds = kfold(X, y, k=4, seed=3, groups=labels)
    indices = kfold_indices(y, k=4, seed=3, groups=labels)
    assert len(indices) == len(folds) == 4
    for fold, (train, val) in zip(folds, indices):
        assert np.array_equal(fold.train_index, train) and np.array_equal(fold.val_index, val)
    with pytest.raises(DataError, match="k=50 folds need at least 50 rows"):
        kfold_indices(y, k=50)


def test_cv_folds_refuses_splits_that_still_hold_the_test_rows():
    splits = split(load_builtin("iris"), val=0.2, test=0.2, seed=0)
    with pytest.raises(DataError, match="seal the test split first"):
        cv_folds(splits, k=5)


def test_cv_folds_use_train_and_val_only(tmp_path):
    X, y = toy((60, 40))
    X[:, 0] = np.arange(len(y))  # a row id, to recognize rows
    splits = split(Dataset(X, y, "classification", 2, "toy"), val=0.2, test=0.2, seed=0)
    Vault.seal(tmp_path / "vault", *splits.test)
    sealed = splits.without_test()
    folds = cv_folds(sealed, k=5, seed=0)
    n = len(sealed.train[1]) + len(sealed.val[1])
    assert n == 80 and all(len(f.train_index) + len(f.val_index) == n for f in folds)
    ids = {int(i) for f in folds for i in np.concatenate([f.train[0], f.val[0]])[:, 0]}
    assert ids == set(range(100)) - {int(i) for i in splits.test[0][:, 0]}  # all but the test rows


def test_cross_validate_a_real_model_end_to_end(tmp_path):
    splits = split(load_builtin("iris"), val=0.2, test=0.2, seed=0)
    Vault.seal(tmp_path / "vault", *splits.test)
    seen = []

    def fit_eval(fold: Fold) -> dict[str, float]:
        seen.append(fold.number)
        model = NearestCentroid().fit(*fold.train)
        return {"accuracy": model.score(*fold.val), "n_val": len(fold.val[1])}

    result = cross_validate(fit_eval, cv_folds(splits.without_test(), k=4, seed=0))
    assert seen == [0, 1, 2, 3] and result.k == 4
    assert 0.85 < result.mean["accuracy"] <= 1.0 and result.mean["n_val"] == 30
    assert "accuracy" in str(result) and "±" in str(result)
    json.dumps(result.to_dict())


# --- aggregation -----------------------------------------------------------------------------------

def test_aggregate_mean_and_sample_std():
    per_fold = [{"acc": 0.8, "loss": 0.5}, {"acc": 0.9, "loss": 0.3}, {"acc": 1.0, "loss": 0.1}]
    result = aggregate(per_fold)
    assert isinstance(result, CVResult)
    assert result.mean == pytest.approx({"acc": 0.9, "loss": 0.3})
    assert result.std == pytest.approx({"acc": 0.1, "loss": 0.2})  # ddof = 1
    assert result.per_fold == per_fold


@pytest.mark.parametrize("per_fold,match", [
    ([{"acc": 1.0}], "at least 2 folds"),
    ([{"acc": 1.0}, {"loss": 1.0}], r"fold 1: fit_eval returned metrics \['loss'\]"),
    ([{"acc": 1.0}, {"acc": "high"}], r"fold 1: metric 'acc' must be a number"),
    ([{"acc": 1.0}, {"acc": float("nan")}], r"fold 1: metric 'acc' must be a number"),
    ([{"acc": 1.0}, 0.5], "fold 1: fit_eval must return a non-empty dict"),
])
def test_aggregate_refuses_inconsistent_fold_metrics(per_fold, match):
    with pytest.raises(ConfigError, match=match):
        aggregate(per_fold)


# --- group_split ------------------------------------------------------------------------------------

def grouped_dataset(n_groups=40, rows=5, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), rows)
    y = np.repeat(rng.integers(0, 2, n_groups), rows)  # a group's rows share a class
    X = np.column_stack([rng.normal(size=len(y)), groups]).astype(np.float32)
    ds = Dataset(X, y, "classification", 2, "grouped", feature_names=["signal", "patient"])
    return ds, groups


def test_group_split_deals_whole_groups_and_keeps_their_labels():
    ds, groups = grouped_dataset()
    splits = group_split(ds, groups, val=0.2, test=0.2, seed=0)
    assert isinstance(splits, GroupSplits) and sum(splits.sizes.values()) == len(ds)
    parts = {name: set(g.tolist()) for name, g in splits.groups.items()}
    assert not parts["train"] & parts["val"] and not parts["train"] & parts["test"] and not parts["val"] & parts["test"]
    assert 0.1 < splits.sizes["test"] / len(ds) < 0.3  # whole groups: approximately the fraction
    assert set(np.unique(splits.train[1])) == {0, 1}


def test_group_split_by_column_drops_the_id_from_the_features():
    ds, groups = grouped_dataset()
    splits = group_split(ds, "patient", val=0.2, test=0.2, seed=1)
    assert splits.train[0].shape[1] == 1  # only "signal" is left
    by_array = group_split(dataclasses.replace(ds, X=ds.X[:, :1], feature_names=["signal"]), groups,
                           val=0.2, test=0.2, seed=1)
    np.testing.assert_array_equal(splits.groups["test"], by_array.groups["test"])


def test_cv_folds_keep_the_groups_of_a_group_split():
    ds, _ = grouped_dataset()
    sealed = group_split(ds, "patient", val=0.2, test=0.2, seed=0).without_test()
    assert set(sealed.groups) == {"train", "val"} and sealed.test is None
    groups = np.concatenate([sealed.groups["train"], sealed.groups["val"]])
    for fold in cv_folds(sealed, k=4, seed=0):
        assert not set(groups[fold.train_index]) & set(groups[fold.val_index])


def test_regression_group_split_uses_group_shuffle():
    rng = np.random.default_rng(0)
    ds = Dataset(rng.normal(size=(60, 2)).astype(np.float32), rng.normal(size=60).astype(np.float32),
                 "regression", None, "reg")
    groups = np.arange(60) // 3
    splits = group_split(ds, groups, val=0.2, test=0.2, seed=0)
    assert not set(splits.groups["train"]) & set(splits.groups["test"])


# --- bad input --------------------------------------------------------------------------------------

def test_k_larger_than_the_smallest_class_names_the_class_and_the_fix():
    X, y = toy((30, 3))
    with pytest.raises(DataError, match=r"class 1 has 3 .*use k <= 3.*stratify=False"):
        kfold(X, y, k=5)


@pytest.mark.parametrize("k", [1, 0, 2.5, True, "5"])
def test_k_must_be_an_integer_of_at_least_two(k):
    X, y = toy()
    with pytest.raises(ConfigError, match="k must be an integer >= 2"):
        kfold(X, y, k=k)


@pytest.mark.parametrize("seed", [-1, "0", 1.5, None])
def test_seed_must_be_an_integer(seed):
    X, y = toy()
    with pytest.raises(ConfigError, match="seed must be an integer"):
        kfold(X, y, k=3, seed=seed)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        group_split(grouped_dataset()[0], "patient", seed=seed)


def test_more_folds_than_rows_or_groups():
    with pytest.raises(DataError, match="at least 5 rows, got 4"):
        kfold(np.zeros((4, 1)), np.zeros(4, np.float32), k=5)
    X, y = toy((20, 20))
    with pytest.raises(DataError, match="at least 5 groups .* found 4"):
        kfold(X, y, k=5, groups=np.arange(40) % 4)


def test_groups_of_the_wrong_length():
    X, y = toy()
    with pytest.raises(DataError, match=r"groups must hold one group label per row: expected shape \(40,\), got \(39,\)"):
        kfold(X, y, k=3, groups=np.arange(39))
    ds, _ = grouped_dataset()
    with pytest.raises(DataError, match="expected shape"):
        group_split(ds, np.arange(10))


def test_mismatched_X_and_y():
    with pytest.raises(DataError, match="one entry per row"):
        kfold(np.zeros((5, 2)), np.zeros(4, np.int64), k=2)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"groups": "age"}, DataError, "not a feature column"),
    ({"groups": "patient", "test": 1.0}, ConfigError, "test must be a fraction"),
    ({"groups": "patient", "val": 0.5, "test": 0.5}, ConfigError, "leave rows for training"),
])
def test_group_split_bad_arguments(kwargs, error, match):
    ds, _ = grouped_dataset()
    with pytest.raises(error, match=match):
        group_split(ds, **kwargs)


def test_group_split_with_too_few_groups():
    ds, _ = grouped_dataset(n_groups=4)
    with pytest.raises(DataError, match="only 4 groups"):
        group_split(ds, "patient", val=0.1, test=0.1)


def test_folds_of_a_class_per_pixel_or_several_labels_per_row_are_plain_shuffles():
    # they were refused ("kfold needs y (n,)"); no one class to stratify by
    rng = np.random.default_rng(0)
    X, masks = rng.normal(size=(50, 1, 4, 4)), rng.integers(0, 3, size=(50, 4, 4))
    folds = kfold(X, masks, k=5)
    assert [f.val[1].shape for f in folds] == [(10, 4, 4)] * 5
    assert sorted(np.concatenate([f.val_index for f in folds]).tolist()) == list(range(50))
    assert np.array_equal(folds[2].val[1], masks[folds[2].val_index])
