"""Reading tables fast: numeric columns in bulk (numpy.loadtxt), the cell-by-cell reader for
everything else, and both giving the same table; no per-cell Python function on the way."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from knobs.data import TabularPreprocessor, load_csv
from knobs.data import _cells
from knobs.data._cells import missing_mask, parse_numbers
from knobs.data._table import read_table
from knobs.errors import DataError

TRICKY = [
    # (name, text): files both readers must agree on, cell for cell and line for line
    ("numeric", "a,b,label\n1,2.5,0\n-3, 4e2 ,1\n5,.5,0\n"),
    ("text target", "a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n"),
    ("quoted text", 'a,note,label\n1,"x, y",0\n2,"say ""hi""",1\n3,5" screen,0\n4," pad ",1\n'),
    ("missing", "a,b,label\n1,,0\n2,NA,1\n3,4,0\n"),
    ("nan and inf", "a,b,label\n1,nan,0\n2,inf,1\n3,4,0\n"),
    ("blank lines", "a,b,label\n1,2,0\n\n3,4,1\n\n"),
    ("quoted line break", 'a,note,label\n1,"two\nlines",0\n2,one,1\n'),
    ("no final newline", "a,b,label\n1,2,0\n3,4,1"),
    ("crlf", "a,b,label\r\n1,2,0\r\n3,4,1\r\n"),
    ("text after numbers", "a,b,label\n" + "1,2,0\n" * 150 + "1,x,1\n"),
    ("missing after the first rows", "a,b,label\n" + "1,2,0\n" * 150 + "1,,1\nNA,3,0\n"),
    ("nan after the first rows", "a,b,label\n" + "1,2,0\n" * 150 + "1,nan,1\n-inf,3,0\n"),
    ("tsv", "a\tb\tlabel\n1\t\"2\"\tx y\n3\t4\t z\n"),
]


def _same_tables(bulk, cells):
    assert bulk.header == cells.header and bulk.lines.tolist() == cells.lines.tolist()
    for name in bulk.header:
        assert bulk.missing(name).tolist() == cells.missing(name).tolist(), name
        left, right = bulk.numbers(name), cells.numbers(name)
        assert np.array_equal(left[0], right[0], equal_nan=True) and left[1].tolist() == right[1].tolist(), name
        if bulk.column(name).dtype == object:
            assert bulk.column(name).tolist() == cells.column(name).tolist(), name


@pytest.mark.parametrize("name,text", TRICKY, ids=[name for name, _ in TRICKY])
def test_bulk_and_cell_by_cell_readers_give_the_same_table(tmp_path, name, text):
    path = tmp_path / ("t.tsv" if name == "tsv" else "t.csv")
    path.write_text(text, newline="")
    _same_tables(read_table(path, bulk=True), read_table(path))


def test_numeric_columns_are_read_in_bulk_and_text_columns_stay_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,x,label\n02139,1.5,cat\n10001,2,dog\n")
    table = read_table(path, bulk=True, text=["zip"])
    assert table.column("x").dtype == np.float64 and table.column("x").tolist() == [1.5, 2.0]
    assert table.column("zip").tolist() == ["02139", "10001"] and table.column("label").tolist() == ["cat", "dog"]
    assert table.lines.tolist() == [2, 3]
    # the cells, as one array, are what was written or its number
    assert table.cells.tolist() == [["02139", 1.5, "cat"], ["10001", 2.0, "dog"]]


