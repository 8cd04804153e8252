"""One entry point from a config's ``data`` string to a ``Dataset``."""

from __future__ import annotations

from pathlib import Path

from knobs.data._builtin import BUILTIN, load_builtin
from knobs.data._csv import load_csv
from knobs.data._dataset import Dataset
from knobs.errors import DataError

__all__ = ["load_dataset"]


def load_dataset(source: str | Path | Dataset, *, target: str = "label", task: str | None = None,
                 **csv_options) -> Dataset:
    """Load data named by a string: a built-in name or a CSV path.

    Args:
        source: ``"digits"`` or ``"builtin:digits"`` (see ``load_builtin``), a path ending in
            ``.csv``, or a ``Dataset`` (returned as is).
        target, task, csv_options: passed to ``load_csv`` for CSV files.

    Raises:
        DataError: for a source that is neither, listing the accepted forms.

    Example:
        >>> load_dataset("builtin:iris").n_classes
        3
    """
    if isinstance(source, Dataset):
        return source
    text = str(source)
    if text.startswith("builtin:") or (isinstance(source, str) and text in BUILTIN):
        return load_builtin(text)
    if text.lower().endswith(".csv"):
        return load_csv(text, target=target, task=task, **csv_options)
    raise DataError(f"data source {text!r} is neither a built-in data set ({sorted(BUILTIN)}, "
                    f"optionally as 'builtin:<name>') nor a path ending in .csv")
