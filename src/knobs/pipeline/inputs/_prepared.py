"""Data made ready for trials: split, encoded and standardized with train statistics only.

The splits that reach ``prepare`` are already encoded (``knobs.data.encode_splits`` fitted the
data set's preprocessor on the training split); ``prepare`` fits the standardizer the same way and
gathers both into a ``Preprocessing`` that the run directory keeps as ``preprocess.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobs.data import Dataset, Preprocessing, Splits, Standardizer
from knobs.data._dataset import RowsReleased
from knobs.errors import ConfigError
from knobs.models import TEXT_FAMILIES
from knobs.data._stream import is_streamed
from knobs.pipeline.inputs._backbone_text import TEXT_BACKBONES, is_text_backbone
from knobs.pipeline.inputs._backbone_images import backbone_input_shape, is_image_backbone
from knobs.pipeline.inputs._data_checks import data_check_results
from knobs.pipeline.inputs._streamed import stream_prepared
from knobs.pipeline.inputs._target import fit_target, scale_target, unscale_target

#: what a ``model.builder``'s sequences (``data.layout = "sequence"``) are prepared as — ``(T, F)``, each feature
#: standardized over its steps (``model/_build.data_family``); no family of knobs' own
SEQUENCE = "sequence"

__all__ = ["PreparedData", "prepare", "model_tensors", "standardized_away", "PREPROCESS_FILE", "SEQUENCE"]

PREPROCESS_FILE = "preprocess.json"


@dataclass
class PreparedData:
    """Train and validation tensors (the test split is not here: it lives in the vault).

    ``preprocessing`` turns raw rows of the data source into model input (``None`` for built-in
    data); ``model_args`` are model arguments the data decides (``vocab_size`` for text models).
    ``texts`` keeps the raw training texts of a text run, for EDA ([augment]); ``folds`` holds, in
    fold mode (``data.folds``), the folds, each prepared on its own when a fit uses it — this
    object then holds every non-test row as training data, for the final refit (let go once the
    run's inputs are checked, made again for the refit: ``FoldMode.training_data``).
    """

    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, ...]
    n_classes: int
    task: str
    scaler: Standardizer
    preprocessing: Preprocessing | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    #: the training split treated for class imbalance ([balance]), or None
    balanced: Any = None
    #: the training texts as read, (n, 1) (text runs only)
    texts: np.ndarray | None = None
    #: fold mode: one ``FoldData`` per fold (``knobs.pipeline.inputs._folds``: its rows' positions;
    #: ``prepare()`` makes its data), else None
    folds: list | None = None
    #: regression: ``{"mean", "std"}`` of the training targets, which train/val hold standardized
    #: (``knobs.pipeline.inputs._target``); None for classification
    target: dict | None = None
    #: streamed data (``knobs.pipeline.inputs._streamed``): the seeded samples of raw train / val
    #: rows and their targets that the statistics and the preflight checks read; None in memory
    samples: dict | None = None
    #: the data checks of the train / val rows before standardization, when those rows were then
    #: standardized in place (``prepare(in_place=True)``: nothing else holds them) and the caller
    #: reports them (``prepare(data_checks=True)``); else None
    data_checks: list | None = None

    @property
    def trainer_task(self) -> str:
        """The task as ``knobs.train`` and ``knobs.checks`` name it: a segmentation's class per pixel is their
        classification, told apart by its labels' shape."""
        return "classification" if self.task == "segmentation" else self.task

    def raw_targets(self, y: torch.Tensor) -> np.ndarray:
        """Targets of train/val back in their own units (regression targets are standardized)."""
        return unscale_target(y, self.target)

    def to_model_input(self, X: np.ndarray) -> torch.Tensor:
        """Standardize encoded features with the training statistics and shape them for the model
        (streamed rows: a view that does so as it reads them)."""
        if is_streamed(X):
            return X.reshape((-1, *self.input_shape)).with_transform(self.scaler.transform)
        return _as_input(self.scaler.transform(_reshape(X, self.input_shape)), self.input_shape)

    def save_preprocessing(self, directory: str | Path) -> Path | None:
        """Write ``preprocess.json`` into the run directory (nothing for built-in data)."""
        if self.preprocessing is None:
            return None
        return self.preprocessing.save(Path(directory) / PREPROCESS_FILE)


def prepare(dataset: Dataset, splits: Splits, family: str, standardize: str,
            preprocessor: Any = None, report: dict | None = None, texts: np.ndarray | None = None,
            seed: int = 0, in_place: bool = False, data_checks: bool = True) -> PreparedData:
    """Fit the scaler on the (encoded) training split, then transform train and val with it.

    Args:
        dataset: the data set as loaded (its description; its ``X`` may be raw).
        splits: the splits, encoded by ``encode_splits`` when the data set has a preprocessor.
        family: the model family (checked against the kind of data).
        standardize: the scaler mode; token ids are never standardized.
        preprocessor, report: what ``encode_splits`` returned.
        texts: the raw training texts (text runs), kept for EDA.
        seed: draws the training rows the statistics of streamed data come from.
        in_place: ``splits`` holds the only copy of its train / val rows (the run's own), so
            float32 rows are standardized where they lie instead of into a copy — the same bits,
            half the memory; the data checks, which read them before, are answered first and kept
            (``data_checks``). The caller must not read those rows as raw afterwards.
        data_checks: with ``in_place``, whether to answer the data checks first: a caller that
            will not report them (``checks.data = false``, a worker process) says False, and the
            pass over every train / val row is not made (``data_checks`` stays None).
    """
    input_shape = _input_shape(dataset, splits.train[0], family)
    text = _is_text(dataset)
    scaler = Standardizer(mode="none" if text else _scaler_mode(standardize, family))
    target = fit_target(splits.train[1], dataset.task)
    streamed = None
    if is_streamed(splits.train[0]):  # NOTE: statistics from a seeded sample of training rows
        streamed = stream_prepared(dataset, splits, input_shape, scaler,
                                   lambda y: scale_target(_labels(y, dataset), target), seed)
    else:
        scaler.fit(_reshape(splits.train[0], input_shape).astype(np.float32, copy=False))  # NOTE: no copy of float32 rows

    # NOTE: built-in, builder and arrays data are numbers as given: nothing to re-apply (predict reads .npy)
    read = set(dataset.loading) - {"memory"}  # NOTE: every run records where it holds rows; built-in data reads no file
    from_file = bool(read) and dataset.loading.get("kind") not in ("builder", "arrays")
    preprocessing = Preprocessing.of(dataset, preprocessor, scaler, input_shape, report or {}) if from_file else None
    outputs = int(np.shape(splits.train[1])[1]) if np.ndim(splits.train[1]) == 2 else 1
    data = PreparedData(
        train=streamed["train"] if streamed else None,
        val=streamed["val"] if streamed else None,
        input_shape=input_shape,
        n_classes=int(dataset.n_classes or outputs),  # a regression's outputs: 1, or one per target column
        task=dataset.task,
        scaler=scaler,
        preprocessing=preprocessing,
        model_args={"vocab_size": len(preprocessor.vocab_)} if text and not is_text_backbone(family) else {},
        texts=texts if text else None,
        target=target,
        samples=streamed["samples"] if streamed else None,
    )
    if not streamed:
        if in_place and data_checks:  # NOTE: the checks read the rows as they are now, before they change
            data.data_checks = data_check_results(data, (splits.train, splits.val),
                                                  images=dataset.image_shape is not None)
        data.train = model_tensors(data, dataset, splits.train, in_place)
        data.val = model_tensors(data, dataset, splits.val, in_place)
    return data


def model_tensors(data: PreparedData, dataset: Dataset, pair: tuple[np.ndarray, np.ndarray],
                  in_place: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded rows and their targets as ``data`` trains on them: the rows standardized with its
    scaler and shaped as its input (``in_place``: over the rows themselves when they are float32,
    the same bits as a copy), the targets scaled with its target statistics."""
    X, y = pair
    X = _reshape(X, data.input_shape)
    into = X if in_place and _writable_float32(X) else None
    return (_as_input(data.scaler.transform(X, out=into), data.input_shape),
            scale_target(_labels(y, dataset), data.target))


def standardized_away(splits: Splits) -> Splits:
    """``splits`` with the train / val rows, now standardized where they lay (``prepare(in_place=True)``),
    replaced by their shape: reading them as raw rows would be wrong, and nothing after needs them
    (their data checks are answered: ``PreparedData.data_checks``). Targets stay."""
    def released(pair):
        X, y = pair
        why = "the run standardized these rows in place (PreparedData.train / val hold them); the raw ones are gone"
        return (RowsReleased(X.shape, X.dtype, why), y) if isinstance(X, np.ndarray) else pair
    return dataclasses.replace(splits, train=released(splits.train), val=released(splits.val))


def _writable_float32(X: Any) -> bool:
    """Rows ``Standardizer.transform`` can write its float32 result over."""
    return isinstance(X, np.ndarray) and X.dtype == np.float32 and X.flags.writeable and X.flags.c_contiguous


def _is_text(dataset: Dataset) -> bool:
    return dataset.loading.get("kind") == "text"


def _input_shape(dataset: Dataset, X_train: np.ndarray, family: str) -> tuple[int, ...]:
    backbone_shape = backbone_input_shape(dataset, family)  # an image backbone keeps the images' shape
    if backbone_shape is not None:
        return backbone_shape
    text_families = (*TEXT_FAMILIES, *TEXT_BACKBONES)
    if _is_text(dataset) != (family in text_families):
        raise ConfigError(
            f"model.family {family!r} does not fit {dataset.source}: "
            + (f"text data needs a text model, one of {', '.join(text_families)}" if _is_text(dataset)
               else f"the text families ({', '.join(text_families)}) need text data (data.text_column)")
        )
    if family == SEQUENCE:  # a builder's sequences, as (T, F)
        return tuple(dataset.sequence_shape)
    if family == "convnet":
        if dataset.image_shape is None:
            raise ConfigError(
                f"model.family 'convnet' needs image data; {dataset.source} has flat features "
                f"{tuple(X_train.shape[1:])}: use family = \"mlp\""
            )
        return tuple(dataset.image_shape)
    return (int(np.prod(X_train.shape[1:])),)


def _scaler_mode(standardize: str, family: str) -> str:
    if is_image_backbone(family):
        return "none"  # the backbone normalizes each batch with its own mean and std
    if standardize == "feature" and family in ("convnet", SEQUENCE):  # per channel / per feature over the steps
        return "channel" if family == "convnet" else "sequence"
    return standardize


def _reshape(X: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    return X.reshape((len(X), *input_shape))


def _as_input(X: Any, input_shape: tuple[int, ...]) -> torch.Tensor:
    # NOTE: token ids ride as float32 too (exact below 2**24, the vocabulary limit).
    return torch.as_tensor(np.asarray(X, dtype=np.float32)).reshape((-1, *input_shape))


def _labels(y: np.ndarray, dataset: Dataset) -> torch.Tensor:
    dtype = torch.long if dataset.task in ("classification", "segmentation") else torch.float32
    return torch.as_tensor(y).to(dtype)
