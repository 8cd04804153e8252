"""Text cells of a table: which count as missing, which parse as numbers.

Why one module: the loader that reads a file and the preprocessor that re-applies its encoding at
prediction time must agree on both, cell for cell.

Why whole columns at a time: a 10,000 x 785 table has 7.85 million cells, and a Python function
called once per cell (several times over) made reading it take 20 s where ``numpy.loadtxt`` takes
0.5 s. Both functions here work on a column with C loops (a float column needs ``isnan`` only; a
column of strings one ``str.strip`` and one set look-up per cell, and one ``astype(float)``) and
fall back to a per-cell loop only for the cells that need it (mixed types, text among numbers).
"""

from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np

__all__ = ["MISSING", "empty_column_message", "missing_mask", "parse_numbers"]

# NOTE: "nan" parses as a float, so it is listed here to be reported as missing, not kept as NaN;
# so do "-nan" and "+nan" (what C's printf and some exporters write for a missing float), which
# were otherwise read as NaN numbers: a column of them was no missing value and all NaN features.
MISSING = frozenset({"", "na", "nan", "-nan", "+nan", "n/a", "null", "none", "?"})

# Every spelling of a missing marker in any case ("NA", "Na", "nA", "na", ...): membership in this
# set is the per-cell test, with no ``lower()`` call.
_SPELLINGS = frozenset("".join(chars) for word in MISSING
                       for chars in product(*({c.lower(), c.upper()} for c in word)))


_NUMBER_TYPES = {float, int, np.float64, np.float32, np.int64}


def missing_mask(cells) -> np.ndarray:
    """True where a cell is missing: one of ``MISSING`` (any case, blanks around), None, or NaN."""
    array = np.asarray(cells)
    kind = array.dtype.kind
    if kind in "fc":
        return np.isnan(array)
    if kind in "iub":
        return np.zeros(array.shape, dtype=bool)
    flat = array.ravel()
    if kind in "US":
        # NOTE: fixed-width strings: numpy's own string functions, no Python object per cell.
        stripped = np.strings.strip(flat.astype(str) if kind == "S" else flat)
        return np.isin(np.strings.lower(stripped), list(MISSING)).reshape(array.shape)
    types = set(map(type, flat))
    if types <= {str}:
        stripped = map(str.strip, flat)
        return np.fromiter(map(_SPELLINGS.__contains__, stripped), dtype=bool, count=len(flat)).reshape(array.shape)
    if types <= _NUMBER_TYPES:  # numbers read in bulk, as Python floats in an object array
        return np.isnan(flat.astype(np.float64)).reshape(array.shape)
    return np.fromiter(map(_is_missing, flat), dtype=bool, count=len(flat)).reshape(array.shape)


def empty_column_message(name: str, cells, columns: Sequence[str], where: str) -> str:
    """The one message for a feature column with no values ``where`` (every cell a missing marker):
    the markers found, why it cannot be kept, and the ``features`` list that leaves it out.

    NOTE: refused, not dropped nor filled. A missing cell is filled from the values of its column
    in training (mean, median, most frequent) and a column of none has no value to give: filling it
    would invent one (a 0, a NaN), which is no longer "filled from training". Nor is it dropped
    with a warning, as a constant column is kept with one (``knobs.checks``' constant_features):
    a constant column's value is data, and dropping a column would change the features the config
    names and ``knobs predict`` reads behind the user's back. The fix is one edit, which the message
    spells out.
    """
    markers = sorted({str(cell).strip() for cell in np.asarray(cells, dtype=object).ravel()})
    shown = ", ".join(repr(m) for m in markers[:3]) + (", ..." if len(markers) > 3 else "")
    others = [c for c in columns if c != name]
    fix = (f"leave it out: features = {others}" if others else
           "it is the only feature column, so there is nothing to learn from: fill it in")
    return (f"column {name!r} has no values {where}: every cell is a missing marker ({shown}); there is "
            f"nothing to learn from or fill it with, so {fix}")


def parse_numbers(cells) -> tuple[np.ndarray, np.ndarray]:
    """``(values, text)`` of a 1-D run of cells.

    ``values`` is float64 with NaN where a cell is missing or not a number; ``text`` marks the cells
    that are present but not numbers (the ones a message should show).
    """
    array = np.asarray(cells)
    if array.dtype.kind in "fiub":
        return array.astype(np.float64, copy=False), np.zeros(len(array), dtype=bool)
    absent = missing_mask(array)
    values = np.full(len(array), np.nan)
    text = np.zeros(len(array), dtype=bool)
    present = np.flatnonzero(~absent)
    try:
        # NOTE: object cells go through Python's float() in numpy's C loop; a fixed-width string
        # array is turned to objects first so both accept exactly what float() accepts.
        values[present] = array[present].astype(object).astype(np.float64)
    except (TypeError, ValueError):
        for i in present:  # some cell is not a number: find which, one by one
            try:
                values[i] = float(array[i])
            except (TypeError, ValueError):
                text[i] = True
    return values, text


def _is_missing(cell) -> bool:
    if cell is None:
        return True
    if isinstance(cell, (float, np.floating)):
        return bool(np.isnan(cell))
    return isinstance(cell, str) and cell.strip().lower() in MISSING
