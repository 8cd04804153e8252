"""A table's cells take the memory of their text: one long review among many short cells does not
pad every cell to its length (numpy's fixed-width str dtype did, in UTF-32)."""

import sys

import numpy as np

from knobs.data import load_text_csv
from knobs.data._table import read_table

LONG = "a long review that goes on " * 800  # about 21,600 characters


def _stored_bytes(cells: np.ndarray) -> int:
    """Bytes held by the cells: the array, plus each string object when the array holds references."""
    if cells.dtype == object:
        return cells.nbytes + sum(sys.getsizeof(cell) for cell in cells.ravel())
    return cells.nbytes


def _budget(cells: np.ndarray) -> int:
    """Twice the UTF-8 text plus 64 bytes a cell (a reference and a string's header)."""
    return 2 * (sum(len(str(cell).encode()) for cell in cells.ravel()) + 64 * cells.size)


def _write(tmp_path, n=500):
    path = tmp_path / "reviews.csv"
    rows = [f"\"{LONG}\",pos"] + [f"short text {i},{'pos' if i % 2 else 'neg'}" for i in range(n - 1)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_one_long_cell_costs_its_own_length_not_every_cells(tmp_path):
    table = read_table(_write(tmp_path))
    assert table.cells.shape == (500, 2) and table.cells[0, 0] == LONG.strip()
    for cells in (table.cells, table.column("text"), table.select(["label", "text"]),
                  table.keep(np.arange(500) % 2 == 0).cells):
        assert _stored_bytes(cells) <= _budget(cells), (cells.dtype, _stored_bytes(cells))


def test_a_text_dataset_keeps_its_texts_at_their_own_size(tmp_path):
    ds = load_text_csv(_write(tmp_path), text_column="text", min_freq=1)
    assert ds.X.shape == (500, 1) and ds.X[0, 0] == LONG.strip()
    assert _stored_bytes(ds.X) <= _budget(ds.X)
