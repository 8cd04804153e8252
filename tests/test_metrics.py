"""knobs.metrics: hand-computed values, scikit-learn as reference, plain-JSON output, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from knobs import metrics as km
from knobs.errors import DataError

Y = np.array([0, 0, 0, 0, 1, 1, 2])
PRED = np.array([0, 0, 0, 1, 1, 2, 2])


# --- labels --------------------------------------------------------------------------------------

def test_hand_computed_label_metrics():
    assert km.accuracy(Y, PRED) == pytest.approx(5 / 7)
    # recalls: class 0 3/4, class 1 1/2, class 2 1/1
    assert km.per_class_recall(Y, PRED) == pytest.approx([0.75, 0.5, 1.0])
    assert km.balanced_accuracy(Y, PRED) == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    # precision: class 0 3/3, class 1 1/2, class 2 1/2 -> F1: 6/7, 1/2, 2/3
    assert km.macro_f1(Y, PRED) == pytest.approx((6 / 7 + 0.5 + 2 / 3) / 3)
    assert km.confusion_matrix(Y, PRED).tolist() == [[3, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_a_constant_majority_predictor_is_not_flattered():
    y = np.array([0] * 90 + [1] * 10)
    pred = np.zeros(100, dtype=int)
    assert km.accuracy(y, pred) == pytest.approx(0.9)
    assert km.balanced_accuracy(y, pred) == pytest.approx(0.5)
    assert km.macro_f1(y, pred) < 0.5
    assert km.per_class_recall(y, pred) == [1.0, 0.0]


def test_absent_class_has_no_recall_and_matrix_keeps_its_row():
    assert km.per_class_recall([0, 1, 1], [0, 1, 0], n_classes=3) == [1.0, 0.5, None]
    assert km.confusion_matrix([0, 1], [0, 1], n_classes=3).shape == (3, 3)


def test_label_metrics_match_sklearn_on_random_data():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    assert km.balanced_accuracy(y, pred) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert km.macro_f1(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert km.per_class_recall(y, pred) == pytest.approx(list(skm.recall_score(y, pred, average=None)))


# --- probabilities ----------------------------------------------------------------------------------

def test_log_loss_by_hand_and_uniform_is_ln_c():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    assert km.log_loss([0, 2], proba) == pytest.approx(-(math.log(0.7) + math.log(0.3)) / 2)
    assert km.log_loss([0, 1, 2, 3], np.full((4, 4), 0.25)) == pytest.approx(math.log(4))


def test_classification_metrics_is_plain_json_and_complete():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, 50)
    m = km.classification_metrics(y, proba)
    json.dumps(m)  # plain floats and lists only
    assert set(m) == {"n", "n_classes", "support", "accuracy", "balanced_accuracy", "macro_f1",
                      "per_class_recall", "confusion_matrix", "log_loss"}
    assert m["n"] == 50 and m["n_classes"] == 3 and sum(m["support"]) == 50
    pred = proba.argmax(axis=1)
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba))


def test_binary_metrics_accept_p1_and_apply_a_threshold():
    y = np.array([0, 0, 0, 1])
    p1 = np.array([0.1, 0.2, 0.35, 0.4])
    default = km.classification_metrics(y, p1)
    assert default["threshold"] == 0.5 and default["per_class_recall"] == [1.0, 0.0]
    assert default["roc_auc"] == pytest.approx(1.0)
    tuned = km.classification_metrics(y, p1, threshold=0.375)
    assert tuned["balanced_accuracy"] == pytest.approx(1.0) and tuned["threshold"] == 0.375
    assert km.classification_metrics([0, 0], [0.2, 0.7])["roc_auc"] is None


# --- regression --------------------------------------------------------------------------------------

def test_regression_metrics_by_hand():
    y, pred = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 6.0])
    assert km.rmse(y, pred) == pytest.approx(1.0)
    assert km.mae(y, pred) == pytest.approx(0.5)
    assert km.r2(y, pred) == pytest.approx(1 - 4 / 5)
    assert km.r2(y, np.full(4, y.mean())) == pytest.approx(0.0)
    assert km.r2([2.0, 2.0], [1.0, 2.0]) is None
    m = km.regression_metrics(y, pred.reshape(-1, 1))
    assert m == {"n": 4, "rmse": pytest.approx(1.0), "mae": pytest.approx(0.5), "r2": pytest.approx(0.2)}


# --- one split of a run -----------------------------------------------------------------------------------

def test_split_metrics_is_the_task_s_metrics_with_one_naming_scheme():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert km.split_metrics("classification", [0, 1, 1], proba) == km.classification_metrics([0, 1, 1], proba)
    tuned = km.split_metrics("classification", [0, 1, 1], proba, threshold=0.3)
    assert tuned["threshold"] == 0.3 and tuned["accuracy"] == 1.0
    assert km.split_metrics("regression", [1.0, 2.0], [1.5, 2.0]) == {"n": 2, "rmse": pytest.approx(math.sqrt(0.125)),
                                                                      "mae": 0.25, "r2": 0.5}
    assert "loss" not in km.split_metrics("regression", [1.0, 2.0], [1.5, 2.0])
    assert set(km.HEADLINE) >= {"log_loss", "rmse"} and "loss" not in km.HEADLINE


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,match", [
    (lambda: km.accuracy([0, 1], [0]), "y_true has 2 rows but y_pred has 1"),
    (lambda: km.accuracy([0, -1], [0, 0]), "negative labels"),
    (lambda: km.accuracy([0.5, 1], [0, 1]), "integer class labels"),
    (lambda: km.confusion_matrix([0, 3], [0, 0], n_classes=2), "n_classes must be an integer >= 4"),
    (lambda: km.log_loss([0, 1], [[0.9, 0.9], [0.5, 0.5]]), "rows must sum to 1"),
    (lambda: km.log_loss([0, 1], [[2.0, -1.0], [0.5, 0.5]]), "apply softmax"),
    (lambda: km.log_loss([0, 2], [[0.5, 0.5], [0.5, 0.5]]), "label 2 but proba has only 2 columns"),
    (lambda: km.classification_metrics([0, 1], np.full((3, 2), 0.5)), r"n = 2 rows"),
    (lambda: km.classification_metrics([0, 1], np.full((2, 3), 1 / 3), threshold=0.3), "threshold is for binary"),
    (lambda: km.classification_metrics([0, 1], [0.2, 0.7], threshold=1.5), r"threshold must be a probability"),
    (lambda: km.rmse([1.0, 2.0], [1.0]), "one prediction per row"),
    (lambda: km.rmse([1.0, 2.0], [1.0, float("nan")]), "must be finite"),
    (lambda: km.mae(["a"], [1.0]), "y_true must hold numbers"),
    (lambda: km.split_metrics("ranking", [0, 1], [0.2, 0.7]), "task must be 'classification', 'multilabel', 'segmentation' or 'regression'"),
    (lambda: km.split_metrics("regression", [1.0], [1.0], threshold=0.5), "threshold is for binary classification"),
])
def test_bad_input_is_one_clear_data_error(call, match):
    with pytest.raises(DataError, match=match):
        call()


def test_roc_auc_is_scikit_learns_for_two_classes_one_vs_rest_for_more_and_per_label_for_multilabel():
    from sklearn.metrics import roc_auc_score

    from knobs.metrics import label_roc_auc, roc_auc

    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], 80)
    y = rng.integers(0, 3, 80)
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p, multi_class="ovr"))
    binary = rng.random(80)
    yb = (rng.random(80) < binary).astype(int)
    assert roc_auc(yb, binary) == pytest.approx(roc_auc_score(yb, binary))
    assert roc_auc([1, 1], [[0.2, 0.8], [0.4, 0.6]]) is None
    Y = (rng.random((80, 3)) < 0.4).astype(int)
    Y[:, 2] = 0  # a label never on: left out
    S = rng.random((80, 3))
    assert label_roc_auc(Y, S) == pytest.approx(np.mean([roc_auc_score(Y[:, k], S[:, k]) for k in (0, 1)]))


def test_a_trainer_records_and_stops_early_on_roc_auc():
    import torch
    from torch import nn

    from knobs.train import Trainer

    g = torch.Generator().manual_seed(0)
    X = torch.randn(300, 5, generator=g)
    y = (X[:, 0] + 0.5 * torch.randn(300, generator=g) > 1.0).long()  # a rare positive class
    torch.manual_seed(0)
    model = nn.Linear(5, 1)  # one logit
    trainer = Trainer(epochs=40, lr=1e-2, metrics="roc_auc", early_stopping={"monitor": "roc_auc", "patience": 3})
    history = trainer.fit(model, (X[:200], y[:200]), (X[200:], y[200:]))
    with torch.no_grad():
        scores = torch.sigmoid(model(X[200:])).reshape(-1).numpy()
    from sklearn.metrics import roc_auc_score

    best = max(r["roc_auc"] for r in history.records)
    assert best == pytest.approx(roc_auc_score(y[200:].numpy(), scores)) and best > 0.85  # best weights restored


@pytest.mark.parametrize("given, meant", [("acc", "accuracy"), ("f1", "macro_f1"), ("auc", "roc_auc")])
def test_a_metric_named_another_way_is_told_the_name_here(given, meant):
    from knobs.errors import ConfigError
    from knobs.train import Trainer

    with pytest.raises(ConfigError, match=rf"metrics.{given}: unknown '{given}' for classification \(did you mean "
                                          rf"'{meant}'\?\)"):
        Trainer(metrics=given).validate()
