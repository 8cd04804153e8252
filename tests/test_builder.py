"""`model.builder`: your own model function, through the whole cycle and its rebuilds."""

from __future__ import annotations

import csv
import textwrap

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.errors import ConfigError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.stages._inputs import load_inputs

pytestmark = pytest.mark.slow

MODELS = '''
import torch.nn as nn

def make(params, info):
    """A small MLP of our own; width comes from the search space."""
    width = params["width"]
    flat = 1
    for s in info.input_shape:
        flat *= s
    return nn.Sequential(nn.Flatten(), nn.Linear(flat, width), nn.ReLU(), nn.Linear(width, info.n_classes))
'''

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False, "ensemble.top_k": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 8, "high": 16, "type": "int"},
                         "optimizer": "adam"}}


def _models(tmp_path, source=MODELS, name="models.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _cfg(tmp_path, builder, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "b", "model.builder": builder,
                              **more})


def test_a_builder_from_a_file_trains_predicts_and_refuses_a_resume_after_the_file_changed(tmp_path):
    path = _models(tmp_path)
    original = path.read_text()
    run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True), final_test=False)  # `knobs tune`
    path.write_text(original + "\n# edited\n")
    with pytest.raises(ConfigError, match=r"models.py has changed since .*restore the file"):
        run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True))
    path.write_text(original)
    result = run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True))  # the same file: it finishes
    assert result.summary["test"]["accuracy"] > 0.3  # digits, 10 classes: it learnt something
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert best["extra"]["builder"]["reference"] == f"{path.resolve()}:make"
    assert len(best["extra"]["builder"]["sha256"]) == 64
    np.save(tmp_path / "new.npy", np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32))
    with open(predict_file(result.path, tmp_path / "new.npy"), newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 5
    path.write_text(original + "\n# edited\n")
    with pytest.raises(ConfigError, match="has changed since"):
        predict_file(result.path, tmp_path / "new.npy")