def test_a_categorical_code_keeps_its_leading_zero(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("zip,x,label\n" + "".join(f"0213{i % 3},{i},{i % 2}\n" for i in range(12)))
    ds = load_csv(path, categorical=["zip"])
    assert ds.preprocessor is not None and ds.loading["categorical"] == {"zip": 3}
    pre = TabularPreprocessor(ds.feature_names, ["zip"]).fit(ds.X)
    assert pre.feature_names_ == ["zip=02130", "zip=02131", "zip=02132", "x"]


def test_errors_name_the_line_whichever_reader(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,label\n" + "1,2,0\n" * 150 + "1,oops,1\n" + "1,2,1\n" * 3)
    with pytest.raises(DataError, match=r"column 'b' mixes numbers and text .* line 152: 'oops'"):
        load_csv(path)
    path.write_text("a,b,label\n1,2,0\n1,2,1,9\n")
    with pytest.raises(DataError, match="line 3 has 4 fields but the header has 3"):
        load_csv(path)
    path.write_text("a,b,label\n1,2,0\n1,inf,1\n")
    with pytest.raises(DataError, match=r"column 'b' has infinite values \(first on line 3\)"):
        load_csv(path)
    path.write_text("a,b,label\n1,2,0\n1,nan,1\n")
    with pytest.raises(DataError, match=r"'b': 1 \(first on line 3\)"):
        load_csv(path)


def test_no_per_cell_function_runs_on_a_numeric_or_a_mixed_file(tmp_path, monkeypatch):
    """The old reader called a Python function per cell several times (39 M calls for 10k x 785)."""
    rng = np.random.default_rng(0)
    numeric = tmp_path / "numeric.csv"
    numeric.write_text("label," + ",".join(f"p{j}" for j in range(40)) + "\n" + "".join(
        f"{i % 3}," + ",".join(map(str, rng.integers(0, 255, 40))) + "\n" for i in range(300)))
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("label,color,x,y,z\n" + "".join(
        f"{i % 2},{'red' if i % 3 else 'blue'},{'' if i % 7 == 0 else i},{'NA' if i % 11 == 0 else i / 2},{i / 10}\n"
        for i in range(300)))
    calls = []
    monkeypatch.setattr(_cells, "_is_missing", lambda cell: calls.append(cell) or False)
    ds = load_csv(numeric)
    assert ds.X.shape == (300, 40) and ds.X.dtype == np.float32 and ds.preprocessor is None
    ds = load_csv(mixed, missing="median")
    assert ds.loading["missing_cells"] == {"x": 43, "y": 28} and ds.loading["categorical"] == {"color": 2}
    assert ds.X[:, 3].tolist()[:2] == [0.0, 0.1]  # a complete numeric column, read in bulk
    assert ds.preprocessor.fit_transform(ds.X).shape == (300, 5)
    assert calls == []


def test_missing_mask_and_parse_numbers_on_every_kind_of_column():
    cells = np.array(["1", " NA ", "", "N/a", "x", "2.5", "NONE", "?", "nan"], dtype=object)
    assert missing_mask(cells).tolist() == [False, True, True, True, False, False, True, True, True]
    assert missing_mask(cells.astype(str)).tolist() == missing_mask(cells).tolist()
    assert missing_mask(np.array([None, 1.0, float("nan"), "na"], dtype=object)).tolist() == [True, False, True, True]
    assert missing_mask(np.array([1.0, np.nan])).tolist() == [False, True]
    values, text = parse_numbers(cells)
    assert text.tolist() == [False] * 4 + [True] + [False] * 4
    assert np.array_equal(values, [1, np.nan, np.nan, np.nan, np.nan, 2.5, np.nan, np.nan, np.nan], equal_nan=True)
    assert parse_numbers(np.array(["1_000", " 3 "], dtype=object))[0].tolist() == [1000.0, 3.0]  # as float() reads them


def test_encoding_a_category_column_does_not_pad_every_cell_to_the_longest(tmp_path):
    """One 100,000-character cell among 2,000: a fixed-width copy would take 800 MB."""
    column = np.empty((2000, 1), dtype=object)
    column[:, 0] = ["a", "b"] * 1000
    column[0, 0] = "x" * 100_000
    pre = TabularPreprocessor(["c"], ["c"]).fit(column[1:])
    tracemalloc.start()
    try:
        out = pre.transform(column)
        audit = pre.audit(column)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (2000, 2) and out[0].tolist() == [0, 0] and audit["unseen_categories"] == {"c": 1}
    assert peak < 20_000_000, peak
