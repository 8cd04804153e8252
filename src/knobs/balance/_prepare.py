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
from knobs.balance._resample import smote, undersample
from knobs.balance._sampler import oversample_sampler, sampler_loader
from knobs.balance._threshold import THRESHOLD_METRICS
from knobs.balance._weights import class_counts, class_weights
from knobs.errors import ConfigError, DataError

__all__ = ["BalanceOptions", "BalancedTraining", "balance_training", "SAMPLERS", "LOSSES"]

SAMPLERS = ("none", "oversample", "undersample", "smote")
LOSSES = ("ce", "focal")


@dataclass(frozen=True)
class BalanceOptions:
    """How to treat class imbalance (the ``[balance]`` section of a config).

    Attributes:
        class_weight: ``"none"``, ``"balanced"`` (``n / (C * n_c)`` from the training counts), or
            explicit weights (one per class, or ``{class: weight}``).
        sampler: ``"none"``; ``"oversample"`` (draw classes equally often with a
            ``WeightedRandomSampler``); ``"undersample"`` (drop majority rows); ``"smote"``
            (synthetic minority rows; tabular, standardized features).
        loss: ``"ce"`` (cross-entropy) or ``"focal"``.
        focal_gamma: focal loss exponent (``loss="focal"`` only).
        smote_k: SMOTE's ``k_neighbors``.
        threshold: ``"none"`` or a metric of ``THRESHOLD_METRICS`` to tune a binary decision
            threshold on validation (used at evaluation, checked here).
    """

    class_weight: Any = "none"
    sampler: str = "none"
    loss: str = "ce"
    focal_gamma: float = 2.0
    smote_k: int = 5
    threshold: str = "none"

    def check(self, n_classes: int | None = None) -> "BalanceOptions":
        """Validate the options (and their fit to the task when ``n_classes`` is known).

        Raises:
            ConfigError: an unknown value or a contradictory combination, naming the key.
            DataError: options for a regression task (``n_classes=None``) or a threshold for a
                task with more than two classes.
        """
        self._check_names()
        self._check_numbers()
        self._check_task(n_classes)
        return self

    def _check_names(self) -> None:
        _one_of("sampler", self.sampler, SAMPLERS)
        _one_of("loss", self.loss, LOSSES)
        _one_of("threshold", self.threshold, ("none", *THRESHOLD_METRICS))
        if not isinstance(self.class_weight, str):
            return  # explicit weights are checked against the classes in class_weights()
        _one_of("class_weight", self.class_weight, ("none", "balanced"))
        if self.class_weight == "balanced" and self.sampler != "none":
            raise ConfigError(f"balance: class_weight='balanced' with sampler={self.sampler!r} "
                              f"corrects the imbalance twice (the resampled classes are already "
                              f"balanced); choose one of them")

    def _check_numbers(self) -> None:
        gamma, k = self.focal_gamma, self.smote_k
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not np.isfinite(gamma) or gamma < 0:
            raise ConfigError(f"balance.focal_gamma must be a finite number >= 0 (0 gives "
                              f"cross-entropy), got {gamma!r}")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"balance.smote_k (SMOTE's k_neighbors) must be a positive integer, got {k!r}")
        if self.loss != "focal" and gamma != BalanceOptions.focal_gamma:
            raise ConfigError(f"balance: focal_gamma={gamma!r} is set but loss={self.loss!r}; "
                              f"set loss='focal' or leave focal_gamma out")

    @property
    def active(self) -> bool:
        """True when any treatment differs from plain cross-entropy on the rows as they are."""
        return (not _is_none(self.class_weight) or self.sampler != "none" or self.loss != "ce"
                or self.threshold != "none")

    def _check_task(self, n_classes: int | None) -> None:
        if n_classes is None:
            if self.active:
                raise DataError("balance options apply to classification, but the task is "
                                "regression; remove the [balance] settings")
            return
        if self.threshold != "none" and n_classes != 2:
            raise DataError(f"balance.threshold={self.threshold!r} tunes a binary decision "
                            f"threshold, but the task has {n_classes} classes; set threshold = "
                            f"'none' (multiclass predicts the most probable class)")


@dataclass(frozen=True, eq=False)
class BalancedTraining:
    """What the training loop uses: the (resampled) training rows, a sampler, the loss.

    Attributes:
        X, y: training rows after ``undersample``/``smote``, else the rows as given.
        sampler: a ``WeightedRandomSampler`` for ``sampler="oversample"``, else None.
        loss: the loss module (``nn.CrossEntropyLoss`` or ``FocalLoss``, weighted or not).
        weights: the class weights in the loss, or None.
        counts_before, counts_after: training rows per class before and after resampling.
        options: the options that made it.
    """

    X: np.ndarray
    y: np.ndarray
    sampler: WeightedRandomSampler | None
    loss: nn.Module
    weights: np.ndarray | None
    counts_before: list[int]
    counts_after: list[int]
    options: BalanceOptions = BalanceOptions()

    def train_data(self, batch_size: int) -> Any:
        """What to pass as ``Trainer.fit(train=...)``: ``(X, y)``, or a DataLoader with the sampler."""
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
                     seed: int = 0) -> BalancedTraining:
    """Apply ``options`` to the training split; return its rows, sampler and loss.

    Args:
        options: the treatments.
        train: the training ``(X, y)`` (arrays or CPU tensors), standardized for SMOTE. Never
            pass validation or test rows: resampling them would change what they measure.
        n_classes: ``C``; None for a regression task (only the default options are allowed).
        seed: seeds resampling and the sampler.

    Raises:
        ConfigError, DataError: see ``BalanceOptions.check``, ``class_weights``, ``smote``.
    """
    options.check(n_classes)
    X, y = np.asarray(train[0]), np.asarray(train[1])
    if n_classes is None:
        return BalancedTraining(X, y, None, nn.MSELoss(), None, [], [], options)
    before = class_counts(y, n_classes).tolist()
    weights = None if _is_none(options.class_weight) else class_weights(y, n_classes, options.class_weight)
    X, y, sampler = _resample(options, X, y, n_classes, seed)
    return BalancedTraining(X=X, y=y, sampler=sampler, loss=_loss(options, weights), weights=weights,
                            counts_before=before, counts_after=class_counts(y, n_classes).tolist(),
                            options=options)


def _resample(options: BalanceOptions, X: np.ndarray, y: np.ndarray, n_classes: int, seed: int):
    if options.sampler == "oversample":
        return X, y, oversample_sampler(y, n_classes, seed=seed)
    if options.sampler == "undersample":
        return (*undersample(X, y, n_classes, seed=seed), None)
    if options.sampler == "smote":
        return (*smote(X, y, n_classes, k_neighbors=options.smote_k, seed=seed), None)
    return X, y, None


def _loss(options: BalanceOptions, weights: np.ndarray | None) -> nn.Module:
    if options.loss == "focal":
        return FocalLoss(gamma=options.focal_gamma, alpha=weights)
    return nn.CrossEntropyLoss(weight=None if weights is None else torch.as_tensor(weights, dtype=torch.float32))


def _one_of(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"balance.{key} must be one of {list(allowed)}, got {value!r}")


def _is_none(class_weight: Any) -> bool:
    return class_weight is None or (isinstance(class_weight, str) and class_weight == "none")
