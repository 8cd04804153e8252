"""Text classification files as a ``Dataset``: one text column and one label column.

The texts stay text in ``X`` (shape ``(n, 1)``); the ``TextPreprocessor`` the dataset carries is
fitted on the training split by ``encode_splits`` (vocabulary and padded length are statistics of
the data). An empty text is refused here, naming its line, because no model can read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.data._cells import missing_mask
from knobs.data._csv import drop_rows
from knobs.data._dataset import TASKS, Dataset
from knobs.data._group_column import check_group_column, group_labels
from knobs.data._table import Table, read_table
from knobs.data._target import encode_targets, is_label_set_column, target_columns, target_roles
from knobs.data._text import TextPreprocessor
from knobs.data._tokens import tokenize
from knobs.errors import ConfigError, DataError

__all__ = ["load_text_csv", "TEXT_MISSING"]

TEXT_MISSING = ("error", "drop")  # a text cannot be imputed
_SHOWN = 5


def load_text_csv(
    path: str | Path,
    text_column: str = "text",
    target: str | Sequence[str] = "label",
    task: str | None = None,
    *,
    missing: str = "error",
    vocab_size: int = 20000,
    min_freq: int = 2,
    max_length: int = 256,
    max_classes: int = 20,
    delimiter: str | None = None,
    groups: str | None = None,
) -> Dataset:
    """Read a CSV or TSV file of texts and labels.

    Args:
        path: the file (``.tsv`` is read tab-separated without quoting).
        text_column: the column holding the texts.
        target: the label column (string labels are mapped to class indices, kept in
            ``class_names``), or a list of 0 / 1 label columns (multi-label: a text may carry several), or with
            ``task="multilabel"`` one column of each text's labels by name (``"sports;tech"``).
        task: as in ``load_csv`` (default: inferred from the target).
        missing: ``"error"`` (default) refuses empty texts and missing labels naming their lines;
            ``"drop"`` removes those rows and records how many and which lines.
        vocab_size, min_freq, max_length: the ``TextPreprocessor`` settings.
        max_classes: as in ``load_csv``.
        delimiter: the field separator (default: tab for ``.tsv``, comma otherwise).
        groups: a column of group ids (author, source) kept as ``Dataset.groups``; a row with no
            group is refused like a missing label (``missing="drop"`` removes it).

    Raises:
        DataError: a missing file or column, empty texts or missing labels under
            ``missing="error"``, or a target unfit for the task.
        ConfigError: a policy other than "error" or "drop".

    Example:
        >>> ds = load_text_csv("sst2/train.tsv", text_column="sentence")  # doctest: +SKIP
    """
    if missing not in TEXT_MISSING:
        raise ConfigError(f"missing = {missing!r} does not apply to text (a text cannot be filled in); "
                          f"use one of {TEXT_MISSING}")
    if task is not None and task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS} or None to infer it, got {task!r}")
    table = read_table(path, delimiter)
    table.require([text_column], "text_column")
    targets = target_columns(target)
    table.require(targets, "target")
    if text_column in targets:
        raise DataError(f"{table.path}: text_column and target are both {text_column!r}; they must differ")
    check_group_column(table, groups, {"text_column": text_column, **target_roles(targets)})
    empty = np.array([not tokenize(text) for text in table.column(text_column)], dtype=bool)
    unlabelled = (np.zeros(len(table), dtype=bool) if is_label_set_column(targets, task) else  # empty: no label
                  np.any([missing_mask(table.column(name)) for name in targets], axis=0))
    ungrouped = missing_mask(table.column(groups)) if groups else np.zeros(len(table), dtype=bool)
    labelled_by = f"column {targets[0]!r}" if len(targets) == 1 else f"columns {', '.join(map(repr, targets))}"
    kept, dropped = _apply_missing(table, text_column, labelled_by, groups, empty, unlabelled, ungrouped, missing)
    encoded = encode_targets(kept, targets, task, max_classes)
    loading = {"kind": "text", "file": str(table.path), "rows_read": len(table), "rows": len(kept),
               "text_column": text_column, "target": targets[0] if len(targets) == 1 else targets, "missing": missing,
               "empty_texts": int(empty.sum()), "missing_labels": int(unlabelled.sum()), **dropped}
    labels = group_labels(kept, groups)
    if labels is not None:
        loading.update(groups=groups, n_groups=int(len(np.unique(labels))))
    return Dataset(
        X=kept.column(text_column)[:, None], y=encoded.y, task=encoded.task,
        n_classes=encoded.n_classes, name=table.path.stem, feature_names=[text_column],
        class_names=encoded.class_names, source=str(path), loading=loading,
        preprocessor=TextPreprocessor(vocab_size, min_freq, max_length), groups=labels, row_ids=kept.lines,
    )


def _apply_missing(table: Table, text_column: str, labelled_by: str, groups: str | None, empty: np.ndarray,
                   unlabelled: np.ndarray, ungrouped: np.ndarray, policy: str) -> tuple[Table, dict]:
    bad = empty | unlabelled | ungrouped
    if not bad.any():
        return table, {"dropped_rows": 0}
    if policy == "drop":
        return drop_rows(table, bad)
    problems = [f"{kind} on line{'s' if mask.sum() > 1 else ''} {_lines(table, mask)}"
                for kind, mask in ((f"empty text in column {text_column!r}", empty),
                                   (f"missing label in {labelled_by}", unlabelled),
                                   (f"missing group in column {groups!r}", ungrouped)) if mask.any()]
    raise DataError(f"{table.path}: {'; '.join(problems)}. Every row needs a text with at least one "
                    f"word and a label{' and a group' if groups else ''}: fix or remove those rows, "
                    f"or set missing = \"drop\"")


def _lines(table: Table, mask: np.ndarray) -> str:
    lines = table.lines[mask]
    more = f" (+{len(lines) - _SHOWN} more)" if len(lines) > _SHOWN else ""
    return ", ".join(str(n) for n in lines[:_SHOWN]) + more
