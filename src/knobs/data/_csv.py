"""CSV files as a ``Dataset``: numeric and categorical feature columns, a named target column,
and an explicit policy for missing values.

Why the raw cells stay raw when they need encoding: filling a missing value or choosing the
categories of a one-hot code learns from the data, so it must happen after the split, on the
training rows only. A file whose features are all numbers and complete loads straight to float32;
any other file keeps its cells in an object ``X`` (text, and Python floats for the columns read
in bulk as numbers, see ``knobs.data._table``) and carries an unfitted ``TabularPreprocessor``
(``Dataset.preprocessor``) that ``encode_splits`` fits on the training split.

Everything the loader did (column kinds, missing cells per column, rows dropped and their lines)
is in ``Dataset.loading`` so a run can record it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from knobs.data._columns import column_kinds, missing_counts
from knobs.data._dataset import TASKS, Dataset
from knobs.data._group_column import check_group_column, group_labels
from knobs.data._table import Table, read_table
from knobs.data._tabular import IMPUTE, MISSING_POLICIES, TabularPreprocessor
from knobs.data._target import encode_targets, is_label_set_column, target_columns, target_roles
from knobs.errors import ConfigError, DataError

__all__ = ["load_csv", "drop_rows"]

_LINES_KEPT = 20  # dropped line numbers recorded in Dataset.loading


def load_csv(
    path: str | Path,
    target: str | Sequence[str] = "label",
    task: str | None = None,
    *,
    features: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    missing: str = "error",
    max_categories: int = 100,
    max_classes: int = 20,
    delimiter: str | None = None,
    groups: str | None = None,
) -> Dataset:
    """Read a CSV (or TSV) file with a header row into a ``Dataset``.

    Args:
        path: the file.
        target: the name of the target column, or a list of label columns (0 / 1 each: a multi-label target,
            each row carrying any of them); with ``task="multilabel"`` one column may hold each row's labels by
            name (``"sports;tech"``, see ``knobs.data._target.label_sets``).
        task: ``"classification"``, ``"regression"``, ``"multilabel"`` or ``None`` to infer: several target
            columns are multi-label; a non-numeric target, or an integer-valued one with at most
            ``max_classes`` distinct values, is a classification target; anything else is regression.
        features: the feature columns to use (default: every column but the target).
        categorical: columns to one-hot encode even though they hold numbers (zip codes, codes).
            A column with no numbers at all is categorical anyway.
        missing: what to do with missing cells (empty, ``NA``, ``n/a``, ``null``, ``none``,
            ``?``, ``nan``, ``-nan``, ``+nan``): ``"error"`` (default) refuses the file naming the
            columns and counts; ``"drop"`` removes those rows (recorded); ``"mean"``, ``"median"`` or
            ``"most_frequent"`` fill feature cells with a value learned on the training split
            (categorical columns always take their most frequent value). A missing target is
            never filled: only ``"drop"`` accepts it.
        max_categories: the most distinct values a categorical column may have; more means an
            identifier or free text, which one-hot encoding would turn into noise.
        max_classes: the most distinct integer values a target may have to be inferred as classes.
        delimiter: the field separator (default: tab for ``.tsv``, comma otherwise).
        groups: a column of group ids (patient, session) kept as ``Dataset.groups`` and left out
            of the features; a missing group is never filled (only ``missing="drop"`` accepts it).

    Returns:
        A ``Dataset``. Classification labels are re-encoded to ``0..C-1`` in sorted order of the
        original values, which are kept in ``class_names``. ``X`` is float32 when every feature is
        a complete numeric column; otherwise ``X`` holds the cells (text, or floats where a column
        was read as numbers) and ``preprocessor`` is the unfitted ``TabularPreprocessor`` that
        encodes them.

    Raises:
        DataError: a missing file or column (listing the columns), a column mixing numbers and text
            (with example lines), missing values under ``missing="error"`` (columns, counts, the
            options), infinite values, or a target unfit for the task.
        ConfigError: an unknown ``missing`` policy or ``task``.

    Example:
        >>> ds = load_csv("patients.csv", target="outcome", missing="median")  # doctest: +SKIP
        >>> ds.loading["missing_cells"]                                       # doctest: +SKIP
        {'age': 3}
    """
    _check_options(task, missing)
    # NOTE: categorical and group columns stay text even when they hold numbers ("02139").
    targets = target_columns(target)
    sets = is_label_set_column(targets, task)  # labels by name: text, and an empty cell is a row with none
    table = read_table(path, delimiter, bulk=True, text=[*categorical, *([groups] if groups else []),
                                                         *(targets if sets else [])])
    check_group_column(table, groups, target_roles(targets), features)
    names = _feature_names(table, targets, features, groups)
    unknown = [name for name in categorical if name not in names]
    if unknown:
        raise DataError(f"{table.path}: categorical columns {unknown} are not feature columns; the "
                        f"features are {names}")
    kinds = column_kinds(table, names, categorical, max_categories)
    counts = missing_counts(table, [*([] if sets else targets), *names, *([groups] if groups else [])])
    kept, dropped = _apply_missing(table, targets, counts, missing)
    encoded = encode_targets(kept, targets, task, max_classes)
    cats = [name for name in names if kinds[name] == "categorical"]
    needs_encoding = bool(cats) or bool(missing_counts(kept, names))
    loading = {
        "kind": "tabular", "file": str(table.path), "rows_read": len(table), "rows": len(kept),
        "target": targets[0] if len(targets) == 1 else targets, "numeric": [n for n in names if kinds[n] == "numeric"],
        "categorical": {n: int(len(np.unique(kept.column(n)[~kept.missing(n)]))) for n in cats},
        "missing": missing, "missing_cells": counts, **dropped,
    }
    labels = group_labels(kept, groups)
    if labels is not None:
        loading.update(groups=groups, n_groups=int(len(np.unique(labels))))
    return Dataset(
        X=kept.select(names) if needs_encoding else _floats(kept, names), y=encoded.y,
        task=encoded.task, n_classes=encoded.n_classes, name=table.path.stem, feature_names=names,
        class_names=encoded.class_names, source=str(path),
        preprocessor=TabularPreprocessor(names, cats, missing) if needs_encoding else None,
        loading=loading, groups=labels, row_ids=kept.lines,
    )


def drop_rows(table: Table, bad: np.ndarray) -> tuple[Table, dict]:
    """The table without the ``bad`` rows, and the record of what went: count and first lines."""
    if bad.all():
        raise DataError(f"{table.path}: every row has a missing value, so missing = \"drop\" leaves "
                        f"no data; fill them in or choose an imputing policy")
    lines = table.lines[bad]
    return table.keep(~bad), {"dropped_rows": int(bad.sum()), "dropped_lines": lines[:_LINES_KEPT].tolist()}


def _check_options(task: str | None, missing: str) -> None:
    if task is not None and task not in TASKS:
        raise ConfigError(f"task must be one of {TASKS} or None to infer it, got {task!r}")
    if missing not in MISSING_POLICIES:
        raise ConfigError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")


def _feature_names(table: Table, targets: list[str], features: Sequence[str] | None,
                   groups: str | None = None) -> list[str]:
    """The feature columns (never a target or the group column); every named column must exist."""
    table.require(targets, "target")
    if features is not None:
        table.require(list(features), "features")
    names = list(features) if features is not None else [n for n in table.header if n not in (*targets, groups)]
    if not names or set(targets) & set(names):
        shown = targets[0] if len(targets) == 1 else targets
        raise DataError(f"{table.path}: need at least one feature column besides the target {shown!r}")
    return names


def _apply_missing(table: Table, targets: list[str], counts: dict[str, int], policy: str) -> tuple[Table, dict]:
    """Refuse, drop or keep (for filling later) the missing cells, per ``policy``."""
    if not counts:
        return table, {"dropped_rows": 0}
    if policy == "drop":
        bad = np.zeros(len(table), dtype=bool)
        for name in counts:
            bad |= table.missing(name)
        return drop_rows(table, bad)
    for target in (name for name in targets if name in counts):
        raise DataError(f"{table.path}: target column {target!r} has {counts[target]} missing values "
                        f"(first on line {_first_missing(table, target)}); a target is never filled "
                        f"in: drop those rows (missing = \"drop\") or fill them in the file")
    if policy in IMPUTE:
        return table, {"dropped_rows": 0}
    where = ", ".join(f"{name!r}: {count} (first on line {_first_missing(table, name)})"
                      for name, count in counts.items())
    raise DataError(
        f"{table.path}: missing values in {len(counts)} column(s): {where}. Choose a policy: "
        f"missing = \"drop\" (remove those rows), \"mean\" or \"median\" (fill numeric columns with "
        f"the training split's mean or median; categorical columns take their most frequent value) "
        f"or \"most_frequent\""
    )


def _first_missing(table: Table, name: str) -> int:
    return int(table.lines[np.argmax(table.missing(name))])


def _floats(table: Table, names: list[str]) -> np.ndarray:
    """Complete numeric columns as float32 (``column_kinds`` has checked every cell parses)."""
    X = np.empty((len(table), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        X[:, j] = table.numbers(name)[0]
    return X
