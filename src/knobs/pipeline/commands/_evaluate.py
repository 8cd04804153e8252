"""``knobs evaluate``: score labelled data with a finished run's final model, with 95% intervals.

Why a command of its own: a run's test score is one estimate on one sealed split; new labelled data
(a later month, another hospital, a data set's official test set) asks how the same final model —
single or ensemble, with its decision threshold — does there. The rows go through exactly what
``knobs predict`` applies (``_predict``'s loading, the run's preprocessing fitted on its training
split); the metrics are ``knobs.metrics.split_metrics``, named as in ``summary.json``'s ``test``.

Intervals (``intervals`` in the result): ``knobs.metrics.metric_intervals``, the same 95% intervals
a run's summary.json gives its test metrics — Wilson score for accuracy (and each class's recall),
a seeded percentile bootstrap over rows for every other scalar metric.

Inputs: a CSV/TSV with the run's feature columns and its target column (``--target`` names it when
the file calls it otherwise; ``--text-column`` the text of a text run), a folder of class folders
for image runs (the class names of the run), or an ``.npz`` with ``X`` and ``y`` (runs on built-in,
builder or arrays data, whose rows are numbers already).

An image that does not decode follows the run's ``data.bad_files``, as in ``knobs predict``:
``"error"`` (the default) stops with one message naming it; ``"skip"`` scores the images that
decode and says which it left out — ``skipped`` in the result (their count, and the first
``SKIPPED_LISTED`` by class folder and name, with the reason) and an ``UnreadableInputWarning`` —
so metrics on fewer images than the folder holds are never taken for the folder's.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from knobs.data import Preprocessing, Standardizer
from knobs.data._arrays import label_name
from knobs.data._mask_folder import load_like_run, mask_values_on_classes, masks_on_classes
from knobs.data._table import read_table
from knobs.data._target import label_rows, label_sets, target_columns, value_rows
from knobs.errors import ConfigError, DataError
from knobs.metrics import (BOOTSTRAP, INTERVAL_METHOD, INTERVAL_METHODS, LEVEL, bootstrap_draws, metric_intervals,
                           split_metrics, weighted_metrics, wilson)
from knobs.pipeline.commands._predict import (IMAGE_SUFFIXES, UnreadableInputWarning, _check_image_sizes,
                                              FinalModel, _numbers, _summary)
from knobs.pipeline.commands._threads import use_run_threads

__all__ = ["evaluate_file", "wilson", "intervals", "weighted_metrics", "bootstrap_draws", "BOOTSTRAP", "LEVEL"]

intervals = metric_intervals  # the name this command's callers and tests know

#: how many skipped images the result and the warning name (the count is always whole)
SKIPPED_LISTED = 10


def evaluate_file(run_dir: str | Path, input_path: str | Path, *, target: str | None = None,
                  text_column: str | None = None, seed: int = 0, threads: int | None = None) -> dict[str, Any]:
    """The metrics of the run's final model on the labelled rows of ``input_path``, computed on
    ``threads`` torch threads (default: the run's ``train.threads``, ``_threads.py``).

    Returns:
        ``{"input", "n", "skipped", "final_model", "metrics", "intervals", "interval_method"}``:
        ``n`` the rows scored; ``skipped`` ``{"count", "files"}`` the images left out as unreadable
        under the run's ``data.bad_files = "skip"`` (``files``: the first ``SKIPPED_LISTED``,
        ``{"file": "<class>/<name>", "reason"}``; count 0 otherwise); ``metrics`` as
        ``split_metrics`` gives them; ``intervals`` ``{metric: [low, high]}`` at 95%.

    Warns:
        UnreadableInputWarning: images were skipped (how many of how many, the first named).

    Raises:
        ConfigError / DataError: no finished run, a missing file or column (naming the file's
            columns and the option to set), or labels that are not classes of the run.
    """
    run_dir, input_path = Path(run_dir), Path(input_path)
    summary = _summary(run_dir)
    use_run_threads(run_dir, threads)
    if not input_path.exists():
        raise DataError(f"--input {str(input_path)!r}: no such file or folder")
    final = FinalModel.load(run_dir, summary)
    task = final.task
    X, y, skipped = _labelled(final.preprocessing, final.extra, input_path, task, target, text_column,
                              summary.get("data", {}).get("class_names"))
    if skipped:
        _warn_skipped(input_path, skipped, len(y))
    out = final.outputs(X)
    threshold = ((summary.get("threshold") or {}).get("threshold") if task == "classification" else
                 (summary.get("threshold") or {}).get("thresholds") if task == "multilabel" else None)
    metrics = split_metrics(task, y, out, threshold=threshold)
    return {"input": str(input_path), "n": int(len(y)),
            "skipped": {"count": len(skipped), "files": skipped[:SKIPPED_LISTED]},
            "final_model": summary.get("final_model") or "single",
            "threshold": threshold, "metrics": metrics, "intervals": intervals(task, y, out, metrics, threshold, seed),
            "interval_method": INTERVAL_METHODS.get(task, INTERVAL_METHOD)}


def _warn_skipped(path: Path, skipped: list[dict], scored: int) -> None:
    named = ", ".join(s["file"] for s in skipped[:SKIPPED_LISTED])
    more = f" and {len(skipped) - SKIPPED_LISTED} more" if len(skipped) > SKIPPED_LISTED else ""
    warnings.warn(UnreadableInputWarning(
        f"{len(skipped)} of the {len(skipped) + scored} images in {str(path)!r} do not decode and were skipped (the "
        f"run's data.bad_files = \"skip\"): {named}{more}; the metrics are on the other {scored}"), stacklevel=3)


# ---- labelled rows -------------------------------------------------------------------------------

def _labelled(preprocessing: Preprocessing | None, extra: dict, path: Path, task: str, target: str | None,
              text_column: str | None, class_names: list | None = None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """Model input, targets, and the images left out as unreadable (``{"file", "reason"}``; only
    image folders of a ``bad_files = "skip"`` run leave any out). ``class_names``: the run's classes as the
    summary records them (arrays, a builder's data), which an ``.npz``'s labels are read as."""
    shape = tuple(int(s) for s in extra["input_shape"])
    if preprocessing is None:
        return *_npz(path, shape, Standardizer.from_state_dict(extra["scaler"]), task, int(extra["n_classes"]),
                     class_names), []
    record = preprocessing.record
    kind = record.get("loading", {}).get("kind")
    if kind == "images" and record["loading"].get("layout") == "masks":
        return _mask_folder(preprocessing, path)
    if kind == "images":
        return _image_folder(preprocessing, path)
    return *_table(preprocessing, path, task, kind, target, text_column), []


def _table(preprocessing: Preprocessing, path: Path, task: str, kind: str, target: str | None,
           text_column: str | None) -> tuple[np.ndarray, np.ndarray]:
    loading, record = preprocessing.record.get("loading", {}), preprocessing.record
    if path.is_dir():
        raise DataError(f"--input {str(path)!r} is a folder; this run reads a table (.csv / .tsv)")
    table = read_table(path, loading.get("delimiter"))
    wanted = list(record["feature_names"])
    names = dict(zip(wanted, wanted))
    if text_column is not None:
        if kind != "text":
            raise ConfigError("--text-column is for runs on text; this run's data is a table of features")
        names[wanted[0]] = text_column
    run_target = loading.get("target", "label")
    labels = target_columns(target.split(",") if target and not isinstance(run_target, str) else target or run_target)
    lacking = [run for run, name in [*names.items(), *zip(labels, labels)] if name not in table.header]
    if lacking:
        option = "--target" if lacking[0] in labels else ("--text-column" if kind == "text" else "a column of that name")
        raise DataError(f"--input {str(path)!r} has no column {names.get(lacking[0], lacking[0])!r} (the run's "
                        f"{lacking[0]!r}); its columns are {table.header}: name it with {option}")
    cells = table.select([names[w] for w in wanted])
    raw = cells if preprocessing.preprocessor is not None else _numbers(cells, table)
    X = preprocessing.transform(raw)
    if task == "multilabel":  # the run's 0 / 1 label columns, or its one column of label names
        return X, (label_rows(table, labels) if len(labels) > 1 else
                   label_sets(table, labels[0], record.get("class_names"))[0])
    if len(labels) > 1:  # a regression of several target columns
        return X, value_rows(table, labels).astype(np.float64)
    return X, _targets(table.column(labels[0]), task, record.get("class_names"), f"{path} column {labels[0]!r}")


def _image_folder(preprocessing: Preprocessing, path: Path) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """The folder's images and labels — under the run's ``bad_files = "skip"`` those that decode,
    and ``{"file": "<class>/<name>", "reason"}`` of the others, in folder order."""
    classes = list(preprocessing.record.get("class_names") or [])
    if not path.is_dir():
        raise DataError(f"--input {str(path)!r}: labelled images are a folder of class folders ({classes})")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"--input {str(path)!r} holds no class folders; labelled images are laid out as "
                        f"<folder>/<class>/<image>, the run's classes being {classes}")
    unknown = [f.name for f in folders if f.name not in classes]
    if unknown:
        raise DataError(f"--input {str(path)!r} has class folder(s) {unknown} that the run's training data lacks; "
                        f"its classes are {classes}. A model cannot predict a class it never saw")
    files, labels = [], []
    for folder in folders:
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        files += found
        labels += [classes.index(folder.name)] * len(found)
    if not files:
        raise DataError(f"--input {str(path)!r}: no image files in its class folders (expected {sorted(IMAGE_SUFFIXES)})")
    loading = preprocessing.record["loading"]
    _check_image_sizes(files, loading["image_size"])
    labels = np.asarray(labels, dtype=np.int64)
    if loading.get("bad_files") != "skip":
        return preprocessing.transform_files(files), labels, []
    X, unreadable = preprocessing.transform_readable_files(files)
    kept = np.array([i not in unreadable for i in range(len(files))], dtype=bool)
    skipped = [{"file": f"{files[i].parent.name}/{files[i].name}", "reason": reason}
               for i, reason in sorted(unreadable.items())]
    return X, labels[kept], skipped


def _mask_folder(preprocessing: Preprocessing, path: Path) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """A segmentation run's labelled images: a folder of ``images/`` with ``masks/`` as it trained on, decoded at
    its size, the masks' values read as its classes — under ``bad_files = "skip"`` the pairs that are not (an image
    without its mask, one that does not decode) left out and listed."""
    found = load_like_run(path, preprocessing.record["loading"],
                          f"--input {str(path)!r}: this run segments images; its labelled images are")
    skipped = [{"file": str(Path(s["file"]).relative_to(path)), "reason": s["reason"]}
               for s in found.loading.get("skipped", [])]
    masks = masks_on_classes(found, preprocessing.record.get("class_names"), "input", f"--input {str(path)!r}")
    return preprocessing.transform(found.X), masks, skipped


def _npz(path: Path, shape: tuple[int, ...], scaler: Standardizer, task: str,
         n_classes: int, class_names: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix.lower() != ".npz":
        raise DataError(f"--input {str(path)!r}: this run's rows are numbers as given; evaluate an .npz holding "
                        f"X and y (numpy.savez(path, X=X, y=y))")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            data = {k: arrays[k] for k in arrays.files}
    except (OSError, ValueError) as error:
        raise DataError(f"--input {str(path)!r} is not a readable .npz ({error})") from None
    x_key = next((k for k in ("X", "x") if k in data), None)
    if x_key is None or "y" not in data:
        raise DataError(f"--input {str(path)!r} holds {sorted(data)}; expected X (or x) and y")
    X, y = np.asarray(data[x_key], dtype=np.float32), np.asarray(data["y"])
    if len(X) != len(y):
        raise DataError(f"--input {str(path)!r}: X has {len(X)} rows but y {len(y)}")
    width = int(np.prod(shape))
    X = X.reshape(len(X), -1)
    if X.shape[1] != width:
        raise DataError(f"--input {str(path)!r}: {X.shape[1]} features per row, but the run's model takes {width}")
    if task == "multilabel":
        if y.shape != (len(X), n_classes) or not np.isin(y, (0, 1)).all():
            raise DataError(f"--input {str(path)!r}: y has shape {y.shape}; this multi-label run's labels are rows of "
                            f"{n_classes} 0 / 1 values ({', '.join(map(str, class_names or []))})")
        return scaler.transform(X.reshape((len(X), *shape))), y.astype(np.float32)
    if task == "segmentation":
        masks = mask_values_on_classes(y, class_names, "input", f"--input {str(path)!r}")
        return scaler.transform(X.reshape((len(X), *shape))), masks
    if task == "regression" and (np.ndim(y) == 2 or n_classes > 1) and np.shape(y) != (len(X), n_classes):
        raise DataError(f"--input {str(path)!r}: y has shape {np.shape(y)}; this run regresses {n_classes} target(s) "
                        f"per row: y of shape ({len(X)}, {n_classes})" if n_classes > 1 else
                        f"--input {str(path)!r}: y has shape {np.shape(y)}; this run regresses one target per row")
    names = None if class_names is None else [label_name(v) for v in y]
    if task == "classification" and names is not None and (set(names) <= set(map(str, class_names))
                                                           or y.dtype.kind not in "iu"):
        # NOTE: the labels as the run was given them (class names, or ids like 3 / 5 / 7), not the run's 0..C-1;
        # integer labels that are not its names are read as class indices, as before names were recorded
        y = _targets(np.array(names), task, class_names, f"--input {str(path)!r} y")
    elif task == "classification":
        bad = np.setdiff1d(np.unique(y), np.arange(n_classes))
        if bad.size:
            named = f"its classes are {list(map(str, class_names))}, or their indices " if class_names else ""
            raise DataError(f"--input {str(path)!r}: labels {bad[:10].tolist()} are not classes of the run ({named}"
                            f"0..{n_classes - 1})")
        y = y.astype(np.int64)
    return scaler.transform(X.reshape((len(X), *shape))), y.astype(np.float32) if task != "classification" else y


def _targets(cells: np.ndarray, task: str, class_names: list | None, what: str) -> np.ndarray:
    if task != "classification":
        try:
            return cells.astype(np.float64)
        except ValueError:
            raise DataError(f"{what}: regression targets must be numbers") from None
    names = [str(c) for c in class_names or []]
    unknown = sorted({str(c) for c in cells} - set(names))
    if unknown:
        raise DataError(f"{what} holds the class(es) {unknown[:10]} that the run's training data lacks; its classes "
                        f"are {names}. A model cannot predict a class it never saw: drop those rows")
    lookup = {name: k for k, name in enumerate(names)}
    return np.array([lookup[str(c)] for c in cells], dtype=np.int64)
