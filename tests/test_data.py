"""knobs.data: built-in data, CSV loading, dispatch, splits and label validation."""

from __future__ import annotations

import numpy as np
import pytest

from knobs.data import (
    Dataset, TabularPreprocessor, load_builtin, load_csv, load_dataset, split, validate_features, validate_labels,
)
from knobs.errors import ConfigError, DataError


# --- built-in data -------------------------------------------------------------------------------

def test_digits_is_described_completely():
    ds = load_builtin("digits")
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float32
    assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == set(range(10))
    assert (ds.task, ds.n_classes, ds.image_shape, ds.source) == ("classification", 10, (1, 8, 8), "builtin:digits")
    assert ds.class_names == [str(i) for i in range(10)] and len(ds.feature_names) == 64
    assert ds.X.reshape(-1, *ds.image_shape).shape == (1797, 1, 8, 8)


@pytest.mark.parametrize("name,shape,task,n_classes", [
    ("iris", (150, 4), "classification", 3),
    ("wine", (178, 13), "classification", 3),
    ("breast_cancer", (569, 30), "classification", 2),
    ("diabetes", (442, 10), "regression", None),
])
def test_other_builtins(name, shape, task, n_classes):
    ds = load_builtin(name)
    assert ds.X.shape == shape and (ds.task, ds.n_classes) == (task, n_classes)
    assert ds.y.dtype == (np.int64 if task == "classification" else np.float32)


def test_diabetes_features_are_raw_not_prescaled():
    # Standardization is knobs' own, fitted on train: the loader must not hand out scaled columns.
    ds = load_builtin("diabetes")
    assert ds.X[:, 0].max() > 10  # age in years


def test_unknown_builtin_lists_the_known_ones():
    with pytest.raises(DataError, match="mnist.*digits"):
        load_builtin("mnist")


def test_dataset_refuses_mismatched_rows_and_image_shape():
    with pytest.raises(DataError, match="one target per row"):
        Dataset(np.zeros((3, 2), np.float32), np.zeros(4), "classification", 2, "bad")
    with pytest.raises(DataError, match="image_shape"):
        Dataset(np.zeros((3, 4), np.float32), np.zeros(3), "classification", 2, "bad", image_shape=(1, 3, 3))
    with pytest.raises(DataError, match="task"):
        Dataset(np.zeros((3, 4), np.float32), np.zeros(3), "ranking", 2, "bad")


# --- CSV -----------------------------------------------------------------------------------------

