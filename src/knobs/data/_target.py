"""The target column of a file: class labels mapped to ``0..C-1`` (mapping kept), or numbers.

Why sorted original values: the mapping is then a pure function of the set of labels, so the same
file always gives the same class indices, and ``class_names[i]`` says what index ``i`` means.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from knobs.data._cells import missing_mask, parse_numbers
from knobs.data._table import Table
from knobs.errors import DataError

__all__ = ["Target", "encode_target"]


class Target(NamedTuple):
    y: np.ndarray
    task: str
    n_classes: int | None
    class_names: list[str] | None


def encode_target(table: Table, name: str, task: str | None, max_classes: int) -> Target:
    """Encode the target column of ``table``.

    Args:
        task: "classification", "regression", or None to infer: a non-numeric target, or an
            integer-valued one with at most ``max_classes`` distinct values, is a classification
            target; anything else is regression.

    Raises:
        DataError: missing values (count and first line), infinite values, a non-numeric
            regression target, or a single class.
    """
    cells, lines, where = table.column(name), table.lines, f"{table.path}: target column {name!r}"
    missing = np.flatnonzero(missing_mask(cells))
    if len(missing):
        raise DataError(f"{where} has {len(missing)} missing values (first on line "
                        f"{lines[missing[0]]}); drop those rows (missing = \"drop\") or fill them in")
    values, text = parse_numbers(cells)
    numeric = not text.any()
    if numeric and not np.isfinite(values).all():
        raise DataError(f"{where} has infinite values (first on line {lines[np.argmax(~np.isfinite(values))]})")
    task = task or _infer_task(values, numeric, max_classes)
    if task == "regression":
        if not numeric:
            row = int(np.argmax(text))
            raise DataError(f"{table.path}: regression target {name!r} is not numeric: line {lines[row]} "
                            f"holds {str(cells[row])!r}")
        return Target(values.astype(np.float32), task, None, None)
    classes, y = np.unique(values if numeric else cells, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{where} holds a single class {classes.tolist()}; classification needs at least two")
    return Target(y.astype(np.int64), task, len(classes), [_class_name(c) for c in classes])


def _infer_task(values: np.ndarray, numeric: bool, max_classes: int) -> str:
    if not numeric:
        return "classification"
    integer = bool(np.all(values == np.round(values)))
    return "classification" if integer and len(np.unique(values)) <= max_classes else "regression"


def _class_name(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
