"""``splits.json``: which rows a run trained, validated and tested on, by name.

Why a file of its own: a run's numbers are only reproducible and comparable when one can say which
rows made each split — to re-run another model on the same test rows, or to check that no patient
sits on both sides. Rows are named by what names them in the source: the line of a table or text
file, the path of an image, the position in a builder's or arrays file's data. In fold mode each
training row's fold is recorded too.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from knobs.data import Dataset, Splits

__all__ = ["split_record", "SPLITS_FILE"]

SPLITS_FILE = "splits.json"
FORMAT = 1


def split_record(dataset: Dataset, splits: Splits, test_ids: np.ndarray | None, folds: list | None,
                 test_source: str | None = None) -> dict:
    """The JSON record of the split (see the module doc and docs/architecture.md's Run directory)."""
    ids = dataset.ids()
    index = splits.index or {}
    record: dict = {"format": FORMAT, "source": dataset.source, "ids": _what(dataset)}
    for name in ("train", "val", "test"):
        positions = index.get(name)
        if positions is not None:
            record[name] = _plain(ids[positions])
        else:
            given_ids = test_ids if name == "test" and test_ids is not None else None
            pair = getattr(splits, name)
            record[name] = {"given": test_source if name == "test" and test_source else "by the data's source",
                            "rows": _plain(given_ids) if given_ids is not None else list(range(len(pair[1])))}
    test_rows = record["test"]["rows"] if isinstance(record["test"], dict) else record["test"]
    record["test_sha256"] = hashlib.sha256(json.dumps(test_rows).encode()).hexdigest()
    if folds:
        assignment = np.full(len(splits.train[1]), -1, dtype=np.int64)
        for fold in folds:
            assignment[fold.val_index] = fold.number
        record["folds"] = assignment.tolist()
    return record


def _what(dataset: Dataset) -> str:
    kind = dataset.loading.get("kind")
    if dataset.row_ids is None:
        return "position"
    return "file" if kind == "images" else ("line" if kind in ("tabular", "text") else "position")


def _plain(values) -> list:
    return [v.item() if hasattr(v, "item") else str(v) if not isinstance(v, (int, str)) else v for v in values]
