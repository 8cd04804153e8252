"""Numeric CSV files as a ``Dataset``: one header row, numeric feature columns, one target column.

Why the standard ``csv`` module and not a vectorized reader: every refusal names the column and
the line (``column 'age', line 17: 'n/a'``), which needs the row positions a bulk parser drops.
Parsing is still column-wise numpy; the row-by-row scan only runs to locate a failure.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.data._dataset import TASKS, Dataset
from knobs.errors import DataError

__all__ = ["load_csv"]

# NOTE: "nan" parses as a float, so it is listed here to be reported as missing, not kept as NaN.
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})


def load_csv(
    path: str | Path,
    target: str = "label",
    task: str | None = None,
    *,
    features: Sequence[str] | None = None,
    max_classes: int = 20,
    delimiter: str = ",",
) -> Dataset:
    """Read a CSV file with a header row into a ``Dataset``.

    Args:
        path: the file.
        target: the name of the target column.
        task: ``"classification"``, ``"regression"``, or ``None`` to infer: a non-numeric target,
            or an integer-valued one with at most ``max_classes`` distinct values, is a
            classification target; anything else is regression.
        features: the feature columns to use (default: every column but the target).
        max_classes: the most distinct integer values a target may have to be inferred as classes.
        delimiter: the field separator.

    Returns:
        A ``Dataset`` with float32 features; classification labels are re-encoded to ``0..C-1``
        in sorted order of the original values, which are kept in ``class_names``.

    Raises:
        DataError: a missing file, a missing column (listing the columns), a non-numeric feature
            value (column and line), missing values (column and count), or a target unfit for the
            task.

    Example:
        >>> ds = load_csv("patients.csv", target="outcome")  # doctest: +SKIP
    """
    path = Path(path)
    if task is not None and task not in TASKS:
        raise DataError(f"task must be one of {TASKS} or None to infer it, got {task!r}")
    header, rows, lines = _read_rows(path, delimiter)
    columns = _select_columns(path, header, target, features)
    table = list(zip(*rows))  # column-major: table[j] holds column j's cells
    X = np.stack([_numeric_column(path, header[j], table[j], lines) for j in columns], axis=1)
    y, task, n_classes, class_names = _encode_target(
        path, target, table[header.index(target)], lines, task, max_classes
    )
    return Dataset(
        X=X.astype(np.float32), y=y, task=task, n_classes=n_classes, name=path.stem,
        feature_names=[header[j] for j in columns], class_names=class_names, source=str(path),
    )


def _read_rows(path: Path, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the data rows, and each row's line number in the file."""
    if not path.is_file():
        raise DataError(f"CSV file not found: {str(path)!r}; check the path (relative paths are "
                        f"resolved from {str(Path.cwd())!r})")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [name.strip() for name in next(reader, [])]
        rows, lines = [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank lines carry no sample
            if len(row) != len(header):
                raise DataError(f"{path}: line {reader.line_num} has {len(row)} fields but the "
                                f"header has {len(header)}; check the delimiter and quoting")
            rows.append(row)
            lines.append(reader.line_num)
    if not header or not rows:
        raise DataError(f"{path}: no data; expected a header row followed by one row per sample")
    return header, rows, lines


def _select_columns(path: Path, header: list[str], target: str,
                    features: Sequence[str] | None) -> list[int]:
    """Indices of the feature columns; every named column must exist exactly once."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: column names {repeated} appear more than once in the header")
    wanted = [target] + (list(features) if features is not None else [])
    missing = [name for name in wanted if name not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r}; the columns are {header}. "
                        f"Pass target=<one of them>")
    names = list(features) if features is not None else [n for n in header if n != target]
    if not names or target in names:
        raise DataError(f"{path}: need at least one feature column besides the target {target!r}")
    return [header.index(name) for name in names]


def _numeric_column(path: Path, name: str, cells: Sequence[str], lines: list[int]) -> np.ndarray:
    """One feature column as float64; refuses missing, non-numeric and infinite cells."""
    stripped = [cell.strip() for cell in cells]
    missing = np.array([cell.lower() in MISSING for cell in stripped])
    if missing.any():
        first = lines[int(np.argmax(missing))]
        raise DataError(f"{path}: column {name!r} has {int(missing.sum())} missing values (first on "
                        f"line {first}); drop those rows or fill them in before loading")
    try:
        values = np.array([float(cell) for cell in stripped], dtype=np.float64)
    except ValueError:
        row = next(i for i, cell in enumerate(stripped) if not _is_number(cell))
        raise DataError(f"{path}: column {name!r} is not numeric: line {lines[row]} holds "
                        f"{cells[row]!r}; encode it as numbers or leave it out with features=[...]"
                        ) from None
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}: column {name!r} has infinite values (first on line {lines[row]})")
    return values


def _encode_target(path: Path, name: str, cells: Sequence[str], lines: list[int],
                   task: str | None, max_classes: int):
    """``(y, task, n_classes, class_names)`` from the target column's cells."""
    stripped = [cell.strip() for cell in cells]
    missing = [i for i, cell in enumerate(stripped) if cell.lower() in MISSING]
    if missing:
        raise DataError(f"{path}: target column {name!r} has {len(missing)} missing values "
                        f"(first on line {lines[missing[0]]}); drop those rows")
    numeric = all(_is_number(cell) for cell in stripped)
    values = np.array([float(c) for c in stripped]) if numeric else np.array(stripped)
    if numeric and not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}: target column {name!r} has infinite values (first on line "
                        f"{lines[row]})")
    if task is None:
        task = _infer_task(values, numeric, max_classes)
    if task == "regression":
        if not numeric:
            row = next(i for i, cell in enumerate(stripped) if not _is_number(cell))
            raise DataError(f"{path}: regression target {name!r} is not numeric: line {lines[row]} "
                            f"holds {cells[row]!r}")
        return values.astype(np.float32), task, None, None
    classes, y = np.unique(values, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{path}: target column {name!r} holds a single class {classes.tolist()}; "
                        f"classification needs at least two")
    names = [_class_name(c) for c in classes]
    return y.astype(np.int64), task, len(classes), names


def _infer_task(values: np.ndarray, numeric: bool, max_classes: int) -> str:
    if not numeric:
        return "classification"
    integer = bool(np.all(values == np.round(values)))
    return "classification" if integer and len(np.unique(values)) <= max_classes else "regression"


def _class_name(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
