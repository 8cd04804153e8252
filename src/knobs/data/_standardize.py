"""Standardization with statistics learned from the training split only.

Why a fitted object and not ``(X - X.mean()) / X.std()``: statistics taken over all rows leak the
validation and test rows into training. ``fit`` sees the training rows; ``transform`` applies the
same numbers to every split; ``state_dict`` stores them with the checkpoint so a served model sees
inputs scaled exactly as in training.

Modes (``X`` has shape ``(n, *feature_shape)``):

- ``"feature"``: one mean and std per feature (per pixel for images).
- ``"channel"``: one mean and std per channel of ``(n, C, H, W)`` data (the usual image recipe).
- ``"sample"``: each row scaled by its own mean and std; nothing is learned.
- ``"none"``: the identity (kept so a search can compare with and without).
"""

from __future__ import annotations

import numpy as np

from knobs.data._validate import validate_features
from knobs.errors import ConfigError, DataError

__all__ = ["Standardizer", "MODES"]

MODES = ("feature", "channel", "sample", "none")


def moments(X: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of ``X`` for a learned mode, shaped to broadcast against one row."""
    X = X.astype(np.float64, copy=False)
    if mode == "feature":
        return X.mean(axis=0), X.std(axis=0)
    axes = (0, *range(2, X.ndim))  # "channel": all axes but the channel axis
    return X.mean(axis=axes, keepdims=True)[0], X.std(axis=axes, keepdims=True)[0]


def is_constant(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Which entries hold a constant: std zero up to float rounding of the mean's magnitude."""
    # NOTE: a constant float32 column of 1000.0 can show a float64 std of ~1e-13 from rounding;
    # relative to the mean's magnitude that is still zero.
    return std <= 1e-7 * np.maximum(1.0, np.abs(mean))


def scale_rows(X: np.ndarray) -> np.ndarray:
    """Each row minus its mean, over its std (1 for a constant row)."""
    axes = tuple(range(1, X.ndim))
    mean = X.mean(axis=axes, keepdims=True, dtype=np.float64)
    std = X.std(axis=axes, keepdims=True, dtype=np.float64)
    return (X - mean) / np.where(is_constant(mean, std), 1.0, std)


class Standardizer:
    """Learns per-feature (or per-channel) mean and std from the training rows and applies them.

    Args:
        mode: ``"feature"``, ``"channel"``, ``"sample"`` or ``"none"`` (see the module doc).

    Attributes:
        mean_, std_: the learned statistics (``None`` for ``"sample"`` and ``"none"``); constant
            features get ``std_ = 1`` so they map to 0 instead of dividing by zero.
        constant_: boolean mask of the constant features or channels (the data checks report them).
        feature_shape_: the row shape seen in ``fit``; ``transform`` refuses any other.

    Example:
        >>> scaler = Standardizer("feature").fit(X_train)          # doctest: +SKIP
        >>> X_val = scaler.transform(X_val)                         # doctest: +SKIP
    """

    def __init__(self, mode: str = "feature") -> None:
        self.mode = mode

    def fit(self, X) -> "Standardizer":
        """Learn the statistics from the training rows ``X``; return ``self``."""
        if self.mode not in MODES:
            raise ConfigError(f"Standardizer mode must be one of {MODES}, got {self.mode!r}")
        X = validate_features(X, name="X_train")
        if X.ndim < 2 or len(X) == 0:
            raise DataError(f"Standardizer.fit needs rows: X of shape (n, features...), got {X.shape}")
        if self.mode == "channel" and X.ndim < 3:
            raise DataError(f"Standardizer mode 'channel' needs (n, C, H, W)-shaped X, got {X.shape}; "
                            f"reshape it with the data set's image_shape or use mode='feature'")
        self.feature_shape_ = tuple(X.shape[1:])
        self.mean_ = self.std_ = self.constant_ = None
        if self.mode in ("feature", "channel"):
            mean, std = moments(X, self.mode)
            self.constant_ = is_constant(mean, std)
            self.mean_, self.std_ = mean, np.where(self.constant_, 1.0, std)
        return self

    def transform(self, X) -> np.ndarray:
        """Standardize ``X`` with the fitted statistics (float dtype kept, float32 otherwise)."""
        X = self._check(X)
        if self.mode == "sample":
            return scale_rows(X).astype(X.dtype)
        if self.mode == "none":
            return X.copy()
        return ((X - self.mean_) / self.std_).astype(X.dtype)

    def inverse_transform(self, Xs) -> np.ndarray:
        """Map standardized values back to the original scale."""
        Xs = self._check(Xs)
        if self.mode == "sample":
            raise ConfigError("Standardizer mode 'sample' cannot be inverted: each row's own mean "
                              "and std are discarded by transform")
        if self.mode == "none":
            return Xs.copy()
        return (Xs * self.std_ + self.mean_).astype(Xs.dtype)

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)

    def _check(self, X) -> np.ndarray:
        if not hasattr(self, "feature_shape_"):
            raise ConfigError("this Standardizer is not fitted; call fit(X_train) first")
        X = np.asarray(X)
        if X.dtype.kind != "f":
            X = X.astype(np.float32)
        if tuple(X.shape[1:]) != self.feature_shape_:
            raise DataError(f"Standardizer was fitted on rows of shape {self.feature_shape_}, "
                            f"got X of shape {X.shape}")
        return X

    def state_dict(self) -> dict:
        """The mode and learned statistics as JSON-able lists."""
        if not hasattr(self, "feature_shape_"):
            raise ConfigError("this Standardizer is not fitted; call fit(X_train) first")

        def listed(array):
            return None if array is None else array.tolist()

        return {"mode": self.mode, "feature_shape": list(self.feature_shape_),
                "mean": listed(self.mean_), "std": listed(self.std_),
                "constant": listed(self.constant_)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned."""
        try:
            mode, shape = state["mode"], tuple(state["feature_shape"])
            arrays = [None if state[k] is None else np.asarray(state[k], dtype=dtype)
                      for k, dtype in (("mean", np.float64), ("std", np.float64), ("constant", bool))]
        except (KeyError, TypeError) as error:
            raise ConfigError(f"Standardizer state must hold mode, feature_shape, mean, std and "
                              f"constant; got keys {sorted(state) if isinstance(state, dict) else state!r}"
                              f" ({error})") from None
        if mode not in MODES:
            raise ConfigError(f"Standardizer mode must be one of {MODES}, got {mode!r}")
        self.mode, self.feature_shape_ = mode, shape
        self.mean_, self.std_, self.constant_ = arrays

    @classmethod
    def from_state_dict(cls, state: dict) -> "Standardizer":
        scaler = cls(state.get("mode", "feature") if isinstance(state, dict) else "feature")
        scaler.load_state_dict(state)
        return scaler

    def __repr__(self) -> str:
        fitted = "fitted" if hasattr(self, "feature_shape_") else "not fitted"
        return f"Standardizer(mode={self.mode!r}, {fitted})"
