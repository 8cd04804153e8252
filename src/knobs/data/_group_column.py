"""The group column of a table (``data.groups``): read beside the features, never one of them.

Why rules of its own: a group id (patient, session, recording) decides how rows may be split, so
every row needs one — a row without a group could land on the other side of a split from its
siblings — and it must not be a feature, or the model would learn *who* a row belongs to instead
of the pattern. Both table loaders (``load_csv``, ``load_text_csv``) call these checks.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from knobs.data._cells import missing_mask
from knobs.data._table import Table
from knobs.errors import DataError

__all__ = ["check_group_column", "group_labels"]


def check_group_column(table: Table, groups: str | None, taken: dict[str, str],
                       features: Sequence[str] | None = None) -> None:
    """Refuse a group column that is missing, that is another role's column, or a listed feature.

    Args:
        table: the file's cells.
        groups: the group column's name, or None (nothing to check).
        taken: ``{option: column}`` of the columns with another role (the target, the text).
        features: the feature columns the user listed, if any.

    Raises:
        DataError: naming the column and what to change.
    """
    if groups is None:
        return
    table.require([groups], "groups (data.groups)")
    for option, column in taken.items():
        if column == groups:
            raise DataError(f"{table.path}: data.groups and {option} are both {groups!r}; the group "
                            f"column must be a column of its own")
    if features is not None and groups in features:
        raise DataError(f"{table.path}: the group column {groups!r} is also listed in data.features; "
                        f"a group id is not a feature (the model would learn the group, not the "
                        f"pattern): remove it from features")


def group_labels(table: Table, groups: str | None) -> np.ndarray | None:
    """The group label of every row (as text), or None; a missing label stops with its lines."""
    if groups is None:
        return None
    labels = table.column(groups)
    absent = missing_mask(labels)
    if absent.any():
        lines = table.lines[absent][:5].tolist()
        raise DataError(f"{table.path}: the group column {groups!r} has {int(absent.sum())} missing "
                        f"values (lines {lines}); a group is never filled in: fill them in the file "
                        f"or set missing = \"drop\"")
    return labels.astype(str)
