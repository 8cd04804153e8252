"""``knobs predict``: apply a finished run's preprocessing and final model to new data.

What a run leaves for this: ``summary.json`` says which model was final (the single best trial or
the ensemble, with its members and weights); each member's checkpoint records its family, input
shape, class count, hyperparameters and the training split's standardizer; ``preprocess.json``
(data read from files) holds the fitted encoding (categories, imputation, vocabulary, image size).
Prediction applies exactly those, fitted on the training split of that run and nothing else.
The predicted class is the one the run's final evaluation counted: with a decision threshold tuned
under ``[balance]`` (``summary.json``'s ``threshold``), class 1 when P(class 1) >= it, as in the
threshold's test metrics; otherwise the most probable class. A multi-label run's prediction names every
label whose probability is at least 0.5 — or its own threshold, when the run tuned them — (";"-joined, empty for
none), next to each label's probability.

Inputs: a CSV/TSV with the run's feature columns (extra columns, the target included, are
ignored), an image file or a folder of images for image runs, or a ``.npy`` array of encoded
features for runs on built-in data.

Images of another size than the run's are refused, not resized (one message naming the first such
file, its size, the run's size and how to resize) — except by a segmentation run, which decodes them
at its size as training decoded its folder and writes each predicted mask back at its image's own
size, as a PNG in ``<output>.masks/`` (a mask must label the image it came with). Why refuse: the model learnt its filters at one
scale and aspect ratio; a photo silently stretched to it is predicted, often badly, with no sign
that anything was changed, and only the user knows whether their images should be stretched,
cropped or padded. Stretching as training decoded (``data.image_size``: Pillow's bilinear filter,
aspect ratio not kept) is one line, given in the message.

An image that does not decode follows the run's ``data.bad_files``: ``"error"`` stops with one
message naming it; ``"skip"`` (as training did) predicts the others and still writes a row for it —
empty prediction and probability cells and its reason in a last ``unreadable`` column (there only
when some file was unreadable) — so the file's rows stay one per input, in input order, and a
reader matching them to files is never shifted (``knobs.train.predict`` gives a NaN row for the
same reason). The count is also printed as a warning.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobs.balance import positive_proba
from knobs.data import Preprocessing, Standardizer
from knobs.data._table import read_table
from knobs.errors import ConfigError, DataError
from knobs.pipeline.trials._evaluate import average_outputs, outputs
from knobs.pipeline.rundir._members import load_member
from knobs.pipeline.commands._outputs import check_output_file
from knobs.pipeline.commands._threads import use_run_threads
from knobs.pipeline.inputs._prepared import PREPROCESS_FILE
from knobs.train import CheckpointError, load_checkpoint

__all__ = ["predict_file", "UnreadableInputWarning"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class UnreadableInputWarning(UserWarning):
    """Input images that do not decode, under a run's ``data.bad_files = "skip"``: marked, not predicted."""


