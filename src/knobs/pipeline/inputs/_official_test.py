"""``data.test = <path>``: a data set's official test set, sealed in the vault instead of drawn rows.

Why it is read with the training file's own reading: the test rows must reach the model exactly
as prediction rows do — the same columns in the same order, the training split's encoding,
vocabulary and standardizer (``encode_splits`` applies them after the split, as to any split), and
the training classes. So the test file is read with the options the source was read with, its
columns renamed by ``data.test_columns`` (SST-2's test.tsv calls its text ``content`` where the
training file says ``sentence``), and its labels are mapped onto the training classes by name; a
class the training rows lack is refused, since no model can predict it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knobs.data import Dataset, load_csv, load_image_folder, load_text_csv
from knobs.data._mask_folder import load_like_run, masks_on_classes
from knobs.data._table import read_table
from knobs.data._target import target_columns
from knobs.errors import ConfigError, DataError
from knobs.pipeline.inputs._streamed import memory_budget

__all__ = ["load_official_test"]

Pair = tuple[np.ndarray, np.ndarray]


def load_official_test(cfg, dataset: Dataset) -> tuple[Pair, np.ndarray]:
    """The raw ``(X, y)`` of ``cfg.data.test`` aligned with ``dataset``, and each row's id.

    Raises:
        ConfigError: data whose kind has no test file (built-in, builder, arrays), or a
            ``data.test_columns`` key that names no column of the run.
        DataError: a missing file or column (naming the file's columns and the mapping key), rows
            that need encoding the training file did not, or classes the training rows lack.
    """
    path = cfg.data.test_path
    kind = dataset.loading.get("kind")
    if not Path(path).exists():
        raise DataError(f"data.test = {path!r}: no such file or folder")
    if kind == "images":
        test = _images(cfg, dataset, path)
    elif kind in ("tabular", "text"):
        test = _table(cfg, dataset, path, kind)
    else:
        raise ConfigError(f"data.test = {path!r}: a test file is read like the source, which is "
                          f"{kind or 'built in'} data here; data.test as a path works for tables, text and image "
                          f"folders (a data.builder returns {{\"train\": ..., \"test\": ...}}, an .npz holds X_test/y_test)")
    X = test.X
    if dataset.preprocessor is not None and test.preprocessor is None:
        X = X.astype(str).astype(object)  # numbers as cells, for the training file's encoding
    elif dataset.preprocessor is None and test.preprocessor is not None:
        raise DataError(f"data.test = {path!r} has missing cells or text in feature columns that are complete "
                        f"numbers in {dataset.source}; the run learned no encoding for them: fill them in, or set "
                        f"data.missing to a filling policy")
    return (X, _labels(test, dataset, path)), test.ids()


def _images(cfg, dataset: Dataset, path: str) -> Dataset:
    loading = dataset.loading
    if loading.get("layout") == "masks":  # a segmentation folder's test set: images/ with masks/ too
        return load_like_run(path, loading, f"data.test = {path!r}: a segmentation run's test set is")
    if not Path(path).is_dir():
        raise DataError(f"data.test = {path!r}: an image run's test set is a folder of class folders")
    # NOTE: over the run's memory budget the test folder streams as its source may (it was decoded whole, and refused
    # past 2 GiB whatever data.memory said); the vault then seals its rows' positions and files
    return load_image_folder(path, image_size=tuple(loading["image_size"]), image_channels=loading["channels"],
                             bad_files=loading.get("bad_files", "error"), max_bytes=memory_budget(cfg), stream=True)


def _table(cfg, dataset: Dataset, path: str, kind: str) -> Dataset:
    loading, mapping = dataset.loading, dict(cfg.data.test_columns)
    targets = target_columns(loading["target"])  # several: a multi-label run's label columns, each by its name
    aliases = {"text": loading["text_column"] if kind == "text" else None,
               "target": targets[0] if len(targets) == 1 else None}
    run_columns = {*targets, *([loading["text_column"]] if kind == "text" else dataset.feature_names)}
    unknown = [key for key in mapping if aliases.get(key, key) not in run_columns]
    if unknown:
        raise ConfigError(f"data.test_columns.{unknown[0]}: not a column of the run; its keys are the run's "
                          f"columns {sorted(run_columns)} (or \"text\", \"target\")")
    wanted = {column: _mapped(mapping, column, aliases) for column in run_columns}
    header = read_table(path, cfg.data.delimiter).header
    lacking = sorted(column for column, name in wanted.items() if name not in header)
    if lacking:
        column = lacking[0]
        raise DataError(f"data.test = {path!r} has no column {wanted[column]!r} (the run's {column!r}); its columns "
                        f"are {header}. Name the test file's column with data.test_columns = "
                        f"{{{_key(column, aliases)} = \"<its name>\"}}")
    options = {k: v for k, v in cfg.data.loader_options().items() if k not in ("groups", "features", "target",
                                                                                  "text_column", "categorical")}
    options.update(target=wanted[targets[0]] if len(targets) == 1 else [wanted[t] for t in targets], task=dataset.task)
    if kind == "text":
        return load_text_csv(path, text_column=wanted[loading["text_column"]], **options)
    # NOTE: the training file's categorical columns, so a test column of codes is not read as numbers
    categorical = [wanted[c] for c in loading.get("categorical", {})]
    return load_csv(path, features=[wanted[f] for f in dataset.feature_names], categorical=categorical, **options)


def _mapped(mapping: dict, column: str, aliases: dict) -> str:
    """The test file's name for the run's ``column`` (a mapping by the column or by its alias)."""
    for key, value in mapping.items():
        if aliases.get(key, key) == column:
            return value
    return column


def _key(column: str, aliases: dict) -> str:
    return next((key for key, value in aliases.items() if value == column), column)


def _labels(test: Dataset, dataset: Dataset, path: str) -> np.ndarray:
    """The test targets in the training encoding (classes matched by name)."""
    if dataset.task == "multilabel" and len(target_columns(dataset.loading["target"])) == 1:
        return _label_sets(test, dataset, path)
    if dataset.task == "segmentation":  # the test masks' values on the training masks' classes
        return masks_on_classes(test, dataset.class_names, "test", f"data.test = {path!r}")
    if dataset.task != "classification":  # numbers, or a multi-label run's 0 / 1 rows (its label columns by name)
        return test.y.astype(np.float32)
    known = {str(name): k for k, name in enumerate(dataset.class_names or range(dataset.n_classes))}
    names = [str(n) for n in (test.class_names or range(test.n_classes))]
    unknown = [names[i] for i in np.unique(test.y) if names[i] not in known]
    if unknown:
        raise DataError(f"data.test = {path!r} has the class(es) {unknown} that the training data "
                        f"({dataset.source}) lacks; its classes are {sorted(known)}. A model cannot predict a class "
                        f"it never saw: drop those rows from the test set or add examples to training")
    lookup = np.array([known.get(name, -1) for name in names], dtype=np.int64)
    return lookup[test.y]


def _label_sets(test: Dataset, dataset: Dataset, path: str) -> np.ndarray:
    """A label-set column's test rows on the training labels, matched by name (a label the training rows lack is
    refused; one the test file lacks is a column of zeros)."""
    known = {str(name): k for k, name in enumerate(dataset.class_names)}
    unknown = [name for name in test.class_names if str(name) not in known]
    if unknown:
        raise DataError(f"data.test = {path!r} has the label(s) {unknown[:10]} that the training data "
                        f"({dataset.source}) lacks; its labels are {sorted(known)}. A model cannot predict a label "
                        f"it never saw: drop them from the test set or add examples to training")
    y = np.zeros((len(test.y), len(known)), np.float32)
    y[:, [known[str(name)] for name in test.class_names]] = test.y
    return y
