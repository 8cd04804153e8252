"""`knobs predict` decides as the run did: the decision threshold tuned under [balance], and images
only at the size the run trained on."""

import csv

import numpy as np
import pytest

from knobs.config import load_config
from knobs.data import Vault, VaultWarning
from knobs.pipeline import Display, run
from knobs.pipeline.commands._predict import predict_file

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1, "optimizer": "adam"}}


def _run(tmp_path, **more):
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "p", **more})
    return run(cfg, display=Display(quiet=True))


def _predicted(path, class_names=None) -> np.ndarray:
    """The predicted class indices (the CSV names the class: breast_cancer's 'malignant' / 'benign')."""
    index = {str(name): k for k, name in enumerate(class_names)} if class_names else None
    with open(path, newline="") as handle:
        return np.array([index[row["prediction"]] if index else int(row["prediction"])
                         for row in csv.DictReader(handle)])


def test_predict_applies_the_tuned_threshold_as_the_final_evaluation_counted(tmp_path):
    result = _run(tmp_path, **{"data.source": "breast_cancer", "balance.threshold": "balanced_accuracy"})
    tuned = result.summary["threshold"]
    assert tuned["threshold"] != 0.5
    with pytest.warns(VaultWarning, match="opened 2 times"):
        X_test, y_test = Vault(result.path / "vault").open(reason="test of knobs predict's threshold")
    np.save(tmp_path / "test.npy", X_test)
    assert result.summary["data"]["class_names"] == ["malignant", "benign"]
    predicted = _predicted(predict_file(result.path, tmp_path / "test.npy"), result.summary["data"]["class_names"])
    confusion = np.zeros((2, 2), dtype=int)
    np.add.at(confusion, (y_test, predicted), 1)
    assert confusion.tolist() == tuned["test"]["confusion_matrix"]
    # and the threshold mattered here: the argmax's counts (summary's plain test metrics) differ
    assert tuned["test"]["confusion_matrix"] != result.summary["test"]["confusion_matrix"]


def _image(path, size, brightness=60):
    from PIL import Image

    width, height = size
    Image.fromarray(np.full((height, width), brightness, np.uint8)).save(path)
    return path


def _image_run(tmp_path):
    root = tmp_path / "imgs"
    for k, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            _image(root / cls / f"{i:03d}.png", (8, 6), brightness=40 + 120 * k + i)
    return _run(tmp_path, **{"data.source": str(root), "model.family": "convnet",
                             "search.space": {"lr": {"low": 0.005, "high": 0.02}, "channels": 4, "depth": 1,
                                              "head_width": 8}})


def test_images_of_another_size_are_refused_naming_the_file_and_both_sizes(tmp_path):
    from knobs.cli import main
    from knobs.errors import DataError

    result = _image_run(tmp_path)
    new = tmp_path / "new"
    new.mkdir()
    _image(new / "a.png", (8, 6))
    predicted = predict_file(result.path, new, tmp_path / "ok.csv")  # the run's size: predicted
    assert len(_predicted_names(predicted)) == 1
    _image(new / "b.png", (16, 12))
    _image(new / "c.png", (6, 8))
    with pytest.raises(DataError, match=r"b.png' is 16x12 pixels \(width x height\), but the run's model takes 8x6 "
                                        r"images \(1 more of the 3 input images differ too\); resize them to 8x6 first"):
        predict_file(result.path, new, tmp_path / "refused.csv")
    assert not (tmp_path / "refused.csv").exists()
    assert main(["predict", "--run", str(result.path), "--input", str(new / "c.png"), "-o", str(tmp_path / "c.csv")]) == 2
    assert not (tmp_path / "c.csv").exists()


def _predicted_names(path) -> list[str]:
    with open(path, newline="") as handle:
        return [row["row"] for row in csv.DictReader(handle)]
