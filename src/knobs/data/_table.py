"""A delimited text file read as a table of cells, every row tied to its line in the file.

Why the standard ``csv`` module and not a vectorized reader: every refusal names the column and
the line (``column 'age', line 17: 'n/a'``), which needs the row positions a bulk parser drops.

Why an object array of Python strings and not numpy's fixed-width ``str`` dtype: a fixed-width
array pads every cell to the longest one, in UTF-32 (4 bytes a character), so one 100 kB review
among 50,000 short cells would take 20 GB. Object cells keep each string at its own size (one
byte a character for ASCII) and behave the same for indexing, ``==``, ``np.unique`` and
``astype(float)``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.errors import DataError

__all__ = ["Table", "read_table", "default_delimiter"]


@dataclass(frozen=True, eq=False)
class Table:
    """The cells of a file (stripped text) and the line each row came from."""

    path: Path
    header: list[str]
    cells: np.ndarray  # (n, k) object: Python str, each at its own size
    lines: np.ndarray  # (n,) int, 1-based line numbers in the file

    def __len__(self) -> int:
        return len(self.cells)

    def column(self, name: str) -> np.ndarray:
        return self.cells[:, self.header.index(name)]

    def select(self, names: Sequence[str]) -> np.ndarray:
        """The cells of ``names``, in that order, as an ``(n, len(names))`` array."""
        return self.cells[:, [self.header.index(name) for name in names]]

    def keep(self, rows: np.ndarray) -> "Table":
        """Only the rows where the boolean mask ``rows`` is true."""
        return Table(self.path, self.header, self.cells[rows], self.lines[rows])

    def require(self, names: Sequence[str], option: str) -> None:
        """Every name must be a column; the message lists the columns and the option to change."""
        missing = [name for name in names if name not in self.header]
        if missing:
            raise DataError(f"{self.path}: no column {missing[0]!r}; the columns are {self.header}. "
                            f"Set {option} to one of them")


def default_delimiter(path: str | Path) -> str:
    """Tab for ``.tsv`` files, comma otherwise."""
    return "\t" if str(path).lower().endswith(".tsv") else ","


def read_table(path: str | Path, delimiter: str | None = None) -> Table:
    """Read a delimited file with a header row.

    Tab-separated files are read without quoting (the TSV convention: a ``"`` is text), others with
    the usual CSV quoting. Blank lines are skipped.

    Raises:
        DataError: a missing file, repeated column names, a row with another number of fields
            than the header, or no data rows.
    """
    path = Path(path)
    delimiter = delimiter or default_delimiter(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not a table; give a .csv, .tsv or .txt file")
    if not path.is_file():
        raise DataError(f"data file not found: {str(path)!r}; check the path (relative paths are "
                        f"resolved from {str(Path.cwd())!r})")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
            header = [name.strip() for name in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if not any(cell.strip() for cell in row):
                    continue  # blank lines carry no sample
                if len(row) != len(header):
                    raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields but the "
                                    f"header has {len(header)}; check the delimiter and quoting")
                rows.append([cell.strip() for cell in row])
                lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise DataError(f"{path}: line {_first_non_utf8_line(path)} is not UTF-8 text; save the file as "
                        "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    except OSError as e:
        raise DataError(f"data file {path} cannot be read ({e.strerror}); check its permissions") from None
    if not header or not rows:
        raise DataError(f"{path}: no data; expected a header row followed by one row per sample")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: column names {repeated} appear more than once in the header")
    return Table(path, header, _cells(rows, len(header)), np.array(lines, dtype=np.int64))


def _cells(rows: list[list[str]], width: int) -> np.ndarray:
    """``rows`` as an ``(n, width)`` object array (filled in place: ``np.array`` of lists of strings
    would choose the padded fixed-width dtype)."""
    cells = np.empty((len(rows), width), dtype=object)
    cells[:] = rows
    return cells


def _first_non_utf8_line(path: Path) -> int:
    """The 1-based number of the first line of ``path`` that does not decode as UTF-8."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1
