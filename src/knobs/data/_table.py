"""A delimited text file read as a table of columns, every row tied to its line in the file.

Two readers, one result. ``numpy.loadtxt`` reads a file whose columns hold only numbers (and,
beside them, text columns such as class names) in one C pass, as fast as numpy reads anything.
Any file it cannot take as it is (a missing or misplaced cell, a row of another length, a blank
line, a quoted line break, a NaN or infinity) is read again by the standard ``csv`` module, cell
by cell, because every refusal must name the column and the line (``column 'age', line 17:
'n/a'``), which needs the row positions a bulk parser drops. So the fast path only ever serves
files that have nothing to refuse in their numeric columns; every message comes from the same
checks on the same cells either way.

A column is either float64 (read in bulk: every cell a finite number) or an object array of
stripped Python strings. Why object and not numpy's fixed-width ``str`` dtype: a fixed-width array
pads every cell to the longest one, in UTF-32 (4 bytes a character), so one 100 kB review among
50,000 short cells would take 20 GB. Object cells keep each string at its own size (one byte a
character for ASCII) and behave the same for indexing, ``==``, ``np.unique`` and
``astype(float)``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.data._cells import missing_mask, parse_numbers
from knobs.errors import DataError

__all__ = ["Table", "read_table", "default_delimiter"]

_SNIFFED_ROWS = 100  # rows read cell by cell to guess which columns are text before the bulk read
_BLANKS = " \t\x0b\x0c\""  # a quoted cell may hold anything, line breaks included


@dataclass(frozen=True, eq=False)
class Table:
    """The columns of a file and the line each row came from.

    ``missing(name)`` and ``numbers(name)`` are computed once per column and kept, because the
    loader asks for both several times (kinds, counts, the target, the float features).
    """

    path: Path
    header: list[str]
    columns: dict[str, np.ndarray]  # name -> (n,) float64 read in bulk, or object (Python str)
    lines: np.ndarray  # (n,) int, 1-based line numbers in the file
    _memo: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def cells(self) -> np.ndarray:
        """Every column as one ``(n, k)`` object array (numbers read in bulk as Python floats)."""
        return self.select(self.header, as_objects=True)

    def column(self, name: str) -> np.ndarray:
        return self.columns[name]

    def select(self, names: Sequence[str], as_objects: bool = False) -> np.ndarray:
        """The cells of ``names``, in that order, as an ``(n, len(names))`` array: float64 when
        every one was read in bulk as numbers (unless ``as_objects``), object otherwise."""
        columns = [self.columns[name] for name in names]
        if not as_objects and columns and all(c.dtype.kind == "f" for c in columns):
            return np.stack(columns, axis=1)
        cells = np.empty((len(self), len(columns)), dtype=object)
        for j, column in enumerate(columns):
            cells[:, j] = column
        return cells

    def missing(self, name: str) -> np.ndarray:
        """The missing cells of a column (``knobs.data._cells.missing_mask``), computed once."""
        return self._once(("missing", name), lambda: missing_mask(self.columns[name]))

    def numbers(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``parse_numbers`` of a column, computed once."""
        return self._once(("numbers", name), lambda: parse_numbers(self.columns[name]))

    def keep(self, rows: np.ndarray) -> "Table":
        """Only the rows where the boolean mask ``rows`` is true."""
        memo = {key: (value[rows] if key[0] == "missing" else (value[0][rows], value[1][rows]))
                for key, value in self._memo.items()}
        return Table(self.path, self.header, {name: c[rows] for name, c in self.columns.items()},
                     self.lines[rows], memo)

    def require(self, names: Sequence[str], option: str) -> None:
        """Every name must be a column; the message lists the columns and the option to change."""
        missing = [name for name in names if name not in self.header]
        if missing:
            raise DataError(f"{self.path}: no column {missing[0]!r}; the columns are {self.header}. "
                            f"Set {option} to one of them")

    def _once(self, key, compute):
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


def default_delimiter(path: str | Path) -> str:
    """Tab for ``.tsv`` files, comma otherwise."""
    return "\t" if str(path).lower().endswith(".tsv") else ","


