"""One entry point from balance options to what the training loop needs: rows, sampler, loss.

Why one function: the treatments combine (weights with focal loss, SMOTE with explicit weights)
and some combinations are mistakes ("balanced" weights on top of oversampling corrects the
imbalance twice). Deciding them in one place, from the training split alone, keeps validation
and test untouched and gives the pipeline one call and one record to log.

Example:
    >>> opts = BalanceOptions(class_weight="balanced", loss="focal", focal_gamma=2.0)
    >>> bal = balance_training(opts, (X_train, y_train), n_classes=10, seed=0)   # doctest: +SKIP
    >>> trainer = Trainer(loss=bal.loss, ...)                                      # doctest: +SKIP
    >>> trainer.fit(model, train=bal.train_data(batch_size=64), val=(X_val, y_val))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from knobs.balance._focal import FocalLoss
from knobs.balance._options import LOSSES, SAMPLERS, BalanceOptions
from knobs.balance._resample import smote, undersample, undersample_index
from knobs.balance._sampler import oversample_sampler, sampler_loader
from knobs.balance._weights import class_counts, class_weights, label_weights
from knobs.data._stream import StreamedPair, is_streamed
from knobs.errors import ConfigError, DataError

__all__ = ["BalanceOptions", "BalancedTraining", "balance_training", "SAMPLERS", "LOSSES"]

@dataclass(frozen=True, eq=False)
class BalancedTraining:
    """What the training loop uses: the (resampled) training rows, a sampler, the loss.

    Attributes:
        X, y: training rows after ``undersample``/``smote``, else the rows as given (rows read from
            disk, ``knobs.data.StreamedRows``, stay a view: undersampled, a selection of it).
        sampler: a ``WeightedRandomSampler`` for ``sampler="oversample"``, else None.
        loss: the loss module (``nn.CrossEntropyLoss`` or ``FocalLoss``, weighted or not).
        weights: the class weights in the loss, or None.
        counts_before, counts_after: training rows per class before and after resampling.
        options: the options that made it.
    """

    X: Any
    y: np.ndarray
    sampler: WeightedRandomSampler | None
    loss: nn.Module
    weights: np.ndarray | None
    counts_before: list[int]
    counts_after: list[int]
    options: BalanceOptions = BalanceOptions()

    def train_data(self, batch_size: int) -> Any:
        """What to pass as ``Trainer.fit(train=...)``: ``(X, y)``, or a DataLoader with the sampler;
        rows read from disk (``knobs.data.StreamedRows``) as a ``StreamedPair`` that draws its
        batches from the sampler, if any."""
        if is_streamed(self.X):
            return StreamedPair(self.X, torch.as_tensor(self.y), sampler=self.sampler)
        if self.sampler is None:
            return self.X, self.y
        return sampler_loader(self.X, self.y, self.sampler, batch_size)

    def summary(self) -> dict[str, Any]:
        """Plain JSON facts for ``summary.json`` and the events log."""
        opts = self.options
        return {"loss": opts.loss, "focal_gamma": opts.focal_gamma if opts.loss == "focal" else None,
                "sampler": opts.sampler, "threshold": opts.threshold,
                "class_weights": None if self.weights is None else [float(w) for w in self.weights],
                "counts_before": self.counts_before, "counts_after": self.counts_after}


def balance_training(options: BalanceOptions, train, n_classes: int | None,
                     seed: int = 0, task: str = "classification") -> BalancedTraining:
    """Apply ``options`` to the training split; return its rows, sampler and loss.

    Args:
        options: the treatments.
        train: the training ``(X, y)`` (arrays or CPU tensors), standardized for SMOTE. Never
            pass validation or test rows: resampling them would change what they measure.
        n_classes: ``C``; None for a regression task (only the default options are allowed).
        seed: seeds resampling and the sampler.
        task: ``"multilabel"``: rows of ``n_classes`` 0 / 1 labels; only weights apply, each label's positives
            weighed in ``nn.BCEWithLogitsLoss(pos_weight=...)`` (``label_weights`` when "balanced"), and the
            counts are the training rows carrying each label.

    Raises:
        DataError: see ``BalanceOptions.check``, ``class_weights``, ``smote``.
        ConfigError: explicit class weights that do not fit the classes (``class_weights``).
    """
    options.check(n_classes, task)
    # NOTE: rows read from disk stay a view: weights and samplers need only the labels, and
    # undersampling keeps a selection of the view.
    X = train[0] if is_streamed(train[0]) else np.asarray(train[0])
    y = np.asarray(train[1])
    if task == "multilabel":
        return _weighed_labels(options, X, y)
    if n_classes is None:
        return BalancedTraining(X, y, None, nn.MSELoss(), None, [], [], options)
    before = class_counts(y, n_classes).tolist()
    weights = None if _is_none(options.class_weight) else class_weights(y, n_classes, options.class_weight)
    X, y, sampler = _resample(options, X, y, n_classes, seed)
    return BalancedTraining(X=X, y=y, sampler=sampler, loss=_loss(options, weights), weights=weights,
                            counts_before=before, counts_after=class_counts(y, n_classes).tolist(),
                            options=options)


def _weighed_labels(options: BalanceOptions, X: np.ndarray, y: np.ndarray) -> BalancedTraining:
    """A multi-label split's treatment: each label's positives weighed in the binary cross-entropy."""
    counts = y.sum(axis=0).astype(np.int64).tolist()
    weights = None
    if options.class_weight == "balanced":
        weights = label_weights(y)
    elif not _is_none(options.class_weight):
        given = options.class_weight
        weights = np.asarray([given.get(k, 1.0) for k in range(y.shape[1])] if isinstance(given, dict) else given, float)
        if weights.shape != (y.shape[1],) or not (weights > 0).all() or (isinstance(given, dict) and
                                                                        set(given) - set(range(y.shape[1]))):
            raise ConfigError(f"balance.class_weight: a multi-label task takes one positive weight per label "
                              f"({y.shape[1]}: a list, or {{label index: weight}}), got {given!r}")
    loss = nn.BCEWithLogitsLoss(pos_weight=None if weights is None else torch.as_tensor(weights, dtype=torch.float32))
    return BalancedTraining(X, y, None, loss, weights, counts, counts, options)


def _resample(options: BalanceOptions, X: np.ndarray, y: np.ndarray, n_classes: int, seed: int):
    if options.sampler in ("oversample", "undersample", "smote") and y.ndim >= 2 and y.dtype.kind in "iu" and \
            not (y.ndim == 2 and y.shape[1] == 1):
        # NOTE: oversampling failed inside torch ("weights should be a 1d sequence") on a segmentation's masks
        raise DataError(f"balance.sampler = {options.sampler!r} draws rows by their class, and the labels hold a class "
                        f"per position (shape {y.shape}); weigh the loss instead: class_weight = \"balanced\" (it "
                        f"counts the labelled positions) or loss = \"focal\"")
    if options.sampler == "oversample":
        return X, y, oversample_sampler(y, n_classes, seed=seed)
    if options.sampler == "undersample":
        if is_streamed(X):
            index = undersample_index(y, n_classes, seed=seed)
            return X.take(index), y[index], None
        return (*undersample(X, y, n_classes, seed=seed), None)
    if options.sampler == "smote" and is_streamed(X):
        raise DataError(f"balance.sampler = \"smote\" makes new rows between neighbouring training rows, which "
                        f"needs all {len(X)} of them in memory, and these rows are read from disk batch by batch; "
                        f"use sampler = \"oversample\" (each class drawn equally often) or class_weight = "
                        f"\"balanced\", or raise data.memory so the rows are held in memory")
    if options.sampler == "smote":
        return (*smote(X, y, n_classes, k_neighbors=options.smote_k, seed=seed), None)
    return X, y, None


def _loss(options: BalanceOptions, weights: np.ndarray | None) -> nn.Module:
    if options.loss == "focal":
        return FocalLoss(gamma=options.focal_gamma, alpha=weights)
    return nn.CrossEntropyLoss(weight=None if weights is None else torch.as_tensor(weights, dtype=torch.float32))



def _is_none(class_weight: Any) -> bool:
    return class_weight is None or (isinstance(class_weight, str) and class_weight == "none")
