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

__all__ = ["Target", "encode_target", "encode_targets", "label_rows", "label_sets", "is_label_rows",
           "is_label_set_column", "value_rows", "target_roles",
           "target_columns", "SEPARATORS"]

#: what may separate the labels of one cell of a label-set column (``"sports;tech"``), one kind per column
SEPARATORS = (";", "|", ",")


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


def is_label_rows(y: np.ndarray) -> bool:
    """Rows of several 0 / 1 labels ``(n, K)``: a multi-label target (each row may carry any of the K labels)."""
    return y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf" and bool(np.isin(y, (0, 1)).all())


def is_label_set_column(targets: Sequence[str], task: str | None) -> bool:
    """One target column read as each row's labels by name (``task="multilabel"``): its empty cells are rows with
    no label, not missing targets."""
    return len(targets) == 1 and task == "multilabel"


def target_roles(targets: Sequence[str]) -> dict[str, str]:
    """``{option: column}`` of the target columns, as a loader names them beside its other columns' roles."""
    return {"target" + ("" if len(targets) == 1 else f"[{i}]"): name for i, name in enumerate(targets)}


def target_columns(target: str | Sequence[str]) -> list[str]:
    """The target column names: one (a class or a value per row) or several (multi-label: a 0 / 1 column each)."""
    names = [target] if isinstance(target, str) else list(target)
    if not names or len(set(names)) != len(names):
        raise DataError(f"target: expected a column name or a list of distinct label column names, got {target!r}")
    return names


def encode_targets(table: Table, names: Sequence[str], task: str | None, max_classes: int) -> Target:
    """``encode_target`` of one column; several columns are a multi-label target — each a label, 0 / 1 per row
    (``true`` / ``false`` read as 1 / 0), ``y`` their ``(n, K)`` float32 rows, ``class_names`` the column names —
    or, holding other numbers (or given ``task="regression"``), K values regressed together (``y`` ``(n, K)``
    float32). One column with ``task="multilabel"`` holds each row's set of labels by name (``label_sets``).

    Raises:
        DataError: a label column with another value (the line and the cell) or missing cells; several columns
            given ``task="classification"``; a set column mixing separators.
    """
    if len(names) == 1 and task != "multilabel":
        return encode_target(table, names[0], task, max_classes)
    if task == "classification":
        raise DataError(f"{table.path}: target names {len(names)} columns {list(names)}; a classification takes one "
                        f"target column: leave data.task out (0 / 1 columns: a multi-label target; numbers: several "
                        f"values to regress), or set it to \"multilabel\" or \"regression\"")
    if task == "regression":
        return Target(value_rows(table, names), "regression", None, None)
    if len(names) == 1:
        y, labels = label_sets(table, names[0])
        if y.sum(axis=1).max() <= 1 and not parse_numbers(table.column(names[0]))[1].any():
            raise DataError(f"{table.path}: data.task = \"multilabel\" with one target column reads each row's labels "
                            f"by name (\"sports;tech\"), but {names[0]!r} holds one number per row: name one 0 / 1 "
                            f"column per label as the target (target = [\"{names[0]}\", \"...\"]), or leave "
                            f"data.task out for one class per row")
        return Target(y, "multilabel", len(labels), labels)
    try:
        y = label_rows(table, names)
    except DataError:
        if task == "multilabel":
            raise
        return Target(value_rows(table, names), "regression", None, None)  # not all 0 / 1: values to regress
    # NOTE: a label set in no row (or every row) is read, not refused: an official test file may lack a rare label;
    # the run's preflight (label_frequency) warns when the training rows do
    return Target(y, "multilabel", len(names), [str(name) for name in names])


def value_rows(table: Table, names: Sequence[str]) -> np.ndarray:
    """The ``(n, K)`` float32 values of several numeric target columns (a regression of K values per row).

    Raises:
        DataError: a missing, non-numeric or infinite cell, naming the column, the line and the cell.
    """
    columns = []
    for name in names:
        cells, lines, where = _complete(table, name, "target")
        values, text = parse_numbers(cells)
        bad = np.flatnonzero(text | ~np.isfinite(values))
        if len(bad):
            raise DataError(f"{where}: several target columns are regressed together and must hold finite numbers; "
                            f"line {lines[bad[0]]} holds {str(cells[bad[0]])!r}")
        columns.append(values)
    return np.stack(columns, axis=1).astype(np.float32)


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


def label_sets(table: Table, name: str, labels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """A column holding each row's labels by name (``"sports;tech"``; ``;``, ``|`` or ``,`` between them, one kind
    per column; spaces around a name dropped; an empty or missing cell: no label) as ``(n, K)`` float32 0 / 1 rows
    and the K label names — sorted, or ``labels`` (a run's, in its order) when given.

    Raises:
        DataError: a column mixing separators (naming a line of each), or — with ``labels`` — a label not among them.
    """
    cells, lines = table.column(name), table.lines
    texts = ["" if missing else _class_name(cell) for cell, missing in zip(cells, missing_mask(cells))]
    used = {sep: next((i for i, text in enumerate(texts) if sep in text), None) for sep in SEPARATORS}
    used = {sep: i for sep, i in used.items() if i is not None}
    if len(used) > 1:
        shown = ", ".join(f"{sep!r} (line {lines[i]}: {texts[i]!r})" for sep, i in used.items())
        raise DataError(f"{table.path}: label column {name!r} separates its labels with {shown}; use one of them "
                        f"throughout")
    sep = next(iter(used), SEPARATORS[0])
    sets = [{part.strip() for part in text.split(sep)} - {""} for text in texts]
    found = sorted(set().union(*sets))
    names = list(labels) if labels is not None else found
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise DataError(f"{table.path}: label column {name!r} holds label(s) {unknown[:10]} that the run's training "
                        f"data lacks; its labels are {names[:20]}. A model cannot predict a label it never saw")
    index = {label: k for k, label in enumerate(names)}
    y = np.zeros((len(texts), len(names)), np.float32)
    for row, labels_of_row in enumerate(sets):
        y[row, [index[label] for label in labels_of_row]] = 1.0
    return y, [str(label) for label in names]


def _complete(table: Table, name: str, role: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The cells of column ``name``, the file's line numbers and how a message names the column; a missing cell
    is refused (a target is never filled in)."""
    cells, lines, where = table.column(name), table.lines, f"{table.path}: {role} column {name!r}"
    missing = np.flatnonzero(missing_mask(cells))
    if len(missing):
        raise DataError(f"{where} has {len(missing)} missing values (first on line {lines[missing[0]]}); drop those "
                        f"rows (missing = \"drop\") or fill them in")
    return cells, lines, where
