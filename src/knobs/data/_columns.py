"""What each feature column of a file holds: numbers or categories, and how many cells are missing.

Why decided over all rows: a column's kind is part of the file's schema, not a statistic, so it
leaks nothing from the held-out rows; deciding it on the training rows alone would let a split
change a column from numbers to text. Everything learned from values (fill values, categories) is
fitted on the training split by ``TabularPreprocessor``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from knobs.data._cells import MISSING, empty_column_message
from knobs.data._table import Table
from knobs.errors import DataError

__all__ = ["column_kinds", "missing_counts"]

_EXAMPLES = 3  # rows a message shows


def column_kinds(table: Table, names: Sequence[str], categorical: Sequence[str],
                 max_categories: int) -> dict[str, str]:
    """``{name: "numeric" | "categorical"}`` for the feature columns.

    A column is categorical when declared so or when none of its cells is a number.

    Raises:
        DataError: a column with no values, a column mixing numbers and text (naming example rows),
            infinite numbers, or a categorical column with more than ``max_categories`` values.
    """
    kinds = {}
    for name in names:
        cells = table.column(name)
        present = ~table.missing(name)
        if not present.any():
            raise DataError(f"{table.path}: {empty_column_message(name, cells, names, 'in the file')}")
        values, text = table.numbers(name)
        if name in categorical or not (present & ~text).any():
            kinds[name] = "categorical"
            _check_categories(table, name, cells[present], max_categories)
        elif text.any():
            raise DataError(_mixed_message(table, name, cells, present, text))
        else:
            _check_finite(table, name, values)
            kinds[name] = "numeric"
    return kinds


def missing_counts(table: Table, names: Sequence[str]) -> dict[str, int]:
    """Missing cells per column, for the columns that have any."""
    counts = {name: int(table.missing(name).sum()) for name in names}
    return {name: count for name, count in counts.items() if count}


def _mixed_message(table: Table, name: str, cells: np.ndarray, present: np.ndarray, text: np.ndarray) -> str:
    numbers = present & ~text
    # NOTE: the rarer kind is most likely the mistake, so its rows are the ones shown.
    shown, kind = (text, "text") if text.sum() <= numbers.sum() else (numbers, "numeric")
    rows = np.flatnonzero(shown)[:_EXAMPLES]
    examples = ", ".join(f"line {table.lines[i]}: {str(cells[i])!r}" for i in rows)
    return (f"{table.path}: column {name!r} mixes numbers and text ({int(numbers.sum())} numeric, "
            f"{int(text.sum())} text cells); {kind} cells are at {examples}. Fix those rows, write "
            f"missing values as one of {sorted(MISSING)}, or declare the column categorical "
            f"(categorical = [{name!r}])")


def _check_finite(table: Table, name: str, values: np.ndarray) -> None:
    infinite = np.isinf(values)
    if infinite.any():
        raise DataError(f"{table.path}: column {name!r} has infinite values (first on line "
                        f"{table.lines[np.argmax(infinite)]})")


def _check_categories(table: Table, name: str, present: np.ndarray, max_categories: int) -> None:
    distinct = len(np.unique(present))
    if distinct > max_categories:
        raise DataError(
            f"{table.path}: categorical column {name!r} has {distinct} distinct values in "
            f"{len(present)} rows (max_categories = {max_categories}); a column like this is free "
            f"text or an identifier: load it as text (kind = \"text\", text_column = {name!r}), "
            f"leave it out with features = [...], or raise max_categories"
        )