def predict_file(run_dir: str | Path, input_path: str | Path, output: str | Path | None = None, *,
                 threads: int | None = None) -> Path:
    """Write predictions for ``input_path`` with the final model of ``run_dir``; returns the CSV path.

    The CSV has one row per input: ``row`` (line number, or file name for images), ``prediction``
    (the class name for classification; the labels set, ";"-joined, for multilabel; ``prediction_<target>``, one
    per target, for a regression of several) and ``proba_<class>`` (``proba_<label>``) columns for classification
    (multilabel; a segmentation's mean probability of each class over the image, its masks written to
    ``<output>.masks.npy``); images
    that do not decode under the run's ``bad_files = "skip"`` keep their row, marked (module doc).
    torch runs on ``threads`` threads, by default the run's ``train.threads`` (``_threads.py``).
    """
    run_dir, input_path = Path(run_dir), Path(input_path)
    summary = _summary(run_dir)
    use_run_threads(run_dir, threads)
    output = Path(output) if output is not None else input_path.with_name(input_path.stem + ".predictions.csv")
    _check_output(output, input_path)
    final = FinalModel.load(run_dir, summary)
    preprocessing, extra, task = final.preprocessing, final.extra, final.task
    names, X, unreadable = _model_input(preprocessing, extra, input_path, resize=task == "segmentation")
    out = final.outputs(X)
    # NOTE: a table's preprocessing records its classes; arrays, a builder's data and built-in sets, the summary
    class_names = (preprocessing.record.get("class_names") if preprocessing else None) or \
        summary.get("data", {}).get("class_names") or target_names(summary, int(extra["n_classes"]))
    decided = (_decisions(out, summary.get("threshold")) if task == "classification" else
               (out >= label_thresholds(summary)) if task == "multilabel" else
               _masks(out, class_names, output) if task == "segmentation" else None)
    if task == "segmentation" and _is_images(preprocessing):
        kept = [name for position, name in enumerate(names) if position not in unreadable]
        _mask_files(decided, class_names, [input_path / n if input_path.is_dir() else input_path for n in kept], output)
    if unreadable:
        warnings.warn(UnreadableInputWarning(
            f"{len(unreadable)} of {len(names)} input images do not decode (the first: {names[min(unreadable)]}); "
            f"their rows in {output} are marked in the `unreadable` column, with no prediction"), stacklevel=2)
    _write(output, names, out, task, class_names, decided, unreadable)
    return output


#: a multi-label prediction sets a label where its probability is at least this (as the run's test metrics did),
#: unless the run tuned one per label (``balance.threshold``)
LABEL_THRESHOLD = 0.5


def label_thresholds(summary: dict[str, Any]) -> Any:
    """The cut per label a multi-label run's final evaluation used: its tuned ``thresholds`` (chosen on validation,
    ``summary.json``'s ``threshold``), else ``LABEL_THRESHOLD`` for every label."""
    tuned = (summary.get("threshold") or {}).get("thresholds")
    return LABEL_THRESHOLD if tuned is None else np.asarray(tuned, dtype=np.float64)


def _decisions(proba: np.ndarray, threshold: dict | None) -> np.ndarray:
    """Class indices as the run's final evaluation decided them: its tuned binary threshold
    (``summary.json``'s ``threshold``, chosen on validation) when it has one, else the argmax."""
    if threshold and threshold.get("threshold") is not None:
        return (positive_proba(proba) >= float(threshold["threshold"])).astype(np.int64)
    return np.argmax(proba, axis=1)


def _summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not run_dir.is_dir():
        raise ConfigError(f"--run {str(run_dir)!r}: no such run directory; runs live in runs/<name>")
    if not path.exists():
        if not any((run_dir / marker).exists() for marker in ("events.jsonl", "study.db", "vault")):
            raise ConfigError(f"--run {str(run_dir)!r} is not a run directory (no summary.json, study.db or "
                              f"events.jsonl); give the folder `knobs run` made, e.g. runs/<name>")
        raise ConfigError(f"run {str(run_dir)!r} has no summary.json: it has not finished; "
                          f"finish it with `knobs run` (same name) before predicting")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"run {str(run_dir)!r}: summary.json cannot be read ({error}); the run directory is "
                        f"damaged: run it again under another name") from None
    if not isinstance(summary, dict):
        raise DataError(f"run {str(run_dir)!r}: summary.json holds no run summary; the run directory is damaged")
    return summary


def _check_output(output: Path, input_path: Path) -> None:
    """Refuse, before any work, an output that would overwrite the input or cannot be written."""
    check_output_file(output, "--output", suffix=".csv")
    if output.exists() and input_path.exists() and output.resolve() == input_path.resolve():
        raise ConfigError(f"--output {str(output)!r} is the input file; predictions would overwrite it. "
                          f"Give another --output")


