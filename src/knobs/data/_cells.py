"""Text cells of a table: which count as missing, which parse as numbers.

Why one module: the loader that reads a file and the preprocessor that re-applies its encoding at
prediction time must agree on both, cell for cell.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MISSING", "missing_mask", "parse_numbers"]

# NOTE: "nan" parses as a float, so it is listed here to be reported as missing, not kept as NaN.
MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})


def missing_mask(cells) -> np.ndarray:
    """True where a cell is missing: one of ``MISSING`` (any case, blanks around), None, or NaN."""
    return np.array([_is_missing(cell) for cell in np.asarray(cells, dtype=object).ravel()],
                    dtype=bool).reshape(np.shape(cells))


def parse_numbers(cells) -> tuple[np.ndarray, np.ndarray]:
    """``(values, text)`` of a 1-D run of cells.

    ``values`` is float64 with NaN where a cell is missing or not a number; ``text`` marks the cells
    that are present but not numbers (the ones a message should show).
    """
    values = np.full(len(cells), np.nan)
    text = np.zeros(len(cells), dtype=bool)
    for i, cell in enumerate(cells):
        if _is_missing(cell):
            continue
        try:
            values[i] = float(cell)
        except (TypeError, ValueError):
            text[i] = True
    return values, text


def _is_missing(cell) -> bool:
    if cell is None:
        return True
    if isinstance(cell, (float, np.floating)):
        return bool(np.isnan(cell))
    return isinstance(cell, str) and cell.strip().lower() in MISSING
