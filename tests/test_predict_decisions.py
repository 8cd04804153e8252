"""`knobs predict` decides as the run did: the decision threshold tuned under [balance], and images
only at the size the run trained on."""

import csv

import numpy as np
import pytest

from knobs.config import load_config
from knobs.data import Vault, VaultWarning
from knobs.pipeline import Display, run
from knobs.pipeline._predict import predict_file

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1, "optimizer": "adam"}}


def _run(tmp_path, **more):
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "p", **more})
    return run(cfg, display=Display(quiet=True))


def _predicted(path) -> np.ndarray:
    with open(path, newline="") as handle:
        return np.array([int(row["prediction"]) for row in csv.DictReader(handle)])


def test_predict_applies_the_tuned_threshold_as_the_final_evaluation_counted(tmp_path):
    result = _run(tmp_path, **{"data.source": "breast_cancer", "balance.threshold": "balanced_accuracy"})
    tuned = result.summary["threshold"]
    assert tuned["threshold"] != 0.5
    with pytest.warns(VaultWarning, match="opened 2 times"):
        X_test, y_test = Vault(result.path / "vault").open(reason="test of knobs predict's threshold")
    np.save(tmp_path / "test.npy", X_test)
    predicted = _predicted(predict_file(result.path, tmp_path / "test.npy"))
    confusion = np.zeros((2, 2), dtype=int)
    np.add.at(confusion, (y_test, predicted), 1)
    assert confusion.tolist() == tuned["test"]["confusion_matrix"]
    # and the threshold mattered here: the argmax's counts (summary's plain test metrics) differ
    assert tuned["test"]["confusion_matrix"] != result.summary["test"]["confusion_matrix"]