@dataclass(frozen=True)
class FinalModel:
    """A finished run's final model as ``knobs predict`` and ``knobs evaluate`` apply it: its members (the ensemble's
    used members with their weights, or the best trial), the run's preprocessing (None for arrays and built-in data),
    the first member's checkpoint record (``extra``: input shape, classes, standardizer) and the task."""

    members: list[torch.nn.Module]
    weights: list[float]
    extra: dict
    preprocessing: Preprocessing | None
    task: str

    @classmethod
    def load(cls, run_dir: Path, summary: dict) -> "FinalModel":
        paths, weights = _final_members(run_dir, summary)
        loaded = [_load(p) for p in paths]
        prep_path = run_dir / PREPROCESS_FILE
        return cls(members=[model for model, _ in loaded], weights=weights, extra=loaded[0][1],
                   preprocessing=Preprocessing.load(prep_path) if prep_path.exists() else None,
                   task=summary.get("data", {}).get("task", "classification"))

    def outputs(self, X: np.ndarray) -> np.ndarray:
        """The final model's outputs on standardized input rows: one member's, or the members' weighted average."""
        outs = [outputs(model, torch.as_tensor(X, dtype=torch.float32), self.task) for model in self.members]
        return average_outputs(outs, np.asarray(self.weights), self.task) if len(outs) > 1 else outs[0]


def _final_members(run_dir: Path, summary: dict) -> tuple[list[Path], list[float]]:
    """Checkpoints and weights of the final model: the ensemble's used members, or the best trial."""
    ensemble = summary.get("ensemble")
    if summary.get("final_model") == "ensemble" and ensemble:
        pairs = [(n, w) for n, w in zip(ensemble["members"], ensemble["weights"]) if w > 0]
        paths = [run_dir / "checkpoints" / f"trial-{n}.pt" for n, _ in pairs]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise DataError(f"run {str(run_dir)!r}: ensemble member checkpoint {missing[0]} is missing; "
                            f"the run directory is incomplete")
        return paths, [w for _, w in pairs]
    best = run_dir / "checkpoints" / "best.pt"
    if not best.exists():
        raise DataError(f"run {str(run_dir)!r}: checkpoints/best.pt is missing; the run directory is incomplete")
    return [best], [1.0]


def _load(path: Path) -> tuple[torch.nn.Module, dict]:
    extra = load_checkpoint(path).get("extra") or {}
    lacking = [k for k in ("input_shape", "n_classes", "family", "params", "scaler") if k not in extra]
    if lacking:
        raise CheckpointError(f"checkpoint {path} is not a knobs trial checkpoint (no {lacking[0]!r}); the run "
                              f"directory is damaged: run it again under another name")
    model, extra = load_member(path, extra["input_shape"], extra["n_classes"], extra["family"])
    return model.eval(), extra


def _model_input(preprocessing: Preprocessing | None, extra: dict, path: Path, resize: bool = False
                 ) -> tuple[list[str], np.ndarray, dict[int, str]]:
    """Row names, the standardized model input of the file (or folder) at ``path`` — of its readable
    rows — and ``{row position: reason}`` of the images left out (the run's ``bad_files = "skip"``).
    ``resize``: images of another size than the run's are decoded at its size (a segmentation's, whose
    masks go back to each image's own size: ``_mask_files``) instead of refused."""
    if not path.exists():
        raise DataError(f"--input {str(path)!r}: no such file or folder")
    shape = tuple(int(s) for s in extra["input_shape"])
    if preprocessing is None:  # built-in data: encoded numbers in, the checkpoint's scaler
        return (*_builtin_input(path, shape, Standardizer.from_state_dict(extra["scaler"])), {})
    kind = preprocessing.record.get("loading", {}).get("kind")
    if kind == "images":
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if path.is_dir() else [path]
        if not files:
            labelled = path.is_dir() and any(p.is_dir() for p in path.iterdir())
            raise DataError(f"--input {str(path)!r}: no image files (expected {sorted(IMAGE_SUFFIXES)})"
                            + ("; a folder of class folders is labelled data: score it with `knobs evaluate`" if labelled else ""))
        if not resize:
            _check_image_sizes(files, preprocessing.record["loading"]["image_size"])
        if preprocessing.record["loading"].get("bad_files") == "skip":
            return [f.name for f in files], *preprocessing.transform_readable_files(files)
        return [f.name for f in files], preprocessing.transform_files(files), {}
    loading = preprocessing.record.get("loading", {})
    table = read_table(path, loading.get("delimiter"))
    wanted = preprocessing.record["feature_names"]
    missing = [name for name in wanted if name not in table.header]
    if missing:
        raise DataError(f"--input {str(path)!r} lacks the column(s) {missing} this run was trained on; its "
                        f"columns are {table.header}, the run's features are {wanted}")
    cells = table.select(preprocessing.record["feature_names"])
    raw = cells if preprocessing.preprocessor is not None else _numbers(cells, table)
    return [str(n) for n in table.lines], preprocessing.transform(raw), {}


