"""How a run's rows look to a person: images as pixels, token ids as words, features with names.

Why one object: the report shows rows in two places — training samples as the model sees them
(standardized, augmented) and the worst-classified test rows (as the vault keeps them: encoded, not
standardized) — and both need the same facts about the data: what kind of rows these are, the
class names, the image shape and pixel range, the vocabulary, the column names. ``RowLooks.of``
gathers them once from the loaded data set and the prepared data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

__all__ = ["RowLooks"]

#: the most columns a table row shows (the rest are counted)
COLUMNS = 24
#: training rows whose raw values give the thumbnails' pixel range (a few suffice; large images are big)
PIXEL_ROWS = 32


#: a class's colour in a mask picture (Tableau's 10, then 10 lighter): classes beyond 20 repeat them
PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75],
                    [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207], [174, 199, 232], [255, 187, 120],
                    [152, 223, 138], [255, 152, 150], [197, 176, 213], [196, 156, 148], [247, 182, 210],
                    [199, 199, 199], [219, 219, 141], [158, 218, 229]], dtype=np.uint8)

@dataclass(frozen=True)
class RowLooks:
    """What a run's rows are and how to show one.

    Attributes:
        kind: "image" (rows reshape to ``image_shape``, even for an MLP on flat pixels), "text"
            (token ids) or "table".
        task: "classification" or "regression".
        class_names: the name of each class index (classification).
        image_shape: ``(C, H, W)`` of an image row.
        pixel_range: the training rows' (lowest, highest) raw value: one grey scale for every thumbnail.
        vocab: token of each id (text).
        feature_names: the name of each column of the encoded matrix (table).
    """

    kind: str
    task: str
    class_names: list[str] | None
    image_shape: tuple[int, ...] | None
    pixel_range: tuple[float, float]
    vocab: list[str] | None
    feature_names: list[str] | None
    scaler: Any
    input_shape: tuple[int, ...]

    @classmethod
    def of(cls, dataset: Any, data: Any) -> "RowLooks":
        """The looks of ``dataset``'s rows as ``data`` (``PreparedData``) feeds them to models."""
        preprocessor = data.preprocessing.preprocessor if data.preprocessing is not None else None
        shape = tuple(int(s) for s in dataset.image_shape) if dataset.image_shape else None
        kind = ("text" if data.texts is not None
                else "image" if shape and len(shape) == 3 and np.prod(shape) == np.prod(data.input_shape) else "table")
        names = getattr(preprocessor, "feature_names_", None) or dataset.feature_names
        n_features = int(np.prod(data.input_shape))
        looks = cls(kind=kind, task=data.task, class_names=dataset.class_names, image_shape=shape,
                    pixel_range=(0.0, 1.0), vocab=list(getattr(preprocessor, "vocab_", [])) or None,
                    feature_names=list(names) if names is not None and len(names) == n_features else None,
                    scaler=data.scaler, input_shape=tuple(data.input_shape))
        if kind != "image":
            return looks
        raw = looks.raw(data.train[0][:PIXEL_ROWS])
        low, high = float(np.min(raw)), float(np.max(raw))
        return replace(looks, pixel_range=(low, high if high > low else low + 1.0))

    def raw(self, X: Any) -> np.ndarray:
        """Model input back on the source's scale (standardization undone; a per-row ``sample``
        standardization cannot be undone and is shown as it is)."""
        X = np.asarray(X, dtype=np.float32).reshape((len(X), *self.input_shape))
        if getattr(self.scaler, "mode", "none") in ("sample", "none"):
            return X
        return self.scaler.inverse_transform(X)

    def label(self, y: Any) -> str:
        """A class index by its name, soft targets (mixup, CutMix) as their two largest shares, a
        regression target as a number, a row of labels as the names it carries (";"-joined)."""
        if self.task == "segmentation":  # a mask: the classes it shows, the most pixels first
            classes, counts = np.unique(np.asarray(y)[np.asarray(y) != -100], return_counts=True)
            return ", ".join(self.class_name(int(c)) for c in classes[np.argsort(-counts, kind="stable")]) or "(none)"
        if self.task == "multilabel":
            y = np.asarray(y, dtype=np.float64)
            return ";".join(self.class_name(k) + ("" if share >= 0.995 else f" {share:.2f}")
                            for k, share in enumerate(y) if share >= 0.005) or "(none)"
        if self.task != "classification":  # a value, or several targets' values
            return "; ".join(f"{float(v):.4g}" for v in np.atleast_1d(y))
        y = np.asarray(y)
        if y.ndim == 0:
            return self.class_name(int(y))
        top = np.argsort(-y)[:2]
        parts = [f"{self.class_name(int(c))} {y[c]:.2f}" for c in top if y[c] >= 0.005]
        return " + ".join(parts)

    def class_name(self, index: int) -> str:
        names = self.class_names
        return str(names[index]) if names is not None and 0 <= index < len(names) else str(index)

    def images(self, X: Any) -> list[np.ndarray]:
        """Raw rows (source scale) → uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` pixels, all on the
        training rows' pixel range (values outside it clip: noise, colour jitter)."""
        channels, height, width = self.image_shape
        low, high = self.pixel_range
        pixels = np.asarray(X, dtype=np.float64).reshape((len(X), channels, height, width))
        scaled = np.clip((pixels - low) / (high - low), 0.0, 1.0) * 255
        pictures = np.rint(scaled).astype(np.uint8)
        if channels == 3:
            return list(pictures.transpose(0, 2, 3, 1))
        return list(pictures[:, 0])  # one channel (or many: the first)

    def with_masks(self, pictures: list[np.ndarray], *masks: np.ndarray) -> list[np.ndarray]:
        """Each picture beside its masks (a class per pixel, -100 none: black), side by side as one RGB image, with a
        white column between: a segmentation's image, its true and its predicted classes."""
        out = []
        for i, picture in enumerate(pictures):
            rgb = picture if picture.ndim == 3 else np.repeat(picture[:, :, None], 3, axis=2)
            gap = np.full((rgb.shape[0], 1, 3), 255, np.uint8)
            parts = [rgb]
            for mask in masks:
                classes = np.asarray(mask[i])
                parts += [gap, np.where((classes == -100)[:, :, None], 0, PALETTE[np.maximum(classes, 0) % len(PALETTE)])
                          .astype(np.uint8)]
            out.append(np.concatenate(parts, axis=1))
        return out

    def sentence(self, ids: Sequence[float]) -> str | None:
        """Token ids → the words the model reads (padding dropped; unknown words show as ``<unk>``);
        None without a vocabulary (a backbone's own tokenizer)."""
        vocab = self.vocab
        if not vocab:
            return None
        words = [vocab[i] if 0 <= i < len(vocab) else "<unk>" for i in (int(v) for v in ids) if i != 0]
        return " ".join(words)

    def row(self, values: Sequence[float]) -> dict[str, Any]:
        """``{"columns": [...], "values": [...], "more": n}``: the first ``COLUMNS`` columns of one row."""
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        names = self.feature_names or [f"x{i}" for i in range(len(values))]
        shown = min(len(values), COLUMNS)
        return {"columns": [str(n) for n in names[:shown]],
                "values": [float(f"{v:.4g}") if np.isfinite(v) else None for v in values[:shown]],
                "more": int(len(values) - shown)}
