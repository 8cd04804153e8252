"""knobs.data.Standardizer: statistics from the training split only, applied to every split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from knobs.data import Standardizer, load_builtin, split
from knobs.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def digits_splits():
    return split(load_builtin("digits"), seed=0)


def test_feature_mode_matches_sklearn_on_train(digits_splits):
    X_train = digits_splits.train[0]
    ours = Standardizer("feature").fit(X_train)
    reference = StandardScaler().fit(X_train.astype(np.float64))
    np.testing.assert_allclose(ours.mean_, reference.mean_, rtol=1e-10)
    np.testing.assert_allclose(ours.std_, reference.scale_, rtol=1e-10)  # both use 1 for constants
    Xs = ours.transform(X_train)
    assert Xs.dtype == np.float32
    varying = ~ours.constant_
    np.testing.assert_allclose(Xs.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(Xs.std(axis=0)[varying], 1, atol=1e-4)


def test_statistics_come_from_train_only(digits_splits):
    (X_train, _), (X_val, _), (X_test, _) = digits_splits.train, digits_splits.val, digits_splits.test
    scaler = Standardizer().fit(X_train)
    np.testing.assert_allclose(scaler.mean_, X_train.astype(np.float64).mean(axis=0))
    everything = np.concatenate([X_train, X_val, X_test]).astype(np.float64).mean(axis=0)
    assert not np.allclose(scaler.mean_, everything)
    # val and test use the train statistics: their own means are not forced to 0.
    for X in (X_val, X_test):
        expected = (X.astype(np.float64) - scaler.mean_) / scaler.std_
        np.testing.assert_allclose(scaler.transform(X), expected, rtol=1e-5, atol=1e-5)
    assert np.abs(scaler.transform(X_val).mean(axis=0)).max() > 1e-3


def test_constant_features_get_unit_std_and_are_flagged():
    X = np.array([[1.0, 1000.0, 0.0], [2.0, 1000.0, 0.0], [3.0, 1000.0, 0.0]], np.float32)
    scaler = Standardizer().fit(X)
    assert scaler.constant_.tolist() == [False, True, True]
    assert scaler.std_[1:].tolist() == [1.0, 1.0]
    assert np.all(np.isfinite(scaler.transform(X))) and np.all(scaler.transform(X)[:, 1:] == 0)


def test_channel_mode_uses_one_statistic_per_channel():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3, 4, 4)).astype(np.float32) * np.array([1, 10, 100], np.float32)[:, None, None] + 5
    scaler = Standardizer("channel").fit(X)
    assert scaler.mean_.shape == (3, 1, 1)
    np.testing.assert_allclose(scaler.mean_.ravel(), X.mean(axis=(0, 2, 3)), rtol=1e-5)
    Xs = scaler.transform(X)
    np.testing.assert_allclose(Xs.std(axis=(0, 2, 3)), 1, atol=1e-4)
    with pytest.raises(DataError, match="channel.*image_shape"):
        Standardizer("channel").fit(X.reshape(50, -1))


def test_sample_and_none_modes():
    X = np.array([[1.0, 2.0, 3.0], [10.0, 10.0, 10.0]], np.float32)
    sample = Standardizer("sample").fit(X)
    Xs = sample.transform(X)
    np.testing.assert_allclose(Xs[0], [-1.2247449, 0, 1.2247449], rtol=1e-6)
    assert Xs[1].tolist() == [0, 0, 0]  # a constant row is centred, not divided by zero
    with pytest.raises(ConfigError, match="cannot be inverted"):
        sample.inverse_transform(Xs)
    none = Standardizer("none").fit(X)
    assert np.array_equal(none.transform(X), X) and none.mean_ is None


def test_inverse_transform_round_trip(digits_splits):
    X_val = digits_splits.val[0]
    scaler = Standardizer().fit(digits_splits.train[0])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(X_val)), X_val, atol=1e-4)


@pytest.mark.parametrize("mode", ["feature", "channel", "sample", "none"])
def test_state_dict_round_trip_through_json(mode):
    X = np.random.default_rng(1).normal(3, 2, size=(20, 2, 3, 3)).astype(np.float32)
    scaler = Standardizer(mode).fit(X)
    state = json.loads(json.dumps(scaler.state_dict()))
    restored = Standardizer.from_state_dict(state)
    assert restored.mode == mode and restored.feature_shape_ == (2, 3, 3)
    assert np.array_equal(restored.transform(X), scaler.transform(X))


def test_bad_use_is_reported():
    X = np.ones((4, 3), np.float32)
    with pytest.raises(ConfigError, match="not fitted"):
        Standardizer().transform(X)
    with pytest.raises(ConfigError, match="mode must be one of"):
        Standardizer("minmax").fit(X)
    with pytest.raises(DataError, match="fitted on rows of shape \\(3,\\)"):
        Standardizer().fit(X).transform(np.ones((2, 4)))
    X[0, 1] = np.nan
    with pytest.raises(DataError, match="X_train has 1 NaN"):
        Standardizer().fit(X)
    with pytest.raises(ConfigError, match="Standardizer state"):
        Standardizer.from_state_dict({"mode": "feature"})


def test_tensors_come_back_as_tensors():
    import torch

    X = torch.randn(50, 3, generator=torch.Generator().manual_seed(0)) * 5 + 2
    scaler = Standardizer().fit(X)
    standardized = scaler.transform(X)
    assert isinstance(standardized, torch.Tensor) and standardized.dtype == torch.float32
    assert np.allclose(standardized.numpy(), Standardizer().fit(X.numpy()).transform(X.numpy()))
    assert torch.allclose(scaler.inverse_transform(standardized), X, atol=1e-4)
    assert isinstance(scaler.transform(X.numpy()), np.ndarray)  # arrays stay arrays
