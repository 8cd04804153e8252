"""Table cells → numbers: missing values filled, categories one-hot, learned on the training split.

Why a fitted object: the fill values (mean, median, most frequent) and the category lists are
statistics of the data; learned from every row they would carry the validation and test rows into
training. ``fit`` sees the training rows; ``transform`` applies the same numbers to any rows,
including a later prediction's; ``state_dict`` is plain JSON (no pickles), so a run directory keeps
it and prediction re-applies it exactly.

scikit-learn does the learning: ``SimpleImputer`` computes the fill values and ``OneHotEncoder``
the categories. One imputer fits every numeric column at once (and one every categorical column):
one per column, on a 785-column table, spent most of the fit validating one-column inputs; the
fill values are the same to the last bit (see ``fit``). The encoder that transforms is always
rebuilt from the stored category lists (``OneHotEncoder(categories=...)``), so a freshly fitted
and a reloaded preprocessor share one path.

Policies (``missing``): ``"mean"`` / ``"median"`` / ``"most_frequent"`` fill numeric columns so;
categorical columns always take their most frequent training value. ``"error"`` and ``"drop"``
learn no fill value: rows with missing cells are refused at ``transform`` (the loader has already
refused or dropped them in the file).

Unseen categories (in validation, test or prediction rows) encode as all zeros in that column's
block — the row is still usable — and ``audit`` counts them per column, so none go unreported.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from knobs.data._cells import empty_column_message, missing_mask, parse_numbers
from knobs.errors import ConfigError, DataError

__all__ = ["TabularPreprocessor", "MISSING_POLICIES", "IMPUTE"]

MISSING_POLICIES = ("error", "drop", "mean", "median", "most_frequent")
IMPUTE = ("mean", "median", "most_frequent")


class TabularPreprocessor:
    """Fill missing cells and one-hot encode categorical columns, fitted on the training rows.

    Args:
        columns: the feature columns, in the order of the rows' cells.
        categorical: the columns to one-hot encode; the others are numeric.
        missing: one of ``MISSING_POLICIES`` (see the module doc).

    Attributes:
        fill_: ``{column: value}`` used for missing cells (empty for "error" and "drop").
        categories_: ``{column: [category, ...]}`` seen in training, sorted.
        feature_names_: the output columns (``"color=red"`` for a one-hot column).

    Example:
        >>> pre = TabularPreprocessor(["age", "color"], ["color"], missing="median")
        >>> pre.fit(np.array([["30", "red"], ["", "blue"], ["50", "red"]])).feature_names_
        ['age', 'color=blue', 'color=red']
        >>> pre.transform(np.array([["?", "green"]])).tolist()
        [[40.0, 0.0, 0.0]]
    """

    kind = "tabular"

    def __init__(self, columns: Sequence[str] = (), categorical: Sequence[str] = (), missing: str = "error") -> None:
        self.columns = list(columns)
        self.categorical = list(categorical)
        self.missing = missing

    def fit(self, X) -> "TabularPreprocessor":
        """Learn fill values and categories from the training rows ``X``; return ``self``."""
        self._validate_params()
        cells = self._cells(X, "fit")
        if len(cells) == 0:
            raise DataError("TabularPreprocessor.fit needs at least one training row")
        numeric, categorical = self._numeric_block(cells), self._categorical_block(cells)
        if numeric.problem("fit") or categorical.absent.all(axis=0).any():
            self._raise_first_problem(cells, "fit")
        self.fill_, self.categories_ = {}, {}
        if self.missing in IMPUTE and numeric.names:
            # NOTE: one imputer over every numeric column; in Fortran order each column is summed
            # contiguously, as a single column is, so a mean is the same to the last bit.
            statistics = SimpleImputer(strategy=self.missing).fit(numeric.values).statistics_
            self.fill_.update(zip(numeric.names, map(float, statistics)))
        if categorical.names:
            self._fit_categorical(categorical)
        self.fill_ = {name: self.fill_[name] for name in self.columns if name in self.fill_}
        self._encoder_cache = None
        return self

    def _fit_categorical(self, block: "_Block") -> None:
        text = block.values.copy()
        text[block.absent] = ""
        if self.missing in IMPUTE:
            imputer = SimpleImputer(strategy="most_frequent", missing_values="").fit(text)
            self.fill_.update(zip(block.names, map(str, imputer.statistics_)))
        for j, name in enumerate(block.names):
            encoder = OneHotEncoder(handle_unknown="ignore").fit(text[~block.absent[:, j], j:j + 1])
            self.categories_[name] = [str(c) for c in encoder.categories_[0]]

    def transform(self, X) -> np.ndarray:
        """Rows of cells → a float32 matrix with one column per ``feature_names_`` entry."""
        cells = self._cells(X, "transform")
        numeric, categorical = self._numeric_block(cells), self._categorical_block(cells)
        unfilled = [name not in self.fill_ for name in categorical.names]
        if numeric.problem("transform", self.fill_) or categorical.absent[:, unfilled].any():
            self._raise_first_problem(cells, "transform")
        widths = [len(self._names(name)) for name in self.columns]
        starts = dict(zip(self.columns, np.cumsum([0, *widths[:-1]]).tolist()))
        out = np.empty((len(cells), sum(widths)), np.float32)
        if numeric.names:
            fill = np.array([self.fill_.get(name, np.nan) for name in numeric.names])
            out[:, [starts[name] for name in numeric.names]] = np.where(numeric.absent, fill, numeric.values)
        for j, name in enumerate(categorical.names):
            column = categorical.values[:, j]
            if categorical.absent[:, j].any():
                column = column.copy()
                column[categorical.absent[:, j]] = self.fill_[name]
            out[:, starts[name]:starts[name] + widths[self.columns.index(name)]] = self._encode(name, column)
        return out

    def _numeric_block(self, cells: np.ndarray) -> "_Block":
        """The numeric columns as float64 ``(rows, columns)`` in Fortran order, NaN where missing or text.

        NOTE: a column whose every cell ``float()`` takes (numbers, NaN for a missing one, numbers
        as text) is cast in one C loop, as ``parse_numbers`` casts its present cells; its missing
        cells are then its NaNs ("nan" is a missing marker too). Only the other columns (markers
        such as "NA" or "", text) go through ``parse_numbers``, one by one.
        """
        names = [name for name in self.columns if name not in self.categorical]
        block = cells[:, [self.columns.index(name) for name in names]]
        values = np.empty(block.shape, np.float64, order="F")
        text = np.zeros(block.shape, bool)
        cast = block.astype(object) if block.dtype.kind in "US" else block  # float() itself, not numpy's parser
        try:
            values[...] = cast.astype(np.float64)
        except (TypeError, ValueError):
            for j in range(block.shape[1]):
                try:
                    values[:, j] = cast[:, j].astype(np.float64)
                except (TypeError, ValueError):
                    values[:, j], text[:, j] = parse_numbers(block[:, j])
        absent = np.isnan(values) & ~text
        return _Block(names, values, absent, text)

    def _categorical_block(self, cells: np.ndarray) -> "_Block":
        """The categorical columns as text (an object array of Python strings) and their missing cells."""
        names = [name for name in self.columns if name in self.categorical]
        block = cells[:, [self.columns.index(name) for name in names]]
        text = np.empty(block.shape, dtype=object)
        for j in range(block.shape[1]):
            text[:, j] = _text(block[:, j])
        return _Block(names, text, _missing(block), None)

    def _raise_first_problem(self, cells: np.ndarray, step: str) -> None:
        """Raise the message of the first column, in column order, that ``step`` cannot take (a block
        found one): no value in training, text or an infinity in a numeric column, a missing cell
        without a fill value."""
        for j, name in enumerate(self.columns):
            column = cells[:, j]
            absent = missing_mask(column)
            if step == "fit" and absent.all():
                raise DataError(empty_column_message(name, column, self.columns, "in the training split"))
            if name not in self.categorical:
                self._numbers(name, column)
            if step != "fit":
                self._refuse_unfilled(name, absent)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def audit(self, X) -> dict:
        """What ``transform`` does to these rows: missing cells filled and unseen categories, per column."""
        cells = self._cells(X, "audit")
        missing, unseen = {}, {}
        for j, name in enumerate(self.columns):
            absent = missing_mask(cells[:, j])
            if absent.any():
                missing[name] = int(absent.sum())
            if name in self.categorical:
                known = np.isin(_text(cells[:, j]), np.array(self.categories_[name], dtype=object))
                count = int((~absent & ~known).sum())
                if count:
                    unseen[name] = count
        return {"rows": len(cells), "missing_filled": missing, "unseen_categories": unseen}

    @property
    def feature_names_(self) -> list[str]:
        self._check_fitted()
        return [n for name in self.columns for n in self._names(name)]

    def _names(self, name: str) -> list[str]:
        if name in self.categorical:
            return [f"{name}={c}" for c in self.categories_[name]]
        return [name]

    def _refuse_unfilled(self, name: str, absent: np.ndarray) -> None:
        """Refuse missing cells in a column that learned no fill value."""
        if absent.any() and name not in self.fill_:
            first = int(np.argmax(absent))
            raise DataError(f"column {name!r} has {int(absent.sum())} missing values (first in row "
                            f"{first}) but missing = {self.missing!r} learned no fill value; drop or "
                            f"fill those rows, or fit with missing = \"mean\", \"median\" or \"most_frequent\"")

    def _encode(self, name: str, column: np.ndarray) -> np.ndarray:
        encoder = self._encoders()[name]
        with warnings.catch_warnings():
            # NOTE: unseen categories become all-zero rows by design; audit() counts them.
            warnings.filterwarnings("ignore", message="Found unknown categories")
            return encoder.transform(column[:, None]) if len(column) else \
                np.zeros((0, len(self.categories_[name])), np.float32)

    def _encoders(self) -> dict[str, OneHotEncoder]:
        if getattr(self, "_encoder_cache", None) is None:
            self._encoder_cache = {name: _encoder(cats) for name, cats in self.categories_.items()}
        return self._encoder_cache

    def _numbers(self, name: str, cells: np.ndarray) -> np.ndarray:
        values, text = parse_numbers(cells)
        if text.any():
            row = int(np.argmax(text))
            raise DataError(f"numeric column {name!r} holds text in row {row}: {str(cells[row])!r}; "
                            f"expected numbers or a missing value")
        if np.isinf(values).any():
            raise DataError(f"numeric column {name!r} holds an infinite value in row {int(np.argmax(np.isinf(values)))}")
        return values

    def _cells(self, X, step: str) -> np.ndarray:
        if step != "fit":
            self._check_fitted()
        cells = np.asarray(X)
        if cells.ndim != 2 or cells.shape[1] != len(self.columns):
            raise DataError(f"TabularPreprocessor.{step} expects rows of {len(self.columns)} cells "
                            f"({self.columns}); got an array of shape {cells.shape}")
        return cells

    def _validate_params(self) -> None:
        if self.missing not in MISSING_POLICIES:
            raise ConfigError(f"missing must be one of {MISSING_POLICIES}, got {self.missing!r}")
        unknown = [name for name in self.categorical if name not in self.columns]
        if unknown:
            raise ConfigError(f"categorical columns {unknown} are not among the columns {self.columns}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "categories_"):
            raise ConfigError("this TabularPreprocessor is not fitted; call fit(X_train) first")

    def state_dict(self) -> dict:
        """The settings and everything learned, as JSON-able values."""
        self._check_fitted()
        return {"columns": self.columns, "categorical": self.categorical, "missing": self.missing,
                "fill": dict(self.fill_), "categories": {k: list(v) for k, v in self.categories_.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        try:
            self.columns, self.categorical = list(state["columns"]), list(state["categorical"])
            self.missing, self.fill_ = state["missing"], dict(state["fill"])
            self.categories_ = {k: [str(c) for c in v] for k, v in state["categories"].items()}
        except (KeyError, TypeError) as error:
            raise ConfigError(f"TabularPreprocessor state must hold columns, categorical, missing, "
                              f"fill and categories ({error!r})") from None
        self._validate_params()
        self._encoder_cache = None

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "categories_") else "not fitted"
        return (f"TabularPreprocessor({len(self.columns)} columns, categorical={self.categorical}, "
                f"missing={self.missing!r}, {fitted})")


class _Block(NamedTuple):
    """Some columns of the cells side by side: their ``names``, ``values`` ``(rows, columns)``,
    ``absent`` (missing cells) and, for numbers, ``text`` (present cells that are not numbers)."""

    names: list[str]
    values: np.ndarray
    absent: np.ndarray
    text: np.ndarray | None

    def problem(self, step: str, fill: dict | None = None) -> bool:
        """Whether numeric columns hold what ``step`` refuses (see ``_raise_first_problem``)."""
        if self.text.any() or np.isinf(self.values).any():
            return True
        if step == "fit":
            return bool(self.absent.all(axis=0).any())
        unfilled = [name not in fill for name in self.names]
        return bool(self.absent[:, unfilled].any())


def _encoder(categories: list[str]) -> OneHotEncoder:
    """A one-hot encoder for exactly ``categories`` (unseen values → all zeros)."""
    encoder = OneHotEncoder(categories=[np.array(categories, dtype=object)], handle_unknown="ignore",
                            sparse_output=False, dtype=np.float32)
    return encoder.fit(np.array(categories[:1], dtype=object)[:, None])


def _missing(block: np.ndarray) -> np.ndarray:
    """``missing_mask`` column by column: a column holds one kind of cell (numbers, or text), which
    ``missing_mask`` tests in a C loop; a whole table mixes them, which it would test cell by cell."""
    absent = np.zeros(block.shape, bool)
    for j in range(block.shape[1]):
        absent[:, j] = missing_mask(block[:, j])
    return absent


def _text(column: np.ndarray) -> np.ndarray:
    """A column of categories as an object array of Python strings, each at its own size.

    Why not ``astype(str)``: that pads every cell to the longest one, in UTF-32; numbers given as
    numbers (a float array) become their text as before ("1.0")."""
    text = np.empty(len(column), dtype=object)
    text[:] = list(map(str, column))
    return text
