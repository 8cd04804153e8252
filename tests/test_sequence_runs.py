"""Arrays of sequences ``(n, T, F)`` through `knobs run` (``data.layout = "sequence"``): a model gets ``(n, T, F)``,
each feature standardized over the training rows and their steps — not a one-channel image with one global scale."""

import csv

import numpy as np
import pytest
import torch
from torch import nn

import knobs
from knobs.data import Standardizer
from knobs.data._arrays import from_built
from knobs.errors import ConfigError, DataError
from knobs.pipeline.commands._predict import predict_file


class LastStep(nn.Module):
    """A GRU over the steps, read at the last one: what a recurrent model of (n, T, F) rows looks like."""

    def __init__(self, features: int, n_out: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, 16, batch_first=True)
        self.head = nn.Linear(16, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][:, -1])


def make(params, info):
    return LastStep(info.input_shape[-1], info.n_classes)


def _sequences(n=400, seed=0):
    """Three signals on scales 1, 1000 and around 50; the class is the sign of the first two's sum over time."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 12, 3)).astype(np.float32) * [1, 1000, 1] + [0, 0, 50]
    return X.astype(np.float32), (X[:, :, 0].mean(1) + X[:, :, 1].mean(1) / 1000 > 0).astype(int)


def test_the_sequence_mode_scales_each_feature_over_rows_and_steps():
    X, _ = _sequences(100)
    scaler = Standardizer("sequence").fit(X)
    Z = scaler.transform(X).reshape(-1, 3)
    assert scaler.mean_.shape == (1, 3) and np.allclose(Z.mean(0), 0, atol=1e-4) and np.allclose(Z.std(0), 1, atol=1e-3)
    assert np.allclose(Standardizer.from_state_dict(scaler.state_dict()).inverse_transform(scaler.transform(X)), X,
                       rtol=1e-4, atol=1e-2)
    with pytest.raises(DataError, match="mode 'sequence' needs \\(n, time steps, features\\)"):
        Standardizer("sequence").fit(X.reshape(100, -1))


def test_arrays_read_as_sequences_only_when_told():
    X, y = _sequences(50)
    assert from_built((X, y), name="s", source="s").dataset.image_shape == (1, 12, 3)  # auto: an (H, W) image
    given = from_built((X, y), name="s", source="s", layout="sequence").dataset
    assert given.sequence_shape == (12, 3) and given.image_shape is None and given.X.shape == (50, 36)
    with pytest.raises(ConfigError, match="reads each row as \\(time steps, features\\).*rows of shape \\(36,\\)"):
        from_built((X.reshape(50, -1), y), name="flat", source="s", layout="sequence")


def test_a_recurrent_builder_trains_on_sequences_and_predicts(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    X, y = _sequences()
    settings = {"n_trials": 1, "epochs": 15, "runs_dir": str(tmp_path / "runs"), "quiet": True,
                "space": {"lr": knobs.Float(5e-3, 2e-2, log=True)}, "checks.overfit_tiny": False}
    with pytest.raises(ConfigError, match='set data.layout = "sequence" and it gets \\[12, 3\\]'):
        knobs.run(model=make, data=(X, y), **settings)  # read as (1, 12, 3) images, the GRU cannot take them
    result = knobs.run(model=make, data=(X, y), **settings, **{"data.layout": "sequence"})
    assert result.summary["test"]["accuracy"] > 0.85
    new_X, new_y = _sequences(60, seed=9)  # rows the run never saw, raw: predict scales them as training did
    np.save(tmp_path / "new.npy", new_X)
    rows = list(csv.DictReader(predict_file(result.path, tmp_path / "new.npy").open()))
    assert np.mean([int(r["prediction"]) == label for r, label in zip(rows, new_y)]) > 0.85
