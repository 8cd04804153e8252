"""Class imbalance: class weights, oversampling, undersampling, SMOTE, focal loss, and a binary
decision threshold tuned on validation.

Every treatment acts on the training split only; validation and test keep their true class mix,
so their scores (``knobs.metrics``: balanced accuracy, macro-F1, per-class recall) say how the
model does on data as it comes.

Example:
    >>> from knobs.balance import BalanceOptions, balance_training
    >>> bal = balance_training(BalanceOptions(class_weight="balanced"), (X_train, y_train), n_classes=10)  # doctest: +SKIP
    >>> trainer.fit(model, train=bal.train_data(batch_size=64), val=(X_val, y_val))  # with Trainer(loss=bal.loss)  # doctest: +SKIP
"""

from knobs.balance._focal import FocalLoss, focal_loss
from knobs.balance._prepare import LOSSES, SAMPLERS, BalancedTraining, BalanceOptions, balance_training
from knobs.balance._resample import smote, undersample
from knobs.balance._sampler import oversample_sampler, sampler_loader
from knobs.balance._threshold import THRESHOLD_METRICS, Threshold, best_threshold, positive_proba
from knobs.balance._weights import class_counts, class_weights, sample_weights

__all__ = [
    "LOSSES", "SAMPLERS", "THRESHOLD_METRICS", "BalanceOptions", "BalancedTraining", "FocalLoss",
    "Threshold", "balance_training", "best_threshold", "class_counts", "class_weights", "focal_loss",
    "oversample_sampler", "positive_proba", "sample_weights", "sampler_loader", "smote", "undersample",
]
