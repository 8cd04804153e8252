"""Data sanity: the faults that make training fail quietly, found in one pass over the splits.

Each check returns a ``CheckResult`` (passing ones too, so a report shows what was verified):

- ``finite``: NaN or inf anywhere (NaN propagates into the loss within a step).
- ``constant_features``: columns constant over the training rows (they carry no signal). For
  images, pixels constant across the dataset (the blank borders of digits or MNIST) are normal:
  they fail only when at least half of every image is constant (a loading fault: an empty
  channel, blank images).
- ``feature_scale``: columns with a mean or std beyond ``scale_limit`` (10 for raw data; 3 after
  the given standardizer, on every split) — unscaled inputs slow or break gradient descent.
  Token ids are indices into an embedding table, not measurements: their scale (and constancy)
  is not checked.
- ``labels``: class labels outside ``0..C-1`` or not integers (multi-label, ``task="multilabel"``: targets other
  than 0 / 1, or a different number of labels across the splits).
- ``target_scale`` (regression): a target with a mean or std beyond 10 — an untrained model
  predicts about 0, so its loss starts near mean² + variance and the output layer spends its
  first epochs learning the offset.
- ``class_balance``: the largest over the smallest training class count.
- ``label_frequency`` (multi-label, in place of ``class_balance``): labels on in no training row, or in every one.
- ``duplicates``: rows of a later split (val, test) that also appear in an earlier one — a leak
  that makes the held-out score optimistic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

from knobs.checks._result import CheckResult
from knobs.data import Dataset, Splits, validate_labels
from knobs.data._standardize import is_constant, moments, row_slices
from knobs.errors import ConfigError, DataError
from knobs.train._batches import label_classes

__all__ = ["check_data"]

Pairs = dict[str, tuple[np.ndarray, np.ndarray]]
_SHOWN = 10
# NOTE: the raw-feature limit of ``feature_scale``, applied to the regression target (which no
# standardizer touches): beyond it the initial MSE is dominated by the target's own scale.
TARGET_LIMIT = 10.0


def check_data(data, n_classes: int | None = None, *, task: str | None = None, standardizer=None,
               scale_limit: float | None = None, max_imbalance: float = 3.0,
               inputs: str | None = None) -> list[CheckResult]:
    """Run every data check over the splits.

    Args:
        data: ``Splits``, a mapping ``{"train": (X, y), "val": (X, y), ...}`` (the first entry is
            the training split), a tuple of pairs ``((X, y), (X, y)[, (X, y)])`` read as train,
            val and test, a ``Dataset``, or one ``(X, y)`` pair.
        n_classes: the number of classes (default: the Dataset's, else the largest label + 1).
        task: ``"classification"`` or ``"regression"``; regression skips the label checks.
            Default: the Dataset's; else classification when ``n_classes`` is given or the
            targets have an integer dtype, regression for float targets.
        standardizer: a fitted ``Standardizer``; the scale check then judges the standardized data.
        scale_limit: the largest acceptable |mean| or std of a column (default 10 raw, 3 after
            standardization).
        max_imbalance: the largest acceptable ratio of training class counts.
        inputs: ``"features"``, ``"pixels"`` or ``"tokens"`` (ids into an embedding table); the
            checks speak of columns, pixels or tokens. Default: pixels for 4-D inputs ``(n, C, H,
            W)``, else features.

    Returns:
        One ``CheckResult`` per check, in the order of the module doc (``labels`` and
        ``class_balance`` for classification, ``target_scale`` for regression).

    Example:
        >>> [r.name for r in check_data(split(load_builtin("iris"))) if not r.passed]  # doctest: +SKIP
        ['feature_scale']
    """
    if isinstance(data, Dataset):
        task, n_classes = task or data.task, n_classes if n_classes is not None else data.n_classes
    pairs = _as_pairs(data)
    kind = _kind(inputs, pairs)
    limit = scale_limit if scale_limit is not None else (10.0 if standardizer is None else 3.0)
    if kind == "tokens":
        results = [_finite(pairs), *_token_results()]
    else:
        results = [_finite(pairs), _constant(pairs, kind), _scale(pairs, standardizer, limit, kind)]
    if task == "multilabel":
        results += [_label_values(pairs), _label_frequency(pairs)]
    elif (task or _infer_task(pairs, n_classes)) == "classification":
        classes = {name: _classes(y) for name, (_, y) in pairs.items()}
        if n_classes is None:
            n_classes = int(max(np.nanmax(y) if y.size else 0 for y in classes.values())) + 1
        # NOTE: a class per position (pixels, tokens) is counted per labelled position, and said so
        counted = "pixels" if kind == "pixels" else "positions"
        unit = next((counted for name, (_, y) in pairs.items() if len(classes[name]) != len(y)), "rows")
        results += [_labels(classes, n_classes), _balance(classes, n_classes, max_imbalance, unit)]
    else:
        results.append(_target_scale(pairs, TARGET_LIMIT))
    return results + [_duplicates(pairs)]


_KINDS = ("features", "pixels", "tokens")
#: an image with at least this share of its pixels constant over the dataset is mostly blank
BLANK_SHARE = 0.5


def _kind(inputs: str | None, pairs: Pairs) -> str:
    if inputs is None:
        return "pixels" if next(iter(pairs.values()))[0].ndim == 4 else "features"
    if inputs not in _KINDS:
        raise ConfigError(f"check_data: inputs must be one of {', '.join(_KINDS)}, got {inputs!r}")
    return inputs


def _token_results() -> list[CheckResult]:
    why = "token ids index an embedding table: they have no scale to standardize and no column to drop"
    return [CheckResult("constant_features", True, "info", {"inputs": "tokens"}, "not checked for token ids", why),
            CheckResult("feature_scale", True, "info", {"inputs": "tokens"}, "not checked for token ids", why)]


def _infer_task(pairs: Pairs, n_classes: int | None) -> str:
    """Classes when a class count is given or the targets are integers (as loaders store them)."""
    if n_classes is not None:
        return "classification"
    integer = all(y.dtype.kind in "iub" for _, y in pairs.values())
    return "classification" if integer else "regression"


def _as_pairs(data) -> Pairs:
    if isinstance(data, Splits):
        named = {"train": data.train, "val": data.val, "test": data.test}
    elif isinstance(data, Dataset):
        named = {"data": (data.X, data.y)}
    elif isinstance(data, Mapping):
        named = dict(data)
    elif isinstance(data, (tuple, list)) and 0 < len(data) <= 3 and all(
            isinstance(pair, (tuple, list)) for pair in data):
        named = dict(zip(("train", "val", "test"), data))  # (train, val[, test]) pairs
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        named = {"data": data}
    else:
        raise ConfigError(f"check_data takes Splits, a Dataset, a mapping or tuple of (X, y) pairs, "
                          f"or one (X, y) pair; got {type(data).__name__}")
    # NOTE: empty splits (val=0) have no statistics to check and are left out.
    pairs = {name: (np.asarray(pair[0]), np.asarray(pair[1])) for name, pair in named.items()
             if pair is not None and len(pair[1])}
    for name, (X, y) in pairs.items():
        if X.ndim < 2 or len(X) != len(y):
            raise DataError(f"check_data: split {name!r} needs X (n, features...) and one target "
                            f"per row; got X {X.shape}, y {y.shape}")
    if not pairs:
        raise ConfigError("check_data got no rows to check")
    return pairs


def _moments(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and stds of the rows flattened, ignoring non-finite values (a column without a
    finite value gives NaN, without a warning); block by block, so a large split is not copied whole."""
    return moments(X.reshape(len(X), -1), "feature", ignore_nan=True)


def _finite(pairs: Pairs) -> CheckResult:
    measured = {}
    for name, (X, _) in pairs.items():
        flat = X.reshape(len(X), -1)
        nan = inf = rows = 0
        columns = np.zeros(flat.shape[1], dtype=bool)
        for part in row_slices(flat):  # NOTE: a mask of the whole split was a quarter of its size
            block = flat[part]
            bad = ~np.isfinite(block)
            if bad.any():
                nan, inf = nan + int(np.isnan(block).sum()), inf + int(np.isinf(block).sum())
                rows += int(bad.any(axis=1).sum())
                columns |= bad.any(axis=0)
        if nan or inf:
            measured[name] = {"nan": nan, "inf": inf, "rows": rows, "columns": np.flatnonzero(columns)[:_SHOWN].tolist()}
    if not measured:
        return CheckResult("finite", True, "info", {}, "no NaN or inf", "every feature value is finite")
    where = "; ".join(f"{name}: {m['nan']} NaN, {m['inf']} inf in {m['rows']} rows (columns "
                      f"{m['columns']})" for name, m in measured.items())
    return CheckResult("finite", False, "error", measured, "no NaN or inf",
                       f"non-finite features — {where}; drop or impute those rows")


def _constant(pairs: Pairs, kind: str = "features") -> CheckResult:
    name, (X, _) = next(iter(pairs.items()))
    mean, std = _moments(X)
    constant = np.flatnonzero(is_constant(mean, std))
    measured = {"split": name, "n_constant": len(constant), "columns": constant[:_SHOWN].tolist(),
                "n_features": len(mean), "inputs": kind}
    if kind == "pixels":
        return _constant_pixels(measured, name)
    if not len(constant):
        return CheckResult("constant_features", True, "info", measured,
                           "every feature varies in training", "every feature varies over the training rows")
    return CheckResult("constant_features", False, "warning", measured, "every feature varies in training",
                       f"{len(constant)} of {len(mean)} features are constant over the {name} rows "
                       f"(columns {measured['columns']}); they carry no signal — drop them")


def _constant_pixels(measured: dict, name: str) -> CheckResult:
    """Constant pixels matter only when they are most of the image."""
    n, total = measured["n_constant"], measured["n_features"]
    expected = f"under {BLANK_SHARE:.0%} of the pixels constant over the {name} images"
    if n < BLANK_SHARE * total:
        return CheckResult("constant_features", True, "info", measured, expected,
                           f"{n} of {total} pixels are constant over the {name} images (blank borders are "
                           f"normal)")
    return CheckResult("constant_features", False, "warning", measured, expected,
                       f"{n} of {total} pixels are constant over every {name} image: most of each image is "
                       f"blank; check the loading (an empty channel, images read as zeros, a wrong crop)")


def _scale(pairs: Pairs, standardizer, limit: float, kind: str = "features") -> CheckResult:
    measured = {}
    for name, (X, _) in pairs.items():
        if standardizer is None:
            mean, std = _moments(X)
        else:  # NOTE: standardized block by block as the moments read them, not as a copy of the split
            mean, std = moments(_Standardized(X, standardizer), "feature", ignore_nan=True)
        size = np.maximum(np.nan_to_num(np.abs(mean)), np.nan_to_num(std))
        worst = int(np.argmax(size))
        measured[name] = {"max_abs_mean": float(np.nanmax(np.abs(mean))), "max_std": float(np.nanmax(std)),
                          "worst_column": worst, "n_over": int((size > limit).sum())}
    over = {name: m for name, m in measured.items() if m["n_over"]}
    state = "standardized" if standardizer is not None else "raw"
    expected = f"|mean| and std of every {state} column <= {limit:g}"
    if not over:
        return CheckResult("feature_scale", True, "info", measured, expected,
                           f"{state} feature scales are within {limit:g}")
    unit = "pixels" if kind == "pixels" else "columns"
    where = "; ".join(f"{name}: {m['n_over']} {unit} (worst {unit[:-1]} {m['worst_column']}: |mean| "
                      f"{m['max_abs_mean']:.4g}, std {m['max_std']:.4g})" for name, m in over.items())
    fix = ("standardize the features with statistics fitted on the training split"
           if standardizer is None else
           "the training statistics do not fit these rows: the splits come from different "
           "distributions, or a near-constant training feature blows up")
    what = f"{state} pixels" if kind == "pixels" else f"{state} features"
    if kind == "pixels" and standardizer is None:
        fix = "scale the pixels to [0, 1] (divide by 255) or standardize them with the training mean and std"
    return CheckResult("feature_scale", False, "warning", measured, expected,
                       f"{what} far from mean 0 / std 1 — {where}; {fix}")


def _classes(y: np.ndarray) -> np.ndarray:
    """The labels as classes to count (``label_classes``: a label column or one-hot rows as their indices, a class
    per position as the labelled positions' classes); labels that are none of these stay as they are, for
    ``validate_labels`` to name."""
    if y.ndim < 2 or y.dtype.kind not in "iubf":
        return y
    try:
        return label_classes(y, "y")
    except DataError:
        return y


def _labels(classes: dict[str, np.ndarray], n_classes: int) -> CheckResult:
    problems = {}
    for name, y in classes.items():
        try:
            validate_labels(y, n_classes, name=f"y_{name}")
        except DataError as error:
            problems[name] = str(error)
    expected = f"integer labels in 0..{n_classes - 1}"
    if not problems:
        return CheckResult("labels", True, "info", {"n_classes": n_classes}, expected,
                           f"every label is an integer in 0..{n_classes - 1}")
    return CheckResult("labels", False, "error", {"n_classes": n_classes, "problems": problems},
                       expected, "; ".join(problems.values()))


def _balance(classes: dict[str, np.ndarray], n_classes: int, max_imbalance: float, unit: str = "rows") -> CheckResult:
    name, y = next(iter(classes.items()))
    if y.ndim != 1:  # labels validate_labels refuses: nothing to count
        return CheckResult("class_balance", True, "info", {"split": name}, "class counts of 1-D labels",
                           "not counted: the labels are not classes (see the labels check)")
    valid = y[np.isfinite(y) & (y >= 0) & (y < n_classes)].astype(np.int64)
    counts = np.bincount(valid, minlength=n_classes)[:n_classes]
    ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
    measured = {"split": name, "counts": counts.tolist(), "ratio": ratio}
    expected = f"largest / smallest class count <= {max_imbalance:g}"
    if ratio <= max_imbalance:
        return CheckResult("class_balance", True, "info", measured, expected,
                           f"class counts in {name} are balanced (ratio {ratio:.3g})")
    empty = np.flatnonzero(counts == 0).tolist()
    found = (f"classes {empty} have no {name} {unit}" if empty else
             f"class {int(counts.argmax())} has {ratio:.3g}x the {unit} of class {int(counts.argmin())}")
    # NOTE: rows cannot be drawn by class when each holds many classes: only the loss can weigh them
    remedy = ("use class weights or oversample the small classes within the training split" if unit == "rows" else
              f"weigh the loss by class (class weights count the labelled {unit}) or use the focal loss")
    return CheckResult("class_balance", False, "warning", measured, expected,
                       f"imbalanced {name} classes: {found} (counts {counts.tolist()}); {remedy}, and "
                       f"judge by balanced accuracy or per-class recall")


def _label_values(pairs: Pairs) -> CheckResult:
    """Multi-label targets: one 0 / 1 column per label, as many labels in every split."""
    problems = {}
    widths = {name: (y.reshape(len(y), -1).shape[1]) for name, (_, y) in pairs.items()}
    first = next(iter(widths))
    for name, (_, y) in pairs.items():
        values = y[np.isfinite(y)] if y.dtype.kind == "f" else y
        if values.size != y.size or not np.isin(values, (0, 1)).all():
            problems[name] = f"y_{name} holds values other than 0 and 1"
        elif widths[name] != widths[first]:
            problems[name] = f"y_{name} has {widths[name]} labels per row, y_{first} has {widths[first]}"
    expected = "a 0 / 1 column per label, the same labels in every split"
    if not problems:
        return CheckResult("labels", True, "info", {"n_labels": widths[first]}, expected,
                           f"every target is 0 or 1, {widths[first]} labels per row")
    return CheckResult("labels", False, "error", {"problems": problems}, expected, "; ".join(problems.values()))


def _label_frequency(pairs: Pairs) -> CheckResult:
    """Multi-label: a label no training row has (or every row has) is learned as a constant."""
    name, (_, y) = next(iter(pairs.items()))
    positives = (y.reshape(len(y), -1) > 0.5).sum(axis=0)
    constant = np.flatnonzero((positives == 0) | (positives == len(y))).tolist()
    measured = {"split": name, "positives": positives.tolist(), "rows": len(y)}
    expected = "every label on some training rows and off on others"
    if not constant:
        share = positives / len(y)
        return CheckResult("label_frequency", True, "info", measured, expected,
                           f"every label occurs in {name} ({share.min():.1%} to {share.max():.1%} of the rows)")
    return CheckResult("label_frequency", False, "warning", measured, expected,
                       f"labels {constant} are on in none or all of the {len(y)} {name} rows: the model can only "
                       f"learn them as constants; collect rows that tell them apart, or drop those labels")


def _target_scale(pairs: Pairs, limit: float) -> CheckResult:
    name, (_, y) = next(iter(pairs.items()))
    mean, std = _moments(y)
    measured = {"split": name, "mean": float(np.nanmax(np.abs(mean))), "std": float(np.nanmax(std))}
    expected = f"|mean| and std of the target <= {limit:g}"
    if measured["mean"] <= limit and measured["std"] <= limit:
        return CheckResult("target_scale", True, "info", measured, expected,
                           f"the {name} target has mean {measured['mean']:.3g} and std {measured['std']:.3g}")
    return CheckResult("target_scale", False, "warning", measured, expected,
                       f"the {name} target has |mean| {measured['mean']:.4g} and std {measured['std']:.4g}; "
                       f"standardize it with the training mean and std (and undo that on predictions), "
                       f"or start the output bias at its mean")


def _duplicates(pairs: Pairs) -> CheckResult:
    seen: dict[str, set[bytes]] = {}
    measured = {}
    for name, (X, _) in pairs.items():
        keys = _row_keys(X)
        for earlier, earlier_keys in seen.items():
            measured[f"{name}_in_{earlier}"] = int(sum(key in earlier_keys for key in keys))
        seen[name] = set(keys)
    leaks = {pair: count for pair, count in measured.items() if count}
    expected = "no row of a held-out split also in an earlier split"
    if not leaks:
        return CheckResult("duplicates", True, "info", measured, expected,
                           "no row appears in more than one split")
    where = ", ".join(f"{count} {pair.replace('_in_', ' rows also in ')}" for pair, count in leaks.items())
    return CheckResult("duplicates", False, "warning", measured, expected,
                       f"rows shared across splits: {where}; the held-out scores are optimistic — "
                       f"deduplicate the data before splitting")


def _row_keys(X: np.ndarray) -> list[bytes]:
    """A 16-byte digest per row; float32, with -0.0 made +0.0, so equal values hash equal (block by
    block: the float32 copy of a whole split was the size of the split)."""
    flat, keys = X.reshape(len(X), -1), []
    for rows in row_slices(flat):
        block = np.ascontiguousarray(flat[rows], dtype=np.float32) + np.float32(0.0)
        keys.extend(hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in block)
    return keys


class _Standardized:
    """The rows of ``X`` after ``standardizer``, flattened, made block by block as ``moments`` slices
    them: the same values as the transform of the whole split (it is row by row), without its copy."""

    def __init__(self, X: np.ndarray, standardizer) -> None:
        self.X, self.standardizer = X, standardizer
        self.shape, self.ndim = (len(X), int(np.prod(X.shape[1:]))), 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.standardizer.transform(self.X[rows]).reshape(-1, self.shape[1])
