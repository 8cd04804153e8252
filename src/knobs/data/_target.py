"""The target column of a file: class labels mapped to ``0..C-1`` (mapping kept), or numbers; several 0 / 1
label columns as one multi-label target.

Why sorted original values: the mapping is then a pure function of the set of labels, so the same
file always gives the same class indices, and ``class_names[i]`` says what index ``i`` means.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from knobs.data._cells import missing_mask, parse_numbers
from knobs.data._table import Table
from knobs.errors import DataError

__all__ = ["Target", "encode_target", "encode_targets", "label_rows", "target_columns"]


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
    cells, lines, where = _complete(table, name, "target")
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


def target_columns(target: str | Sequence[str]) -> list[str]:
    """The target column names: one (a class or a value per row) or several (multi-label: a 0 / 1 column each)."""
    names = [target] if isinstance(target, str) else list(target)
    if not names or len(set(names)) != len(names):
        raise DataError(f"target: expected a column name or a list of distinct label column names, got {target!r}")
    return names


def encode_targets(table: Table, names: Sequence[str], task: str | None, max_classes: int) -> Target:
    """``encode_target`` of one column; several columns are a multi-label target: each a label, 0 / 1 per row
    (``true`` / ``false`` read as 1 / 0), ``y`` their ``(n, K)`` float32 rows, ``class_names`` the column names.

    Raises:
        DataError: a label column with another value (the line and the cell) or missing cells; one column given
            ``task="multilabel"``, several another task.
    """
    if len(names) == 1 and task != "multilabel":
        return encode_target(table, names[0], task, max_classes)
    if task not in (None, "multilabel"):
        raise DataError(f"{table.path}: target names {len(names)} columns {list(names)}, a multi-label target; "
                        f"data.task = {task!r} takes one target column: leave data.task out (or \"multilabel\")")
    if len(names) == 1:
        raise DataError(f"{table.path}: data.task = \"multilabel\" reads one 0 / 1 column per label; name them all "
                        f"as the target (target = [\"{names[0]}\", \"...\"])")
    # NOTE: a label set in no row (or every row) is read, not refused: an official test file may lack a rare label;
    # the run's preflight (label_frequency) warns when the training rows do
    return Target(label_rows(table, names), "multilabel", len(names), [str(name) for name in names])


def label_rows(table: Table, names: Sequence[str]) -> np.ndarray:
    """The ``(n, K)`` float32 0 / 1 rows of the label columns ``names`` (``true`` / ``false`` read as 1 / 0).

    Raises:
        DataError: a missing cell or another value, naming the column, the line and the cell.
    """
    return np.stack([_label_column(table, name) for name in names], axis=1)


def _label_column(table: Table, name: str) -> np.ndarray:
    cells, lines, where = _complete(table, name, "label")
    values, text = parse_numbers(cells)
    words = np.char.lower(np.asarray(cells, dtype=str)) if text.any() else None
    if words is not None:
        values = np.where(words == "true", 1.0, np.where(words == "false", 0.0, values))
        text = text & ~np.isin(words, ("true", "false"))
    bad = np.flatnonzero(text | ~np.isin(values, (0.0, 1.0)))
    if len(bad):
        raise DataError(f"{where}: a label column holds 0 or 1 (or true / false) in every row; line "
                        f"{lines[bad[0]]} holds {str(cells[bad[0]])!r}")
    return values.astype(np.float32)


def _complete(table: Table, name: str, role: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The cells of column ``name``, the file's line numbers and how a message names the column; a missing cell
    is refused (a target is never filled in)."""
    cells, lines, where = table.column(name), table.lines, f"{table.path}: {role} column {name!r}"
    missing = np.flatnonzero(missing_mask(cells))
    if len(missing):
        raise DataError(f"{where} has {len(missing)} missing values (first on line {lines[missing[0]]}); drop those "
                        f"rows (missing = \"drop\") or fill them in")
    return cells, lines, where
