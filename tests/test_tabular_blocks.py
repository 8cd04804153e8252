"""`TabularPreprocessor` fits one imputer over all numeric columns (and one over the categorical
ones) instead of one per column: the fill values and encoded rows are those the per-column path
gave (fixed below, recorded from it), to the last bit — a mean included, whose float sum depends
on the order the cells are added in — and bad cells are refused with the same first message."""

import numpy as np
import pytest

from knobs.data import TabularPreprocessor
from knobs.errors import DataError

B = [0.01, -13.21, 0.64, 0.0, -5.36, 3.62, 130.4, 0.01, -0.01, -126.54, -0.01, 0.04]
COLUMNS, CATEGORICAL = ["age", "b", "color", "size", "count"], ["color", "size"]


def _cells(rows):
    cells = np.empty((len(rows), len(rows[0])), dtype=object)
    cells[:] = rows
    return cells


TRAIN = _cells([
    ["30", B[0], "red", "S", "1"], ["", B[1], "blue", "M", "2"], ["50", B[2], "red", "?", "2"],
    ["NA", B[3], "", "M", "3"], ["41.5", B[4], "blue", "L", "3"], ["38", B[5], "green", "L", "3"],
    ["38", B[6], "N/A", "S", "?"], ["27", B[7], "red", "S", "7"], ["64", B[8], "blue", "", "1"],
    ["19", B[9], "green", "M", "2"], ["33", B[10], "red", "M", "2"], ["71", B[11], "blue", "L", "5"],
    ["45", float("nan"), "blue", "S", "4"], ["52", None, "red", "XL", "4"],
])
LATER = _cells([["", "", "", "", ""], ["20", 1.5, "purple", "S", "9"], ["n/a", None, "?", "XXL", "NA"]])

# The per-column path's fill values. The mean of "b" is its pairwise float sum over the column;
# summed across the rows of a C-ordered block it is -0.8674999999999998.
FILLS = {
    "mean": {"age": 42.375, "b": -0.8675000000000023, "color": "blue", "size": "M", "count": 3.0},
    "median": {"age": 39.75, "b": 0.005, "color": "blue", "size": "M", "count": 3.0},
    "most_frequent": {"age": 38.0, "b": -0.01, "color": "blue", "size": "M", "count": 2.0},
}
NAMES = ["age", "b", "color=blue", "color=green", "color=red", "size=L", "size=M", "size=S", "size=XL", "count"]
_ = None  # a missing cell: its column's fill value
ENCODED = [  # TRAIN encoded, one-hot blocks in place of color and size (all zeros where filled)
    [30, B[0], 0, 0, 1, 0, 0, 1, 0, 1], [_, B[1], 1, 0, 0, 0, 1, 0, 0, 2], [50, B[2], 0, 0, 1, _, _, _, _, 2],
    [_, B[3], _, _, _, 0, 1, 0, 0, 3], [41.5, B[4], 1, 0, 0, 1, 0, 0, 0, 3], [38, B[5], 0, 1, 0, 1, 0, 0, 0, 3],
    [38, B[6], _, _, _, 0, 0, 1, 0, _], [27, B[7], 0, 0, 1, 0, 0, 1, 0, 7], [64, B[8], 1, 0, 0, _, _, _, _, 1],
    [19, B[9], 0, 1, 0, 0, 1, 0, 0, 2], [33, B[10], 0, 0, 1, 0, 1, 0, 0, 2], [71, B[11], 1, 0, 0, 1, 0, 0, 0, 5],
    [45, _, 1, 0, 0, 0, 0, 1, 0, 4], [52, _, 0, 0, 1, 0, 0, 0, 1, 4],
]
LATER_ENCODED = [[_, _, _, _, _, _, _, _, _, _], [20, 1.5, 0, 0, 0, 0, 0, 1, 0, 9], [_, _, _, _, _, 0, 0, 0, 0, _]]


def _expected(rows, fills):
    """The rows with each missing cell filled: a number, or the fill category's one-hot block."""
    out = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)
    for j, name in enumerate(NAMES):
        column, _, value = name.partition("=")
        missing = np.isnan(out[:, j])
        if missing.any():
            out[missing, j] = (value == fills[column]) if value else fills[column]
    return out.astype(np.float32)


@pytest.mark.parametrize("policy", sorted(FILLS))
def test_fill_values_and_encoded_rows_are_the_per_column_paths(policy):
    pre = TabularPreprocessor(COLUMNS, CATEGORICAL, missing=policy).fit(TRAIN)
    assert pre.fill_ == FILLS[policy] and list(pre.fill_) == COLUMNS  # exact floats, in column order
    assert pre.feature_names_ == NAMES
    out = pre.transform(TRAIN)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, _expected(ENCODED, FILLS[policy]))
    np.testing.assert_array_equal(pre.transform(LATER), _expected(LATER_ENCODED, FILLS[policy]))
    assert pre.transform(TRAIN[:0]).shape == (0, len(NAMES))


def test_without_a_fill_policy_numbers_and_categories_still_encode_and_missing_cells_are_refused():
    whole = TRAIN[[0, 4, 5, 7, 9, 10, 11]]  # rows without a missing cell
    pre = TabularPreprocessor(COLUMNS, CATEGORICAL, missing="error").fit(TRAIN)
    assert pre.fill_ == {} and pre.categories_ == {"color": ["blue", "green", "red"], "size": ["L", "M", "S", "XL"]}
    np.testing.assert_array_equal(pre.transform(whole), _expected([ENCODED[i] for i in [0, 4, 5, 7, 9, 10, 11]], {}))
    with pytest.raises(DataError, match="column 'age' has 2 missing values \\(first in row 1\\)"):
        pre.transform(TRAIN)


def test_the_first_bad_column_in_column_order_is_the_one_named():
    pre = TabularPreprocessor(COLUMNS, CATEGORICAL, missing="error").fit(TRAIN[[0, 4]])
    rows = TRAIN[[0, 4]].copy()
    rows[1, 4] = "lots"  # text in a numeric column, after ...
    rows[0, 3] = ""  # ... a missing category with no fill value, in an earlier column
    with pytest.raises(DataError, match="column 'size' has 1 missing values"):
        pre.transform(rows)
    rows[0, 1] = float("inf")
    with pytest.raises(DataError, match="numeric column 'b' holds an infinite value in row 0"):
        pre.transform(rows)
    empty = TRAIN.copy()
    empty[:, 3] = ""
    empty[0, 0] = "thirty"
    with pytest.raises(DataError, match="numeric column 'age' holds text in row 0: 'thirty'"):
        TabularPreprocessor(COLUMNS, CATEGORICAL, missing="mean").fit(empty)
    empty[0, 0] = "30"
    with pytest.raises(DataError, match="column 'size' has no values in the training split"):
        TabularPreprocessor(COLUMNS, CATEGORICAL, missing="mean").fit(empty)
