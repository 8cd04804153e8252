"""Small data sets that ship inside scikit-learn: no download, so ``knobs run`` works offline.

Why raw features (``load_diabetes(scaled=False)``): standardization is knobs' own step, fitted on
the training split only; pre-scaled features would have seen the test rows.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn import datasets as _sk

from knobs.data._dataset import Dataset
from knobs.errors import DataError

__all__ = ["load_builtin", "BUILTIN"]

# name -> (sklearn loader, task, image shape of a row). The module-level table is the registry.
BUILTIN: dict[str, tuple[Callable, str, tuple[int, ...] | None]] = {
    "digits": (_sk.load_digits, "classification", (1, 8, 8)),
    "iris": (_sk.load_iris, "classification", None),
    "wine": (_sk.load_wine, "classification", None),
    "breast_cancer": (_sk.load_breast_cancer, "classification", None),
    "diabetes": (lambda: _sk.load_diabetes(scaled=False), "regression", None),
}


def load_builtin(name: str) -> Dataset:
    """Load one of scikit-learn's bundled data sets as a ``Dataset``.

    Args:
        name: ``"digits"`` (1797 8x8 images, 10 classes), ``"iris"``, ``"wine"``,
            ``"breast_cancer"`` (classification) or ``"diabetes"`` (regression); a
            ``"builtin:"`` prefix is accepted.

    Raises:
        DataError: for an unknown name, listing the known ones.

    Example:
        >>> ds = load_builtin("digits")
        >>> ds.X.shape, ds.n_classes, ds.image_shape
        ((1797, 64), 10, (1, 8, 8))
    """
    key = name.removeprefix("builtin:") if isinstance(name, str) else name
    if key not in BUILTIN:
        raise DataError(f"unknown built-in data set {name!r}; choose one of {sorted(BUILTIN)}")
    loader, task, image_shape = BUILTIN[key]
    bunch = loader()
    classification = task == "classification"
    y = bunch.target.astype(np.int64 if classification else np.float32)
    return Dataset(
        X=np.ascontiguousarray(bunch.data, dtype=np.float32),
        y=y,
        task=task,
        n_classes=int(len(bunch.target_names)) if classification else None,
        name=key,
        feature_names=[str(f) for f in bunch.feature_names],
        class_names=[str(c) for c in bunch.target_names] if classification else None,
        image_shape=image_shape,
        source=f"builtin:{key}",
    )
