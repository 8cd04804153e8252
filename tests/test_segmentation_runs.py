"""`knobs run` on a class per pixel: images with masks (n, H, W), a user's fully convolutional builder, pixel metrics
with intervals over images, the report, `knobs predict` masks and `knobs evaluate`."""

import csv
import json

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_digits
from torch import nn

import knobs
from knobs.data._arrays import from_built
from knobs.errors import ConfigError, DataError
from knobs.metrics import segmentation_metrics, split_metrics
from knobs.pipeline.autopilot._gain import per_row
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import predict_file
from summary_schema import check_summary

BACKGROUND = 10


def fcn(params, info):
    width = int(params.get("width", 16))
    return nn.Sequential(nn.Conv2d(info.input_shape[0], width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
                         nn.Conv2d(width, info.n_classes, 1))


def per_image(params, info):
    """A classifier's head: one prediction per image, which a class per pixel cannot train on."""
    return nn.Sequential(nn.Flatten(), nn.Linear(64, info.n_classes))


def _digits(n=600):
    """8 × 8 digits; every ink pixel labelled with its digit, the rest background (class 10)."""
    data = load_digits()
    X = (data.images[:n] / 16.0).astype(np.float32)[:, None]
    return X, np.where(data.images[:n] >= 4, data.target[:n, None, None], BACKGROUND).astype(np.int64)


def test_pixel_metrics_match_scikit_learn_on_the_labelled_pixels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=(12, 4, 5))
    y[0, :2] = -100  # no class: left out
    proba = rng.dirichlet(np.ones(3), size=(12, 4, 5)).transpose(0, 3, 1, 2)
    m = segmentation_metrics(y, proba)
    labelled, pred = y != -100, proba.argmax(axis=1)
    assert m["n"] == 12 and m["n_pixels"] == int(labelled.sum()) and m["n_classes"] == 3
    assert m["accuracy"] == pytest.approx(sk.accuracy_score(y[labelled], pred[labelled]))
    assert m["mean_iou"] == pytest.approx(sk.jaccard_score(y[labelled], pred[labelled], average="macro"))
    assert m["per_class_iou"] == pytest.approx(sk.jaccard_score(y[labelled], pred[labelled], average=None).tolist())
    assert m["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y[labelled], pred[labelled]))
    assert m["log_loss"] == pytest.approx(sk.log_loss(y[labelled], proba.transpose(0, 2, 3, 1)[labelled]))
    bounded = split_metrics("segmentation", y, proba, intervals=True)
    for key in ("accuracy", "mean_iou", "macro_f1", "log_loss"):
        low, high = bounded["intervals"][key]
        assert low <= m[key] <= high
    rows = per_row(proba, y, "val_accuracy", "segmentation")
    assert rows.shape == (12,) and rows[1] == pytest.approx((pred[1] == y[1]).mean())
    with pytest.raises(DataError, match="masks \\(n, H, W\\) and probabilities \\(n, C, H, W\\) must agree"):
        segmentation_metrics(y, proba[:, :, :3])


def test_masks_beside_images_are_read_as_a_segmentation():
    X, masks = _digits(50)
    masks[0, 0, 0] = -100
    given = from_built((X, masks), name="d", source="d").dataset
    assert given.task == "segmentation" and given.n_classes == 11 and given.class_names[-1] == "10"
    assert given.y[0, 0, 0] == -100 and given.y.dtype == np.int64
    unseen = masks.copy()
    unseen[0, 1, 1] = 42
    with pytest.raises(DataError, match="test masks have classes \\[42\\] that the training masks lack"):
        from_built({"train": (X, masks), "test": (X, unseen)}, name="d", source="d")


def test_a_fully_convolutional_builder_runs_the_whole_cycle(tmp_path):
    X, masks = _digits()
    settings = {"n_trials": 3, "epochs": 30, "runs_dir": str(tmp_path / "runs"), "quiet": True,
                "space": {"lr": knobs.Float(1e-2, 2e-2, log=True), "width": 32}}
    result = knobs.run(model=fcn, data=(X, masks), **settings)
    summary = result.summary
    assert summary["data"]["task"] == "segmentation" and check_summary(summary) == []
    test = summary["test"]
    assert test["n_pixels"] == test["n"] * 64 and test["mean_iou"] > 0.3 and test["accuracy"] > 0.75
    assert set(test["intervals"]) >= {"accuracy", "mean_iou", "log_loss"}
    ensemble = summary["ensemble"]  # chosen on the validation pixels' log loss, averaging probability maps
    assert ensemble["diversity"]["over"] == "labelled pixels" and abs(sum(ensemble["weights"]) - 1) < 1e-3
    assert ensemble["val"]["n_pixels"] == summary["single"]["val"]["n_pixels"]
    page = (result.path / "report.html").read_text()
    assert "test mean IoU" in page and "<th>IoU</th>" in page and "over images" in page
    assert "its true classes and the predicted ones" in page and f"/{test['n']};" not in page  # pixels, not rows
    from PIL import Image

    picture = Image.open(result.path / "views" / "worst" / "0.png")
    assert picture.size == (3 * 8 + 2, 8) and picture.mode == "RGB"  # the image, its true and its predicted classes
    worst = json.loads((result.path / "views" / "worst.json").read_text())
    assert worst["ranked_by"] == "mean pixel log loss" and worst["items"][0]["loss"] >= worst["items"][-1]["loss"]

    np.save(tmp_path / "new.npy", X[:5])
    rows = list(csv.DictReader(predict_file(result.path, tmp_path / "new.npy").open()))
    predicted = np.load(tmp_path / "new.predictions.masks.npy")
    assert predicted.shape == (5, 8, 8) and set(np.unique(predicted)) <= set(range(11))
    assert rows[0]["prediction"].split(";")[0] == str(np.bincount(predicted[0].ravel()).argmax())
    np.savez(tmp_path / "off.npz", X=X[:60], y=masks[:60])
    assert evaluate_file(result.path, tmp_path / "off.npz")["metrics"]["n_pixels"] == 60 * 64
    with pytest.raises(ConfigError, match="holds a class per pixel .* leave the threshold out"):
        knobs.run(model=fcn, data=(X, masks), **settings, **{"balance.threshold": "f1"})
    with pytest.raises(ConfigError, match="needs a logit per class and pixel .* shape \\[2, 11, 8, 8\\]"):
        knobs.run(model=per_image, data=(X, masks), **settings)
    with pytest.raises(ConfigError, match="knobs' families give one prediction per image; give your fully "
                                          "convolutional model as model.builder"):
        knobs.run(model="convnet", data=(X, masks), **{k: v for k, v in settings.items() if k != "space"})