def _check_image_sizes(files: list[Path], image_size: list[int]) -> None:
    """Every image must have the run's size (see the module docstring); only headers are read."""
    from PIL import Image

    height, width = (int(s) for s in image_size)
    other = []
    for file in files:
        try:
            with Image.open(file) as image:
                size = image.size
        except (OSError, ValueError, SyntaxError):
            continue  # not decodable: named when it is read
        if size != (width, height):
            other.append((file, size))
    if other:
        (file, (w, h)), more = other[0], len(other) - 1
        others = f" ({more} more of the {len(files)} input images differ too)" if more else ""
        raise DataError(f"--input image {str(file)!r} is {w}x{h} pixels (width x height), but the run's model "
                        f"takes {width}x{height} images{others}; resize them to {width}x{height} first (as "
                        f"training decoded data.image_size: Pillow's image.resize(({width}, {height}), "
                        f"Image.BILINEAR), aspect ratio not kept), or predict with a run trained at their size")


def _numbers(cells: np.ndarray, table) -> np.ndarray:
    try:
        numbers = cells.astype(np.float32)
    except ValueError:
        bad_row, bad_col = next((i, j) for i in range(len(cells)) for j in range(cells.shape[1])
                                if not _is_float(cells[i, j]))
        raise DataError(f"{table.path}: line {table.lines[bad_row]} has {str(cells[bad_row, bad_col])!r} in a "
                        f"numeric feature column; this run was trained on numbers only") from None
    if not np.isfinite(numbers).all():
        bad_row, bad_col = (int(i) for i in np.argwhere(~np.isfinite(numbers))[0])
        raise DataError(f"{table.path}: line {table.lines[bad_row]} has {str(cells[bad_row, bad_col])!r} (missing "
                        f"or infinite) in a feature column; this run was trained without missing values, so "
                        f"fill or drop that row")
    return numbers


def _is_float(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _builtin_input(path: Path, shape: tuple[int, ...], scaler: Standardizer) -> tuple[list[str], np.ndarray]:
    width = int(np.prod(shape))
    if path.suffix == ".npy":
        try:
            X = np.asarray(np.load(path, allow_pickle=False), dtype=np.float32)
        except (OSError, ValueError, TypeError):  # NOTE: numpy's own words suggest allow_pickle: not wanted here
            raise DataError(f"--input {str(path)!r} is not a .npy array of numbers; save the features with "
                            f"numpy.save(path, X) (X: one row per sample)") from None
        if X.ndim == 0:
            raise DataError(f"--input {str(path)!r} holds a single number; expected one row per sample")
        names = [str(i) for i in range(len(X))]
    else:
        table = read_table(path)
        X = _numbers(table.cells, table)
        names = [str(n) for n in table.lines]
    X = X.reshape(len(X), -1)
    if X.shape[1] != width:
        raise DataError(f"--input {str(path)!r}: {X.shape[1]} features per row, but the run's model takes "
                        f"{width} (input shape {list(shape)})")
    return names, scaler.transform(X.reshape((len(X), *shape)))


def _write(path: Path, names: list[str], out: np.ndarray, task: str, class_names: list,
           decided: np.ndarray | None, unreadable: dict[int, str]) -> None:
    """One row per input name, in order: ``out`` and ``decided`` hold the readable ones' (the
    unreadable rows get empty cells and their reason in a last ``unreadable`` column)."""
    classify = task in ("classification", "multilabel", "segmentation")
    several = not classify and np.ndim(out) == 2  # a regression of several targets: a prediction column each
    header = ["row", *([f"prediction_{c}" for c in class_names] if several else ["prediction"]),
              *([f"proba_{c}" for c in class_names] if classify else [])]
    blank = [""] * (len(header) - 1)
    read = iter(range(len(out)))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header + (["unreadable"] if unreadable else []))
        for position, name in enumerate(names):
            if position in unreadable:
                writer.writerow([name, *blank, unreadable[position]])
                continue
            i = next(read)
            cells = ([_decided(decided[i], class_names), *[f"{p:.6f}" for p in out[i].reshape(len(class_names), -1)
                                                          .mean(axis=1)]] if classify
                     else [f"{v:.6g}" for v in np.atleast_1d(out[i])])
            writer.writerow([name, *cells] + ([""] if unreadable else []))


