"""Class imbalance: class weights, oversampling, undersampling, SMOTE, focal loss, and a binary
decision threshold tuned on validation (one per label for multi-label tasks: ``LabelThresholds``).

Every treatment acts on the training split only; validation and test keep their true class mix,
so their scores (``knobs.metrics``: balanced accuracy, macro-F1, per-class recall) say how the
model does on data as it comes.

Example:
    >>> from knobs.balance import BalanceOptions, balance_training
    >>> bal = balance_training(BalanceOptions(class_weight="balanced"), (X_train, y_train), n_classes=10)  # doctest: +SKIP
    >>> trainer.fit(model, train=bal.train_data(batch_size=64), val=(X_val, y_val))  # with Trainer(loss=bal.loss)  # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

from knobs.balance._options import LOSSES, SAMPLERS, THRESHOLD_METRICS, BalanceOptions

# NOTE: name -> module, imported by __getattr__ on first access, so that the run config can hold a
# ``BalanceOptions`` without loading torch and scikit-learn (``import knobs.config`` stays light).
_LAZY = {
    "BalancedTraining": "knobs.balance._prepare", "balance_training": "knobs.balance._prepare",
    "FocalLoss": "knobs.balance._focal", "focal_loss": "knobs.balance._focal",
    "smote": "knobs.balance._resample", "undersample": "knobs.balance._resample",
    "oversample_sampler": "knobs.balance._sampler", "sampler_loader": "knobs.balance._sampler",
    "Threshold": "knobs.balance._threshold", "best_threshold": "knobs.balance._threshold",
    "positive_proba": "knobs.balance._threshold", "LabelThresholds": "knobs.balance._threshold",
    "class_counts": "knobs.balance._weights", "class_weights": "knobs.balance._weights",
    "sample_weights": "knobs.balance._weights", "label_weights": "knobs.balance._weights",
}

__all__ = ["LOSSES", "SAMPLERS", "THRESHOLD_METRICS", "BalanceOptions", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'knobs.balance' has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
