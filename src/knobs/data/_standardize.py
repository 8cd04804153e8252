"""Standardization with statistics learned from the training split only.

Why a fitted object and not ``(X - X.mean()) / X.std()``: statistics taken over all rows leak the
validation and test rows into training. ``fit`` sees the training rows; ``transform`` applies the
same numbers to every split; ``state_dict`` stores them with the checkpoint so a served model sees
inputs scaled exactly as in training.

Modes (``X`` has shape ``(n, *feature_shape)``):

- ``"feature"``: one mean and std per feature (per pixel for images).
- ``"channel"``: one mean and std per channel of ``(n, C, H, W)`` data (the usual image recipe).
- ``"sequence"``: one mean and std per feature of ``(n, T, F)`` sequences, over the rows and their time steps
  (each of F signals on its own scale, every step scaled alike).
- ``"sample"``: each row scaled by its own mean and std; nothing is learned.
- ``"none"``: the identity (kept so a search can compare with and without).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from knobs.data._validate import validate_features
from knobs.errors import ConfigError, DataError

__all__ = ["Standardizer", "MODES", "moments", "row_blocks", "row_slices"]

MODES = ("feature", "channel", "sequence", "sample", "none")


# NOTE: float64 working memory per block of rows. The whole split in float64 at once (a copy, then
# X - mean and its square) took six times the float32 rows: 3.3 GB transient for CIFAR-10's 45,000
# training images, the run's peak (docs/benchmarks.md, "Your own ResNet on CIFAR-10 at full scale").
BLOCK_BYTES = 32 * 2**20


def row_blocks(n_rows: int, row_size: int) -> range:
    """Starts of blocks of rows whose float64 copy takes about ``BLOCK_BYTES``."""
    return range(0, n_rows, max(1, BLOCK_BYTES // (8 * max(1, row_size))))


def row_slices(X) -> Iterator[slice]:
    """Slices of ``X``'s rows in ``row_blocks`` of its row size, in order."""
    blocks = row_blocks(len(X), int(np.prod(X.shape[1:])))
    return (slice(start, start + blocks.step) for start in blocks)


def moments(X: np.ndarray, mode: str, ignore_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of ``X`` for a learned mode, shaped to broadcast against one row.

    Block by block in float64, merged exactly (Chan et al.'s pairwise update), so the memory is one
    block's, not the split's; one block gives numpy's own mean and std bit for bit.
    ``ignore_nan``: non-finite values do not count (an entry with none left: NaN), as ``np.nanstd``.
    """
    # "channel": all axes but the channel's (axis 1); "sequence": all but the features' (the last)
    axes = (0,) if mode == "feature" else tuple(range(X.ndim - 1)) if mode == "sequence" else (0, *range(2, X.ndim))
    count = mean = m2 = None
    for rows in row_slices(X):
        block = X[rows].astype(np.float64)
        if ignore_nan:
            finite = np.isfinite(block)
            n = finite.sum(axis=axes, keepdims=True).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                b_mean = np.where(finite, block, 0.0).sum(axis=axes, keepdims=True) / n
                b_m2 = np.where(finite, (block - b_mean) ** 2, 0.0).sum(axis=axes, keepdims=True)
            b_mean, b_m2 = np.where(n > 0, b_mean, 0.0), np.where(n > 0, b_m2, 0.0)
        else:
            n = np.float64(np.prod([block.shape[a] for a in axes]))
            b_mean = block.mean(axis=axes, keepdims=True)
            b_m2 = ((block - b_mean) ** 2).sum(axis=axes, keepdims=True)
        if count is None:
            count, mean, m2 = n, b_mean, b_m2
            continue
        total = count + n
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(total > 0, n / total, 0.0)
        delta = b_mean - mean
        mean = mean + delta * share
        m2 = m2 + b_m2 + delta ** 2 * count * share
        count = total
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(m2 / count)
    if ignore_nan:
        mean, std = np.where(count > 0, mean, np.nan), np.where(count > 0, std, np.nan)
    return mean[0], std[0]


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
        mode: ``"feature"``, ``"channel"``, ``"sequence"``, ``"sample"`` or ``"none"`` (see the module doc).

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
        """Learn the statistics from the training rows ``X`` (arrays or tensors); return ``self``."""
        X = X.detach().cpu().numpy() if _is_tensor(X) else X
        if self.mode not in MODES:
            raise ConfigError(f"Standardizer mode must be one of {MODES}, got {self.mode!r}")
        X = validate_features(X, name="X_train")
        if X.ndim < 2 or len(X) == 0:
            raise DataError(f"Standardizer.fit needs rows: X of shape (n, features...), got {X.shape}")
        if self.mode == "channel" and X.ndim < 3:
            raise DataError(f"Standardizer mode 'channel' needs (n, C, H, W)-shaped X, got {X.shape}; "
                            f"reshape it with the data set's image_shape or use mode='feature'")
        if self.mode == "sequence" and X.ndim != 3:
            raise DataError(f"Standardizer mode 'sequence' needs (n, time steps, features)-shaped X, got {X.shape}")
        self.feature_shape_ = tuple(X.shape[1:])
        self.mean_ = self.std_ = self.constant_ = None
        if self.mode in ("feature", "channel", "sequence"):
            mean, std = moments(X, self.mode)
            self.constant_ = is_constant(mean, std)
            self.mean_, self.std_ = mean, np.where(self.constant_, 1.0, std)
        return self

    def transform(self, X, *, out: np.ndarray | None = None) -> np.ndarray:
        """Standardize ``X`` with the fitted statistics (float dtype kept, float32 otherwise); a torch tensor
        comes back as a tensor on its device, an array as an array.

        ``out``: where to write the result (``out=X`` standardizes the rows in place, with the same
        bits as a copy: each block is computed whole before it is written); it must have ``X``'s
        shape and dtype.
        """
        if out is None and _is_tensor(X):
            return _as_tensor_like(self.transform(X.detach().cpu().numpy()), X)
        X = self._check(X)
        if out is not None and (out.shape != X.shape or out.dtype != X.dtype):
            raise DataError(f"Standardizer.transform: out must have X's shape {X.shape} and dtype {X.dtype}, "
                            f"got {out.shape} {out.dtype}")
        if self.mode == "sample":
            if out is None:
                return scale_rows(X).astype(X.dtype)
            out[...] = scale_rows(X)
            return out
        if self.mode == "none":
            if out is None:
                return X.copy()
            if out is not X:
                out[...] = X
            return out
        # NOTE: block by block: the float64 arithmetic of the whole split at once took four times its rows.
        out = np.empty(X.shape, dtype=X.dtype) if out is None else out
        for rows in row_slices(X):
            out[rows] = (X[rows] - self.mean_) / self.std_
        return out

    def inverse_transform(self, Xs) -> np.ndarray:
        """Map standardized values back to the original scale (a tensor comes back as a tensor)."""
        if _is_tensor(Xs):
            return _as_tensor_like(self.inverse_transform(Xs.detach().cpu().numpy()), Xs)
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


def _is_tensor(value) -> bool:
    """A torch tensor, told without importing torch (``knobs.data``'s arrays need none)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _as_tensor_like(values: np.ndarray, like):
    """``values`` as a tensor on ``like``'s device.

    NOTE: a torch user standardizing tensors got NumPy arrays back, which then met tensors elsewhere."""
    import torch

    return torch.from_numpy(values).to(like.device)