def target_names(summary: dict[str, Any], outputs: int) -> list[str]:
    """A run's output names where it has no classes: its target columns (several, for a regression of them), else
    their positions."""
    named = ((summary.get("data") or {}).get("loading") or {}).get("target")
    return [str(n) for n in named] if isinstance(named, list) and len(named) == outputs else [str(k) for k in range(outputs)]


def _decided(decision: Any, class_names: list) -> str:
    """A row's prediction cell: its class's name, the names of the labels it carries, ";"-joined (none: empty), or
    the classes a predicted mask shows, the most pixels first."""
    if np.ndim(decision) == 0:
        return str(class_names[int(decision)])
    if np.ndim(decision) == 2:
        classes, counts = np.unique(decision, return_counts=True)
        return ";".join(str(class_names[int(c)]) for c in classes[np.argsort(-counts, kind="stable")])
    return ";".join(str(name) for name, on in zip(class_names, decision) if on)


def _is_images(preprocessing: Preprocessing | None) -> bool:
    return preprocessing is not None and preprocessing.record.get("loading", {}).get("kind") == "images"


def _mask_files(masks: np.ndarray, class_names: list, files: list[Path], output: Path) -> Path:
    """Each predicted mask as a PNG of its image's own size, in the run's class ids (the values its training masks
    held), into ``<output>.masks/<image stem>.png`` — the layout a segmentation folder's ``masks/`` has, so the
    predictions read back as masks. A mask predicted at the run's size is resized nearest-neighbour to its image's
    (no class between two); ids above 255 are written as 16-bit."""
    from PIL import Image

    ids = _class_ids(class_names)[masks]
    folder = output.with_name(output.stem + ".masks")
    folder.mkdir(parents=True, exist_ok=True)
    deep = int(ids.max(initial=0)) > 255 or int(ids.min(initial=0)) < 0
    for mask, file in zip(ids, files):
        with Image.open(file) as image:
            size = image.size
        picture = Image.fromarray(mask.astype(np.uint16 if deep else np.uint8))
        if picture.size != size:
            picture = picture.resize(size, Image.Resampling.NEAREST)
        picture.save(folder / f"{file.stem}.png")
    return folder


def _class_ids(class_names: list) -> np.ndarray:
    """A segmentation run's class ids: its class names read as the integers its masks held, else the positions."""
    try:
        return np.asarray([int(name) for name in class_names], dtype=np.int64)
    except (TypeError, ValueError):
        return np.arange(len(class_names))


def _masks(proba: np.ndarray, class_names: list, output: Path) -> np.ndarray:
    """A segmentation's predicted masks ``(n, H, W)`` (each pixel's most probable class), also written beside the
    CSV as ``<output>.masks.npy`` in the run's own class ids (its masks' values when they were integers)."""
    masks = proba.argmax(axis=1)
    np.save(output.with_name(output.stem + ".masks.npy"), _class_ids(class_names)[masks])
    return masks
