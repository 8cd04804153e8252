"""Standardization statistics and transforms computed block by block (bounded memory) give numpy's
whole-array results: bit for bit in one block, to float64 rounding across blocks, NaN-aware for the
data checks."""
import warnings

import numpy as np
import pytest

from knobs.checks import _data_checks
from knobs.data import _standardize
from knobs.data._standardize import Standardizer, moments


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(3.0, 2.0, size=(500, 3, 4, 5)).astype(np.float32)


def _reference(X, mode):
    axes = (0,) if mode == "feature" else (0, 2, 3)
    X64 = X.astype(np.float64)
    return X64.mean(axis=axes, keepdims=True)[0], X64.std(axis=axes, keepdims=True)[0]


@pytest.mark.parametrize("mode", ["feature", "channel"])
def test_one_block_is_numpy_bit_for_bit(X, mode):
    mean, std = moments(X, mode)
    ref_mean, ref_std = _reference(X, mode)
    assert np.array_equal(mean, ref_mean) and np.array_equal(std, ref_std)


@pytest.mark.parametrize("mode", ["feature", "channel"])
def test_many_blocks_merge_to_numpy(X, mode, monkeypatch):
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 8 * 60 * 7)  # 7 rows a block: 72 blocks
    assert _standardize.row_blocks(len(X), 60).step == 7
    mean, std = moments(X, mode)
    ref_mean, ref_std = _reference(X, mode)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-13)
    np.testing.assert_allclose(std, ref_std, rtol=1e-13)


@pytest.mark.parametrize("block_bytes", [32 * 2**20, 8 * 60 * 3])
def test_nan_aware_moments_match_nanmean_nanstd(X, block_bytes, monkeypatch):
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", block_bytes)
    Y = X.reshape(len(X), -1).astype(np.float64)
    Y[::3, 5], Y[:, 7], Y[10, 9], Y[:499, 11] = np.nan, np.nan, np.inf, np.nan  # column 11: one value left
    finite = np.where(np.isfinite(Y), Y, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref_mean, ref_std = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an all-NaN column answers NaN without a warning
        mean, std = _data_checks._moments(Y)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(std, ref_std, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isnan(mean[7]) and np.isnan(std[7]) and std[11] == 0.0


def test_transform_in_blocks_is_the_one_shot_formula(X, monkeypatch):
    scaler = Standardizer("channel").fit(X)
    expected = ((X - scaler.mean_) / scaler.std_).astype(np.float32)
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 8 * 60 * 7)
    out = scaler.transform(X)
    assert out.dtype == np.float32 and np.array_equal(out, expected)


def test_memory_stays_near_one_block_not_the_split():
    """CIFAR-10 at full scale peaked at 5.2 GB before training, 3.3 GB of it float64 copies of the
    whole training split in ``moments``; the blocks hold that to about one block's worth."""
    import tracemalloc

    X = np.ones((8000, 3, 32, 32), dtype=np.float32)  # 98 MB of float32 rows
    X[::2] = 0.5
    tracemalloc.start()
    try:
        scaler = Standardizer("channel").fit(X)
        fit_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = scaler.transform(X)
        transform_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert fit_peak < 1.5 * X.nbytes  # was 6x: a float64 copy, X - mean and its square
    assert transform_peak < 2.0 * X.nbytes  # the float32 result and one block's float64 (was 5x)
    assert out.shape == X.shape
