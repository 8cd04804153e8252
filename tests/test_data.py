"""knobs.data: built-in data, CSV loading, dispatch, splits and label validation."""

from __future__ import annotations

import numpy as np
import pytest

from knobs.data import Dataset, load_builtin, load_csv, load_dataset, split, validate_features, validate_labels
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


def test_csv_missing_target_lists_columns(tmp_path):
    path = write(tmp_path, "a,b,class\n1,2,0\n")
    with pytest.raises(DataError, match=r"no column 'label'.*\['a', 'b', 'class'\]"):
        load_csv(path)


def test_csv_non_numeric_feature_names_column_and_line(tmp_path):
    path = write(tmp_path, "a,b,label\n1,2,0\n3,red,1\n")
    with pytest.raises(DataError, match=r"column 'b' is not numeric: line 3 holds 'red'"):
        load_csv(path)


def test_csv_missing_values_name_column_and_count(tmp_path):
    path = write(tmp_path, "a,b,label\n1,,0\n3,NaN,1\n4,5,1\n")
    with pytest.raises(DataError, match=r"column 'b' has 2 missing values \(first on line 2\)"):
        load_csv(path)


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


# --- validation ----------------------------------------------------------------------------------

def test_validate_labels_names_values_and_range():
    assert validate_labels(np.array([0.0, 2.0, 1.0]), 3).dtype == np.int64
    with pytest.raises(DataError, match=r"labels \[-1, 10\] in 2 rows outside the expected range 0..9"):
        validate_labels(np.array([0, -1, 10, 3]), 10)
    with pytest.raises(DataError, match=r"non-integer values \[0.5\]"):
        validate_labels(np.array([0, 0.5]), 2)
    with pytest.raises(DataError, match="1-D"):
        validate_labels(np.zeros((2, 2), np.int64), 2)


def test_validate_features_reports_nan():
    X = np.ones((4, 3), np.float32)
    X[1, 2] = np.nan
    X[3, 0] = np.inf
    with pytest.raises(DataError, match=r"1 NaN and 1 infinite values in 2 rows \(columns \[0, 2\]\)"):
        validate_features(X)
