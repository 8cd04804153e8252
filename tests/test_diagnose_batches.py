"""``knobs.diagnose`` reads the in-memory forms the Trainer reads: dicts, sample weights, and one
clear message for what it cannot diagnose (DataLoaders: tests/test_diagnose_api.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import knobs
from knobs.errors import DataError

torch.set_num_threads(1)


def blobs(n, seed):
    centers = 2 * torch.randn(3, 4, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + torch.randn(n, 4, generator=g), y


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


TRAIN, VAL = blobs(96, 0), blobs(48, 1)
SETTINGS = dict(epochs=2, batch_size=32, device="cpu")


def losses(report):
    return [r["train_loss"] for r in report.evidence["run"]["records"]]


def test_dict_data_is_diagnosed_like_a_pair():
    as_pair = knobs.diagnose(model(), TRAIN, VAL, **SETTINGS)
    as_dict = knobs.diagnose(model(), {"x": TRAIN[0], "y": TRAIN[1]}, {"x": VAL[0], "y": VAL[1]}, **SETTINGS)
    assert losses(as_dict) == losses(as_pair)


def test_sample_weights_reach_the_training_runs():
    plain = knobs.diagnose(model(), TRAIN, VAL, **SETTINGS)
    w = torch.where(TRAIN[1] == 0, 5.0, 0.2)
    weighted = knobs.diagnose(model(), (*TRAIN, w), VAL, **SETTINGS)
    assert losses(weighted) != losses(plain)
    assert weighted.evidence["sizes"] == plain.evidence["sizes"]


def test_what_diagnose_cannot_read_gets_one_message():
    with pytest.raises(DataError, match=r"holds 2 inputs \(\(X1, X2, \.\.\.\), y\)"):
        knobs.diagnose(model(), ((TRAIN[0], TRAIN[0]), TRAIN[1]), VAL, **SETTINGS)
    with pytest.raises(DataError, match=r"diagnose: val: a batch is a tuple of 4 items.*diagnose takes an \(X, y\) pair"):
        knobs.diagnose(model(), TRAIN, (*VAL, VAL[1], VAL[1]), **SETTINGS)
    with pytest.raises(DataError, match=r"missing 'y'"):
        knobs.diagnose(model(), {"x": TRAIN[0], "answer": TRAIN[1]}, VAL, **SETTINGS)