def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_integer_target_is_classification_reencoded(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,3\n3,4,7\n5,6,3\n7,8,7\n0.5,1e2,5\n")
    ds = load_csv(path)
    assert ds.task == "classification" and ds.n_classes == 3
    assert ds.y.tolist() == [0, 2, 0, 2, 1] and ds.class_names == ["3", "5", "7"]
    assert ds.X.dtype == np.float32 and ds.X[4].tolist() == [0.5, 100.0]
    assert ds.feature_names == ["a", "b"] and ds.source == str(path) and ds.name == "data"


def test_csv_string_target_keeps_class_names(tmp_path):
    path = write(tmp_path, "x,species\n1,setosa\n2,virginica\n3,setosa\n")
    ds = load_csv(path, target="species")
    assert ds.class_names == ["setosa", "virginica"] and ds.y.tolist() == [0, 1, 0]


def test_csv_float_target_is_regression_and_task_can_be_forced(tmp_path):
    path = write(tmp_path, "x,y\n1,0.5\n2,1.5\n3,2.25\n")
    ds = load_csv(path, target="y")
    assert ds.task == "regression" and ds.n_classes is None and ds.y.dtype == np.float32
    many = write(tmp_path, "x,y\n" + "".join(f"{i},{i}\n" for i in range(30)), "many.csv")
    assert load_csv(many, target="y").task == "regression"  # 30 distinct integers > max_classes
    assert load_csv(many, target="y", task="classification").n_classes == 30


def test_csv_feature_selection(tmp_path):
    path = write(tmp_path, "id,a,b,label\nx1,1,2,0\nx2,3,4,1\n")
    ds = load_csv(path, features=["a", "b"])
    assert ds.X.tolist() == [[1, 2], [3, 4]]


def test_csv_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.csv"):
        load_csv(tmp_path / "nope.csv")


def test_csv_that_is_not_utf8_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b,label\n1,2,0\n3,caf\xe9,1\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.csv: line 3 is not UTF-8 text; save the file as UTF-8"):
        load_csv(path)


def test_csv_missing_target_lists_columns(tmp_path):
    path = write(tmp_path, "a,b,class\n1,2,0\n")
    with pytest.raises(DataError, match=r"no column 'label'.*\['a', 'b', 'class'\]"):
        load_csv(path)


def test_csv_mixed_column_names_column_and_example_lines(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n3,red,1\n4,5,0\n")
    with pytest.raises(DataError, match=r"column 'b' mixes numbers and text \(2 numeric, 1 text cells\); "
                                        r"text cells are at line 3: 'red'.*categorical = \['b'\]"):
        load_csv(path)
    # the rarer kind is the one shown: here the lone number among words
    path = write(tmp_path, "a,b,label\n1,red,0\n3,blue,1\n4,7,0\n", "few.csv")
    with pytest.raises(DataError, match=r"numeric cells are at line 4: '7'"):
        load_csv(path)
    assert load_csv(path, categorical=["b"]).preprocessor.categorical == ["b"]  # declared: no error


def test_csv_missing_values_name_columns_counts_and_options(tmp_path):
    path = write(tmp_path, "a,b,label\n1,,0\n3,NaN,1\n4,5,1\n?,6,0\n")
    with pytest.raises(DataError, match=r"missing values in 2 column\(s\): 'a': 1 \(first on line 5\), "
                                        r"'b': 2 \(first on line 2\).*\"drop\".*\"mean\".*\"median\".*most_frequent"):
        load_csv(path)
    with pytest.raises(ConfigError, match="missing must be one of"):
        load_csv(path, missing="zero")


def test_csv_infinite_and_ragged_rows_refused(tmp_path):
    with pytest.raises(DataError, match="column 'a' has infinite"):
        load_csv(write(tmp_path, "a,label\ninf,0\n1,1\n"))
    with pytest.raises(DataError, match="line 3 has 2 fields but the header has 3"):
        load_csv(write(tmp_path, "a,b,label\n1,2,0\n1,2\n", "ragged.csv"))


def test_csv_target_problems(tmp_path):
    with pytest.raises(DataError, match="single class"):
        load_csv(write(tmp_path, "a,label\n1,0\n2,0\n"))
    with pytest.raises(DataError, match="target column 'label' has 1 missing"):
        load_csv(write(tmp_path, "a,label\n1,0\n2,\n", "m.csv"))
    with pytest.raises(DataError, match="regression target 'label' is not numeric"):
        load_csv(write(tmp_path, "a,label\n1,cat\n2,dog\n", "s.csv"), task="regression")
    with pytest.raises(DataError, match="no data"):
        load_csv(write(tmp_path, "a,label\n", "empty.csv"))


# --- categorical columns and missing values -------------------------------------------------------

MIXED = ("age,color,income,label\n"
         "30,red,100,yes\n"
         ",blue,200,no\n"      # age missing
         "50,,300,yes\n"       # color missing
         "40,red,n/a,no\n"     # income missing
         "60,green,500,yes\n")


def test_csv_with_categories_and_missing_keeps_raw_cells_and_an_unfitted_preprocessor(tmp_path):
    ds = load_csv(write(tmp_path, MIXED), missing="median")
    assert ds.X.dtype == object and all(type(c) is str for c in ds.X.ravel()) and ds.X.shape == (5, 3)
    assert ds.class_names == ["no", "yes"] and ds.y.tolist() == [1, 0, 1, 0, 1]
    pre = ds.preprocessor
    assert isinstance(pre, TabularPreprocessor) and pre.categorical == ["color"] and pre.missing == "median"
    assert not hasattr(pre, "fill_")  # nothing learned before the split
    assert ds.loading == {
        "kind": "tabular", "file": str(tmp_path / "data.csv"), "rows_read": 5, "rows": 5, "target": "label",
        "numeric": ["age", "income"], "categorical": {"color": 3}, "missing": "median",
        "missing_cells": {"age": 1, "color": 1, "income": 1}, "dropped_rows": 0,
    }


def test_complete_numeric_csv_still_loads_straight_to_float32(tmp_path):
    ds = load_csv(write(tmp_path, "a,b,label\n1,2,0\n3,4,1\n"), missing="mean")
    assert ds.X.dtype == np.float32 and ds.preprocessor is None and ds.loading["missing_cells"] == {}


def test_missing_drop_removes_rows_and_records_them(tmp_path):
    ds = load_csv(write(tmp_path, MIXED + "20,blue,600,no\n"), missing="drop")
    assert len(ds) == 3 and ds.y.tolist() == [1, 1, 0]
    assert ds.loading["dropped_rows"] == 3 and ds.loading["dropped_lines"] == [3, 4, 5]
    assert ds.X.dtype == object and ds.preprocessor.categorical == ["color"]  # categories still need fitting
    numeric = load_csv(write(tmp_path, "a,label\n1,0\n,1\n3,1\n4,0\n", "n.csv"), missing="drop")
    assert numeric.X.dtype == np.float32 and numeric.preprocessor is None  # complete after the drop
    with pytest.raises(DataError, match="every row has a missing value"):
        load_csv(write(tmp_path, "a,b,label\n,1,0\n2,,1\n", "all.csv"), missing="drop")
    # a missing target is dropped under "drop" but never imputed
    path = write(tmp_path, "a,label\n1,x\n2,\n3,y\n4,x\n", "t.csv")
    assert load_csv(path, missing="drop").loading["dropped_lines"] == [3]
    with pytest.raises(DataError, match=r"target column 'label' has 1 missing values \(first on line 3\); "
                                        r"a target is never filled"):
        load_csv(path, missing="mean")


def test_preprocessor_learns_from_the_training_split_only(tmp_path):
    X_train = np.array([["1", "red"], ["", "red"], ["3", "blue"], ["10", ""]])
    X_test = np.array([["1000", "green"], ["NA", "blue"]])
    pre = TabularPreprocessor(["x", "c"], ["c"], missing="median").fit(X_train)
    assert pre.fill_ == {"x": 3.0, "c": "red"}  # median of 1, 3, 10; test's 1000 plays no part
    assert pre.categories_ == {"c": ["blue", "red"]} and pre.feature_names_ == ["x", "c=blue", "c=red"]
    out = pre.transform(X_test)
    assert out.dtype == np.float32 and out.tolist() == [[1000, 0, 0], [3, 1, 0]]  # unseen green → zeros
    assert pre.audit(X_test) == {"rows": 2, "missing_filled": {"x": 1}, "unseen_categories": {"c": 1}}
    mean = TabularPreprocessor(["x", "c"], ["c"], missing="mean").fit(X_train)
    assert mean.fill_["x"] == pytest.approx(14 / 3)
    assert TabularPreprocessor(["x"], missing="most_frequent").fit(np.array([["2"], ["2"], ["5"], [""]])).fill_ == {"x": 2.0}


def test_preprocessor_state_is_json_and_round_trips(tmp_path):
    import json

    X = np.array([["1", "red"], ["", "blue"], ["3", "red"]])
    pre = TabularPreprocessor(["x", "c"], ["c"], missing="mean").fit(X)
    state = json.loads(json.dumps(pre.state_dict()))
    again = TabularPreprocessor([])
    again.load_state_dict(state)
    rows = np.array([["7", "blue"], ["?", "purple"]])
    assert np.array_equal(again.transform(rows), pre.transform(rows))
    with pytest.raises(ConfigError, match="must hold columns"):
        TabularPreprocessor([]).load_state_dict({"columns": ["x"]})
    with pytest.raises(ConfigError, match="not fitted"):
        TabularPreprocessor(["x"]).transform(rows[:, :1])


def test_preprocessor_refuses_bad_rows_at_prediction():
    pre = TabularPreprocessor(["x", "c"], ["c"], missing="error").fit(np.array([["1", "a"], ["2", "b"]]))
    with pytest.raises(DataError, match=r"column 'x' has 1 missing values \(first in row 1\) but missing = 'error'"):
        pre.transform(np.array([["1", "a"], ["", "b"]]))
    with pytest.raises(DataError, match=r"numeric column 'x' holds text in row 0: 'abc'"):
        pre.transform(np.array([["abc", "a"]]))
    with pytest.raises(DataError, match=r"expects rows of 2 cells"):
        pre.transform(np.array([["1"]]))
    with pytest.raises(DataError, match="column 'x' has no values in the training split"):
        TabularPreprocessor(["x"], missing="mean").fit(np.array([[""], ["?"]]))


def test_categorical_guards(tmp_path):
    ids = write(tmp_path, "id,label\n" + "".join(f"u{i},{i % 2}\n" for i in range(30)), "ids.csv")
    with pytest.raises(DataError, match=r"categorical column 'id' has 30 distinct values.*kind = \"text\""):
        load_csv(ids, max_categories=20)
    with pytest.raises(DataError, match=r"categorical columns \['nope'\] are not feature columns"):
        load_csv(ids, categorical=["nope"])
    empty = write(tmp_path, "a,b,label\n1,,0\n2,,1\n", "e.csv")
    with pytest.raises(DataError, match="column 'b' has no values"):
        load_csv(empty, missing="mean")


def test_tsv_is_read_without_quoting(tmp_path):
    path = write(tmp_path, 'label\tx\tc\n1\t2\t"big" one\n0\t3\tsmall\n', "d.tsv")
    ds = load_csv(path)
    assert ds.X[:, 1].tolist() == ['"big" one', "small"]


# --- dispatch ------------------------------------------------------------------------------------

def test_load_dataset_dispatch(tmp_path):
    assert load_dataset("digits").name == "digits"
    assert load_dataset("builtin:iris").n_classes == 3
    path = write(tmp_path, "x,target\n1,0\n2,1\n")
    assert load_dataset(str(path), target="target").n_classes == 2
    ds = load_builtin("wine")
    assert load_dataset(ds) is ds
    with pytest.raises(DataError, match="neither a built-in"):
        load_dataset("data.parquet")


# --- splits --------------------------------------------------------------------------------------

def test_digits_split_sizes_and_stratification():
    ds = load_builtin("digits")
    splits = split(ds, val=0.15, test=0.15, seed=0)
    assert splits.sizes == {"train": 1257, "val": 270, "test": 270}
    overall = np.bincount(ds.y) / len(ds)
    for _, y in (splits.train, splits.val, splits.test):
        assert np.abs(np.bincount(y, minlength=10) / len(y) - overall).max() < 0.01
    # Every row lands in exactly one split.
    rows = np.concatenate([splits.train[0], splits.val[0], splits.test[0]])
    assert len(np.unique(rows, axis=0)) == len(np.unique(ds.X, axis=0))


def test_split_is_deterministic_per_seed():
    ds = load_builtin("iris")
    a, b, c = split(ds, seed=3), split(ds, seed=3), split(ds, seed=4)
    assert np.array_equal(a.test[0], b.test[0]) and np.array_equal(a.train[1], b.train[1])
    assert not np.array_equal(a.test[0], c.test[0])


def test_test_rows_do_not_depend_on_val_fraction():
    ds = load_builtin("wine")
    assert np.array_equal(split(ds, val=0.1).test[0], split(ds, val=0.3).test[0])


def test_split_regression_zero_val_and_without_test():
    splits = split(load_builtin("diabetes"), val=0.0, test=0.2)
    assert splits.sizes == {"train": 353, "val": 0, "test": 89}
    sealed = splits.without_test()
    assert sealed.test is None and sealed.sizes == {"train": 353, "val": 0}


def test_split_bad_fractions_and_tiny_classes():
    ds = load_builtin("iris")
    with pytest.raises(ConfigError, match="split test"):
        split(ds, test=1.5)
    with pytest.raises(ConfigError, match="val \\+ test"):
        split(ds, val=0.5, test=0.5)
    tiny = Dataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.array([0, 0, 0, 0, 1]),
                   "classification", 2, "tiny")
    with pytest.raises(DataError, match=r"Class counts: \{0: 4, 1: 1\}.*stratify=False"):
        split(tiny, val=0.2, test=0.2)
    assert split(tiny, val=0.2, test=0.2, stratify=False).sizes == {"train": 3, "val": 1, "test": 1}


def test_split_takes_x_y_arrays_and_tensors_as_they_are():
    import torch

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(120, 3)), np.array(["cat", "dog", "emu"] * 40)  # string classes, stratified
    splits = split((X, y), seed=0)
    assert splits.sizes == {"train": 84, "val": 18, "test": 18}
    assert sorted(np.unique(splits.val[1], return_counts=True)[1]) == [6, 6, 6] and splits.val[1].dtype.kind == "U"
    assert np.array_equal(splits.train[0], X[splits.index["train"]])  # the rows as given
    tensors = split((torch.as_tensor(X), torch.arange(120) % 3), seed=0)
    assert isinstance(tensors.train[0], torch.Tensor) and torch.bincount(tensors.test[1]).tolist() == [6, 6, 6]
    targets = split((X, rng.normal(size=120)), seed=0)  # float targets: a plain shuffle
    assert targets.sizes == {"train": 84, "val": 18, "test": 18}
    with pytest.raises(DataError, match=r"split: expected X of shape \(rows, features...\) and y with one entry per "
                                        r"row"):
        split((X, y[:10]))
    masks = rng.integers(0, 3, size=(120, 4, 4))  # a class per pixel, and several labels per row: shuffled rows
    pixels = split((rng.normal(size=(120, 1, 4, 4)), masks), seed=0)
    assert pixels.sizes == {"train": 84, "val": 18, "test": 18} and pixels.test[1].shape == (18, 4, 4)
    assert np.array_equal(pixels.test[1], masks[pixels.index["test"]])
    labelled = split((X, rng.integers(0, 2, size=(120, 5))), seed=0)  # stratified label by label: sizes within a row
    assert labelled.val[1].shape[1] == 5 and abs(len(labelled.val[1]) - 18) <= 1 and sum(labelled.sizes.values()) == 120
    with pytest.raises(DataError, match="split takes a knobs Dataset .* or \\(X, y\\) arrays; got ndarray"):
        split(X)


# --- validation ----------------------------------------------------------------------------------

def test_validate_labels_names_values_and_range():
    assert validate_labels(np.array([0.0, 2.0, 1.0]), 3).dtype == np.int64
    with pytest.raises(DataError, match=r"labels \[-1, 10\] in 2 rows outside the expected range 0..9"):
        validate_labels(np.array([0, -1, 10, 3]), 10)
    with pytest.raises(DataError, match=r"non-integer values \[0.5\]"):
        validate_labels(np.array([0, 0.5]), 2)
    with pytest.raises(DataError, match="1-D"):
        validate_labels(np.zeros((2, 2), np.int64), 2)
    with pytest.raises(DataError, match=r"integer class labels 0..1, got dtype <U3 such as \['cat', 'dog'\]; encode "
                                        r"the classes first, e.g. classes, y = np.unique\(y, return_inverse=True\)"):
        validate_labels(np.array(["cat", "dog", "cat"]), 2)


def test_validate_features_reports_nan():
    X = np.ones((4, 3), np.float32)
    X[1, 2] = np.nan
    X[3, 0] = np.inf
    with pytest.raises(DataError, match=r"1 NaN and 1 infinite values in 2 rows \(columns \[0, 2\]\)"):
        validate_features(X)
