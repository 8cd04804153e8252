"""A delimited text file read as a table of columns, every row tied to its line in the file.

Two readers, one result. With ``bulk=True`` (``load_csv``), ``numpy.loadtxt`` reads the file in
one C pass: float64 for the columns that hold only finite numbers, Python strings for the others
(class names, categories, a column with a missing cell, a NaN or an infinity: such a cell makes its
column text and the read starts again). A file it cannot take as it is (a row of another length,
a blank line, a quoted line break, text met late in a long file) is read by the standard ``csv``
module, cell by cell, as every file was before. Every refusal names the column and the line
(``column 'age', line 17: 'n/a'``): in both readers row ``i`` came from line ``lines[i]``, and the
checks (missing cells, columns mixing numbers and text, infinities) run on the same cells, so the
messages are the same.

A column is either float64 (read in bulk: every cell a finite number) or an object array of
stripped Python strings (every column without ``bulk``). Why object and not numpy's fixed-width
``str`` dtype: a fixed-width array pads every cell to the longest one, in UTF-32 (4 bytes a
character), so one 100 kB review among 50,000 short cells would take 20 GB. Object cells keep each string at its own size (one byte a
character for ASCII) and behave the same for indexing, ``==``, ``np.unique`` and
``astype(float)``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.data._cells import missing_mask, parse_numbers
from knobs.errors import DataError

__all__ = ["Table", "read_table", "default_delimiter"]

_SNIFFED_ROWS = 100  # rows read cell by cell to guess which columns are text before the bulk read
_CELL_ERROR = re.compile(r"could not convert string .* at row (\d+), column (\d+)\.")
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
    body_lines = content.count("\n") + (not content.endswith("\n")) - start
    records = _load_records(content, delimiter, start, quoting, textual, 2 * body_lines)
    if records is None:
        return None  # a row of another length, text found too late, ...: read cell by cell
    if len(records) != body_lines or (not any(textual) and records.shape[1] != len(header)):
        return None  # blank lines or quoted line breaks: row positions would not be line numbers
    columns = _columns(records, textual)
    unfinite = [j for j, column in enumerate(columns) if column.dtype.kind == "f" and not np.isfinite(column).all()]
    if unfinite:
        # NOTE: "nan", "inf" parse as floats; read as text, "nan" counts as missing and an
        # infinity is refused naming its line, as the cell-by-cell reader would.
        for j in unfinite:
            textual[j] = True
        records = _load_records(content, delimiter, start, quoting, textual, body_lines)
        if records is None:
            return None
        columns = _columns(records, textual)
    return columns, np.arange(start + 1, start + 1 + len(records), dtype=np.int64)


def _columns(records: np.ndarray, textual: list[bool]) -> list[np.ndarray]:
    """The columns of ``_load_records``' result: float64 views (strided, no copy) and stripped text."""
    plain = not any(textual)
    columns = [records[:, j] if plain else records[f"c{j}"] for j in range(len(textual))]
    for j, is_text in enumerate(textual):
        if is_text:
            stripped = np.empty(len(records), dtype=object)
            stripped[:] = list(map(str.strip, columns[j]))
            columns[j] = stripped
    return columns


def _load_records(content: str, delimiter: str, start: int, quoting: int, textual: list[bool],
                  budget: int) -> np.ndarray | None:
    """``numpy.loadtxt`` of the body: float64 ``(n, k)`` when no column is text, else records with
    one field per column (object for text). A cell that is not a number in a column taken for
    numbers makes that column text and the read start again, as long as the rows read before
    failing stay within ``budget`` (a missing cell is usually met in the first rows). ``textual`` is
    updated in place; None when the file must be read cell by cell."""
    while True:
        plain = not any(textual)  # numbers only: one (n, k) float64 array, no record fields
        dtype = np.float64 if plain else np.dtype([(f"c{j}", object if is_text else np.float64)
                                                   for j, is_text in enumerate(textual)])
        try:
            return np.loadtxt(io.StringIO(content), dtype=dtype, delimiter=delimiter, skiprows=start,
                              comments=None, ndmin=2 if plain else 1,
                              quotechar='"' if quoting != csv.QUOTE_NONE else None)
        except ValueError as error:
            # NOTE: numpy names the cell ("could not convert string 'NA' to float64 at row 9,
            # column 3."); any other failure (or wording) goes to the cell-by-cell reader.
            found = _CELL_ERROR.search(str(error))
            if found is None or int(found[2]) > len(textual) or textual[int(found[2]) - 1]:
                return None
            budget -= int(found[1]) + 1
            if budget < 0:
                return None
            textual[int(found[2]) - 1] = True


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