def read_table(path: str | Path, delimiter: str | None = None, *, bulk: bool = False,
               text: Sequence[str] = ()) -> Table:
    """Read a delimited file with a header row.

    Tab-separated files are read without quoting (the TSV convention: a ``"`` is text), others with
    the usual CSV quoting. Blank lines are skipped.

    Args:
        bulk: read the columns that hold only numbers as float64 with ``numpy.loadtxt`` when the
            file allows it. Off by default: a reader that does not know which columns are
            categories (prediction input) needs every cell as written.
        text: with ``bulk``, the columns to keep as text even when they hold numbers (categorical
            codes, group ids): their cells stay exactly as written ("02139", not 2139.0).

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
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            content = handle.read()
    except UnicodeDecodeError:
        raise DataError(f"{path}: line {_first_non_utf8_line(path)} is not UTF-8 text; save the file as "
                        "UTF-8 (e.g. iconv -f latin1 -t utf-8)") from None
    except OSError as e:
        raise DataError(f"data file {path} cannot be read ({e.strerror}); check its permissions") from None
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=quoting)
    header = [name.strip() for name in next(reader, [])]
    read = _read_bulk(content, reader, header, delimiter, quoting, set(text)) if bulk else None
    if read is None:
        reader = csv.reader(io.StringIO(content), delimiter=delimiter, quoting=quoting)
        next(reader, None)
        read = _read_cells(path, reader, header, _needs_strip(content, delimiter))
    columns, lines = read
    if not header or not len(lines):
        raise DataError(f"{path}: no data; expected a header row followed by one row per sample")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: column names {repeated} appear more than once in the header")
    return Table(path, header, dict(zip(header, columns)), lines)


def _read_bulk(content: str, reader, header: list[str], delimiter: str, quoting: int,
               text: set[str]) -> tuple[list[np.ndarray], np.ndarray] | None:
    """The columns read by ``numpy.loadtxt`` (floats, and objects for the text columns), or None
    when the file needs the cell-by-cell reader (see the module doc)."""
    if not header or delimiter == " " or len(set(header)) != len(header):
        return None
    start = reader.line_num  # lines taken by the header
    sniffed = [row for _, row in zip(range(_SNIFFED_ROWS), reader)]
    if not sniffed or any(len(row) != len(header) for row in sniffed):
        return None
    textual = [name in text or not all(_finite_number(row[j]) for row in sniffed)
               for j, name in enumerate(header)]
    plain = not any(textual)  # numbers only: one (n, k) float64 array, no record fields
    dtype = np.float64 if plain else np.dtype([(f"c{j}", object if is_text else np.float64)
                                               for j, is_text in enumerate(textual)])
    try:
        records = np.loadtxt(io.StringIO(content), dtype=dtype, delimiter=delimiter, skiprows=start,
                             comments=None, ndmin=2 if plain else 1,
                             quotechar='"' if quoting != csv.QUOTE_NONE else None)
    except ValueError:
        return None  # a cell that is not a number, a row of another length: read cell by cell
    body_lines = content.count("\n") + (not content.endswith("\n")) - start
    if len(records) != body_lines or (plain and records.shape[1] != len(header)):
        return None  # blank lines or quoted line breaks: row positions would not be line numbers
    # NOTE: numeric columns are views into the records (strided, no copy).
    columns = [records[:, j] if plain else records[f"c{j}"] for j in range(len(header))]
    for j, is_text in enumerate(textual):
        if is_text:
            stripped = np.empty(len(records), dtype=object)
            stripped[:] = list(map(str.strip, columns[j]))
            columns[j] = stripped
        elif not np.isfinite(columns[j]).all():
            return None  # NaN or infinity: the cell-by-cell reader reports them as written
    return columns, np.arange(start + 1, start + 1 + len(records), dtype=np.int64)


def _read_cells(path: Path, reader, header: list[str], strip: bool) -> tuple[list[np.ndarray], np.ndarray]:
    """Every cell as stripped text, with its line; blank lines skipped."""
    rows, lines = [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank lines carry no sample
        if len(row) != len(header):
            raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields but the "
                            f"header has {len(header)}; check the delimiter and quoting")
        rows.append(list(map(str.strip, row)) if strip else row)
        lines.append(reader.line_num)
    # NOTE: filled in place: ``np.array`` of lists of strings would choose the padded fixed-width dtype.
    cells = np.empty((len(rows), len(header)), dtype=object)
    if rows:
        cells[:] = rows
    return [cells[:, j] for j in range(len(header))], np.array(lines, dtype=np.int64)


def _needs_strip(content: str, delimiter: str) -> bool:
    """Whether any cell can have blanks around it (an ASCII file without blanks or quotes has none)."""
    return not content.isascii() or any(blank in content for blank in _BLANKS if blank != delimiter)


def _finite_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _first_non_utf8_line(path: Path) -> int:
    """The 1-based number of the first line of ``path`` that does not decode as UTF-8."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1
