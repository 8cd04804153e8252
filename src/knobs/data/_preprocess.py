"""Fitting a data set's preprocessing on the training split, and keeping it with the run.

Why here and not in each loader: the order matters and is the same for every kind of data —
split first, fit on the training rows only, then encode every split (and, later, prediction rows)
with the fitted object. ``encode_splits`` is that order; ``Preprocessing`` is its result plus the
training-split standardizer, saved as plain JSON (``preprocess.json`` in a run directory, no
pickles) so prediction re-applies exactly what training saw.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from knobs.data._cells import missing_mask
from knobs.data._dataset import Dataset
from knobs.data._images import read_image
from knobs.data._pretrained_tokens import PretrainedTokenizer
from knobs.data._splits import Splits
from knobs.data._standardize import Standardizer
from knobs.data._tabular import TabularPreprocessor
from knobs.data._text import TextPreprocessor
from knobs.errors import ConfigError, DataError

__all__ = ["PREPROCESSORS", "Preprocessing", "UnseenCategoryWarning", "encode_splits", "preprocessor_from_state"]

#: ``kind`` → class: the registry ``preprocess.json`` is read back through.
PREPROCESSORS: dict[str, type] = {"tabular": TabularPreprocessor, "text": TextPreprocessor,
                                  "pretrained_tokenizer": PretrainedTokenizer}
FORMAT = 1


def encode_splits(dataset: Dataset, splits: Splits) -> tuple[Any, Splits, dict]:
    """Fit a fresh copy of ``dataset.preprocessor`` on the training split; encode every split.

    Returns:
        ``(fitted preprocessor, encoded splits, report)``; the report says, per split, what
        encoding did (missing cells filled, unseen categories, unknown tokens, texts cut).
        Without a preprocessor: ``(None, splits, {})`` unchanged.

    Example:
        >>> pre, splits, report = encode_splits(ds, split(ds))  # doctest: +SKIP
    """
    if dataset.preprocessor is None:
        return None, splits, {}
    fitted = copy.deepcopy(dataset.preprocessor).fit(splits.train[0])
    pairs = {"train": splits.train, "val": splits.val, "test": splits.test}
    report: dict[str, Any] = {"fitted_on": "train"}
    encoded = {}
    for name, pair in pairs.items():
        if pair is None:
            continue
        X, y = pair
        report[name] = fitted.audit(X) if len(X) else {"rows": 0}
        encoded[name] = (fitted.transform(X) if len(X) else _empty(fitted), y)
    return fitted, Splits(train=encoded["train"], val=encoded["val"], test=encoded.get("test")), report


def preprocessor_from_state(record: dict):
    """A fitted preprocessor from ``{"kind": ..., "state": ...}`` (``None`` passes through)."""
    if record is None:
        return None
    kind = record.get("kind") if isinstance(record, dict) else None
    if kind not in PREPROCESSORS:
        raise ConfigError(f"unknown preprocessor kind {kind!r}; expected one of {sorted(PREPROCESSORS)}")
    preprocessor = PREPROCESSORS[kind]()
    preprocessor.load_state_dict(record.get("state", {}))
    return preprocessor


@dataclass(frozen=True, eq=False)
class Preprocessing:
    """Raw rows → model input, as fitted for one run.

    Attributes:
        preprocessor: the fitted ``TabularPreprocessor`` / ``TextPreprocessor``, or None when the
            raw rows are already numbers (numeric CSV, images).
        standardizer: the training-split ``Standardizer``.
        input_shape: the shape of one model input.
        record: JSON facts: source, what loading did, the target's classes, the encoding report.

    Example:
        >>> prep = Preprocessing.load("runs/exp1/preprocess.json")  # doctest: +SKIP
        >>> X = prep.transform(rows_of_cells)                         # doctest: +SKIP
    """

    preprocessor: Any
    standardizer: Standardizer
    input_shape: tuple[int, ...]
    record: dict = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: Dataset, preprocessor, standardizer: Standardizer,
           input_shape: Sequence[int], report: dict) -> "Preprocessing":
        """Gather a run's preprocessing with the facts a prediction needs about the data."""
        record = {"source": dataset.source, "loading": dataset.loading, "encoding": report,
                  "task": dataset.task, "class_names": dataset.class_names,
                  "feature_names": dataset.feature_names}
        return cls(preprocessor, standardizer, tuple(int(s) for s in input_shape), record)

    def transform(self, X) -> np.ndarray:
        """Raw rows (as the loader gave them in ``Dataset.X``) → standardized float32 model input.

        Warns:
            UnseenCategoryWarning: rows holding a category the training split never had, per
                column with the count and examples (they encode as all zeros in that column's
                one-hot block; see ``UnseenCategoryWarning``).
        """
        if self.preprocessor is not None and self.preprocessor.kind == "tabular" and len(X):
            _warn_unseen(self.preprocessor, np.asarray(X))
        X = self.preprocessor.transform(X) if self.preprocessor is not None else np.asarray(X, dtype=np.float32)
        X = np.asarray(X).reshape((len(X), *self.input_shape))
        return self.standardizer.transform(X.astype(np.float32))

    def transform_files(self, paths: Sequence[str | Path]) -> np.ndarray:
        """Image files → model input, decoded as in training (image runs only); the first file
        that does not decode stops it (``DataError``)."""
        return self._decode_files(paths, skip=False)[0]

    def transform_readable_files(self, paths: Sequence[str | Path]) -> tuple[np.ndarray, dict[int, str]]:
        """``transform_files`` of the files that decode, and ``{position in paths: reason}`` of those
        that do not — what a run with ``data.bad_files = "skip"`` does with new files (``knobs predict``
        marks them rather than stop at the first).

        Raises:
            DataError: no file decodes (the first one named).
        """
        return self._decode_files(paths, skip=True)

    def _decode_files(self, paths: Sequence[str | Path], skip: bool) -> tuple[np.ndarray, dict[int, str]]:
        loading = self.record.get("loading", {})
        if loading.get("kind") != "images":
            raise ConfigError(f"transform_files is for image runs; this run's data is {loading.get('kind', 'built in')!r}")
        arrays, unreadable = [], {}
        for position, path in enumerate(paths):
            try:
                arrays.append(read_image(path, tuple(loading["image_size"]), loading["channels"]))
            except DataError as error:
                if not skip:
                    raise
                unreadable[position] = str(error)
        if not arrays:
            raise DataError(f"no input image decodes ({len(unreadable)} files); the first: {unreadable.get(0, '')}")
        return self.transform(np.stack(arrays).reshape(len(arrays), -1)), unreadable

    def to_json(self) -> dict:
        pre = self.preprocessor
        return {"format": FORMAT, "input_shape": list(self.input_shape),
                "preprocessor": None if pre is None else {"kind": pre.kind, "state": pre.state_dict()},
                "standardizer": self.standardizer.state_dict(), **self.record}

    @classmethod
    def from_json(cls, doc: dict) -> "Preprocessing":
        try:
            fixed = {k: doc[k] for k in ("format", "input_shape", "preprocessor", "standardizer")}
        except (KeyError, TypeError) as error:
            raise DataError(f"preprocessing record lacks {error}; expected format, input_shape, "
                            f"preprocessor and standardizer") from None
        if fixed["format"] != FORMAT:
            raise DataError(f"preprocessing record format {fixed['format']!r} is not {FORMAT}")
        record = {k: v for k, v in doc.items() if k not in fixed}
        return cls(preprocessor_from_state(fixed["preprocessor"]),
                   Standardizer.from_state_dict(fixed["standardizer"]), tuple(fixed["input_shape"]), record)

    def save(self, path: str | Path) -> Path:
        """Write ``to_json()`` atomically (a tmp file renamed over ``path``)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Preprocessing":
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"cannot read the preprocessing file {str(path)!r}: {error}") from None
        return cls.from_json(doc)


class UnseenCategoryWarning(UserWarning):
    """Prediction rows hold categories the training split never had.

    Why a warning and not a refusal: a new value (a product code launched after training) is a
    legitimate state of live data; its one-hot block encodes as all zeros — "none of the known
    categories" — and the row's other features still inform the prediction, so refusing would make
    a whole file unpredictable for one row. Silent, it would hide drift: so each column's count and
    first values are named, and ``knobs predict`` / ``knobs evaluate`` print it.
    """


def _warn_unseen(preprocessor, cells: np.ndarray) -> None:
    cells = cells.astype(str) if cells.dtype.kind not in "USO" else cells
    unseen, rows = [], np.zeros(len(cells), dtype=bool)
    for j, name in enumerate(preprocessor.columns):
        if name not in preprocessor.categorical:
            continue
        column = np.asarray([str(c) for c in cells[:, j]])
        new = ~np.isin(column, preprocessor.categories_[name]) & ~missing_mask(column)
        if new.any():
            rows |= new
            values = sorted(set(column[new].tolist()))
            unseen.append(f"{name!r}: {int(new.sum())} rows ({values[:5]}{' …' if len(values) > 5 else ''})")
    if unseen:
        warnings.warn(UnseenCategoryWarning(
            f"{int(rows.sum())} of {len(cells)} rows hold categories unseen in training — {'; '.join(unseen)}; "
            f"they encode as all zeros in that column (no known category), so their predictions rest on the "
            f"other features"), stacklevel=3)


def _empty(preprocessor) -> np.ndarray:
    """The encoding of zero rows (scikit-learn refuses empty input)."""
    width = len(preprocessor.feature_names_) if preprocessor.kind == "tabular" else preprocessor.length_
    return np.zeros((0, width), dtype=np.float32 if preprocessor.kind == "tabular" else np.int64)
