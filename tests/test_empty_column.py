"""A feature column whose every cell is a missing marker — any spelling, "-nan" and "+nan"
included, which float() reads as NaN — is refused with one message naming the column, the markers
and the features list that leaves it out, in the file and in the training split alike; a "-nan"
among numbers is a missing cell like "NA" (counted, refused or filled by the policy), never a NaN
feature. A constant column is data and loads (the data checks warn about it)."""

import numpy as np
import pytest

from knobs.checks import check_data
from knobs.data import TabularPreprocessor, load_csv
from knobs.errors import DataError

MARKERS = ["-nan", "+nan", "-NaN", "", "NA", "nan", "?"]


def _csv(tmp_path, column, name="t.csv"):
    path = tmp_path / name
    path.write_text("a,b,c,label\n" + "".join(f"{i},{cell},{i * i},{i % 2}\n" for i, cell in enumerate(column)))
    return path


@pytest.mark.parametrize("marker", MARKERS)
@pytest.mark.parametrize("missing", ["error", "mean"])
def test_a_column_of_missing_markers_is_refused_naming_it_and_the_fix(tmp_path, marker, missing):
    path = _csv(tmp_path, [marker] * 6)
    with pytest.raises(DataError) as caught:
        load_csv(path, missing=missing)
    message = str(caught.value)
    assert message.startswith(f"{path}: column 'b' has no values in the file: every cell is a missing marker "
                              f"({marker!r})")
    assert message.endswith("leave it out: features = ['a', 'c']")


@pytest.mark.parametrize("marker", MARKERS)
def test_a_column_empty_in_the_training_split_is_refused_alike(marker):
    cells = np.array([["1", marker, "x"], ["2", marker, "y"]], dtype=object)
    with pytest.raises(DataError) as caught:
        TabularPreprocessor(["a", "b", "c"], ["c"], missing="median").fit(cells)
    assert str(caught.value) == (f"column 'b' has no values in the training split: every cell is a missing marker "
                                 f"({marker!r}); there is nothing to learn from or fill it with, so leave it out: "
                                 f"features = ['a', 'c']")


def test_the_only_feature_column_empty_says_to_fill_it_in():
    with pytest.raises(DataError, match=r"\('-nan', 'NA'\); .* it is the only feature column.*fill it in"):
        TabularPreprocessor(["b"], missing="mean").fit(np.array([["-nan"], ["NA"]], dtype=object))


def test_a_nan_spelling_among_numbers_is_a_missing_cell_never_a_nan_feature(tmp_path):
    path = _csv(tmp_path, ["1", "-nan", "3", "+nan", "5", "7"])
    with pytest.raises(DataError, match=r"missing values in 1 column\(s\): 'b': 2 \(first on line 3\)"):
        load_csv(path)
    data = load_csv(path, missing="mean")
    assert data.loading["missing_cells"] == {"b": 2}
    X = data.preprocessor.fit_transform(data.X)
    assert np.isfinite(X).all() and X[[1, 3], 1].tolist() == [4.0, 4.0]  # the mean of 1, 3, 5, 7


def test_a_constant_column_is_data_loaded_and_warned_about(tmp_path):
    data = load_csv(_csv(tmp_path, ["7"] * 6))
    assert data.X[:, 1].tolist() == [7.0] * 6
    [constant] = [c for c in check_data((data.X, data.y)) if c.name == "constant_features"]
    assert not constant.passed and constant.severity == "warning" and "drop them" in constant.message
