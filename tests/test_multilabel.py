"""Multi-label training (``task="multilabel"``): several classes per row, targets ``(n, K)`` of 0 / 1, one logit per
label and its binary cross-entropy — trained, measured, checked and diagnosed; before, such targets were refused
(their rows do not sum to 1) and there was no task to train them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import knobs
from knobs.checks import check_data, check_initial_loss, gradient_check, overfit_tiny
from knobs.errors import ConfigError, DataError
from knobs.train import Trainer, lr_find

torch.set_num_threads(1)


def tagged(n=600, labels=5, seed=0):
    """Rows with several of ``labels`` tags each: label k is on where a linear score of the row passes 0.8."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 10, generator=g)
    Y = (X @ torch.randn(10, labels, generator=g) + 0.3 * torch.randn(n, labels, generator=g) > 0.8).float()
    return X, Y


def net(labels=5):
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, labels))


def test_a_multilabel_fit_measures_its_loss_label_accuracy_and_metrics_as_scikit_learn_does():
    X, Y = tagged()
    assert bool((Y.sum(1) > 1).any())  # several labels on in some rows
    torch.manual_seed(0)
    model = net()
    trainer = Trainer(task="multilabel", epochs=30, lr=1e-2,
                      metrics=["macro_f1", "micro_f1", "subset_accuracy", "average_precision", "roc_auc"])
    record = trainer.fit(model, (X[:400], Y[:400]), (X[400:], Y[400:])).records[-1]
    with torch.no_grad():
        out = model(X[400:])
    truth, predicted = Y[400:].long().numpy(), (out > 0).long().numpy()
    assert record["val_loss"] == pytest.approx(F.binary_cross_entropy_with_logits(out, Y[400:]).item(), rel=1e-5)
    assert record["val_accuracy"] == pytest.approx((predicted == truth).mean())
    assert record["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))
    assert record["micro_f1"] == pytest.approx(f1_score(truth, predicted, average="micro"))
    assert record["subset_accuracy"] == pytest.approx((predicted == truth).all(1).mean())
    assert record["average_precision"] == pytest.approx(average_precision_score(truth, out.numpy(), average="macro"))
    assert record["roc_auc"] == pytest.approx(roc_auc_score(truth, out.numpy(), average="macro"))
    assert record["val_accuracy"] > 0.9 and record["macro_f1"] > 0.85
    proba = trainer.predict_proba(model, X[:3])
    assert torch.allclose(proba, torch.sigmoid(trainer.predict(model, X[:3])))


def test_a_loader_early_stopping_on_a_metric_and_bce_with_class_weights_train_multilabel():
    X, Y = tagged()
    trainer = Trainer(task="multilabel", epochs=20, lr=1e-2, metrics="macro_f1",
                      early_stopping={"monitor": "macro_f1", "patience": 3})
    history = trainer.fit(net(), DataLoader(TensorDataset(X[:400], Y[:400].long()), batch_size=32, shuffle=True),
                          DataLoader(TensorDataset(X[400:], Y[400:]), batch_size=64))
    assert history.records[-1]["macro_f1"] is not None
    positive = nn.BCEWithLogitsLoss(pos_weight=torch.full((5,), 3.0))  # the rare "on" weighs 3x
    record = Trainer(task="multilabel", epochs=2, loss=positive).fit(net(), (X, Y), (X, Y)).records[-1]
    assert record["val_loss"] < record["train_loss"]  # validation keeps the plain BCE


@pytest.mark.parametrize("case, error, match", [
    ("narrow", DataError, r"train: the targets hold 5 labels per row but the model outputs shape \(4,\); give it one "
                          r"logit per label \(its last layer nn.Linear\(..., 5\)\)"),
    ("twos", DataError, r"train: multi-label targets must be 0 or 1 .* found values from 0 to 2"),
    ("soft_val", DataError, r"val: label probabilities are for training data only; give val 0 / 1 labels"),
    ("three_axes", DataError, r"multi-label targets must be one row of 0 / 1 per example, shape \(n, labels\)"),
    ("bce", ConfigError, r"nn.BCELoss reads probabilities .* a multi-label model's outputs as logits"),
])
def test_multilabel_targets_and_models_that_do_not_fit_are_one_message(case, error, match):
    X, Y = tagged()
    model = nn.Linear(10, 4) if case == "narrow" else net()
    train = {"twos": (X, 2 * Y), "three_axes": (X, Y[:, :, None].repeat(1, 1, 2))}.get(case, (X, Y))
    val = (X, 0.9 * Y + 0.05) if case == "soft_val" else None
    loss = nn.BCELoss() if case == "bce" else None
    with pytest.raises(error, match=match):
        Trainer(task="multilabel", epochs=1, loss=loss).fit(model, train, val)


def test_multilabel_rows_given_as_classification_point_to_the_task():
    X, Y = tagged()
    with pytest.raises(DataError, match=r"several 1s are multi-label targets: Trainer\(task='multilabel'\)"):
        Trainer(epochs=1).fit(net(), (X, Y))
    with pytest.raises(DataError, match=r"train them with Trainer\(task='multilabel'\)"):
        Trainer(epochs=1).fit(net(), (X, Y.long()))  # integer rows: read as a class per position first


def test_the_checks_and_lr_find_take_multilabel_targets():
    X, Y = tagged()
    initial = check_initial_loss(net, X, Y, task="multilabel")
    assert initial.passed and initial.measured["expected"] == pytest.approx(np.log(2))
    tiny = overfit_tiny(net, X, Y, task="multilabel")
    assert tiny.passed and tiny.measured["accuracy"] == 1.0 and "labels right 100%" in tiny.message
    sigmoid = overfit_tiny(lambda: nn.Sequential(nn.Linear(10, 5), nn.Sigmoid()), X, Y, task="multilabel")
    assert not sigmoid.passed and "Sigmoid" in sigmoid.message
    assert gradient_check(net(), X, Y, loss="binary_cross_entropy").passed
    found = lr_find(net(), (X, Y), task="multilabel", steps=20)
    assert len(found.lrs) == 20 and np.isfinite(found.mean[:5]).all()


def test_an_output_bias_at_the_label_frequencies_is_expected_below_ln_2():
    X, Y = tagged()
    Y[:, 1:] = (torch.rand(600, 4, generator=torch.Generator().manual_seed(3)) < 0.03).float()  # rare labels

    class Prior(nn.Module):
        def __init__(self):
            super().__init__()
            self.out = nn.Linear(10, 5)
            with torch.no_grad():
                self.out.weight.mul_(0.01)
                self.out.bias.copy_(torch.logit(Y.mean(0).clamp(0.01, 0.99)))

        def forward(self, x):
            return self.out(x)

    result = check_initial_loss(Prior, X, Y, task="multilabel")
    assert result.passed and result.measured["expected"] < 0.9 * np.log(2)


def test_check_data_reads_multilabel_targets():
    X, Y = tagged()
    Y[:, 4] = 0
    results = {r.name: r for r in check_data({"train": (X.numpy(), Y.numpy()), "val": (X[:50].numpy(),
                                                                                        Y[:50].numpy())},
                                             task="multilabel")}
    assert results["labels"].passed and results["labels"].measured["n_labels"] == 5
    assert not results["label_frequency"].passed and results["label_frequency"].measured["positives"][4] == 0
    bad = {r.name: r for r in check_data((X.numpy(), 2 * Y.numpy()), task="multilabel")}
    assert not bad["labels"].passed and "values other than 0 and 1" in bad["labels"].message


def test_diagnose_reads_a_multilabel_run_by_its_labels():
    X, Y = tagged()
    torch.manual_seed(0)
    healthy = knobs.diagnose(net(), (X[:400], Y[:400]), (X[400:], Y[400:]), task="multilabel", epochs=10, lr=1e-2)
    assert healthy.findings == [] or all(f.severity == "info" for f in healthy.findings)
    assert healthy.evidence["reference"]["metric"] == "label accuracy"
    assert 0.8 < healthy.evidence["reference"]["score"] <= 1.0
    Y[:, 4] = 0
    sigmoid = nn.Sequential(nn.Linear(10, 5), nn.Sigmoid())
    report = knobs.diagnose(sigmoid, (X[:400], Y[:400]), (X[400:], Y[400:]), task="multilabel", epochs=3)
    codes = {f.code for f in report.findings}
    assert {"constant_label", "outputs_not_logits"} <= codes


def test_label_weights_balance_each_labels_on_and_off_rows_for_bce():
    from knobs.balance import label_weights

    X, Y = tagged()
    Y[:, 0] = (torch.rand(600, generator=torch.Generator().manual_seed(5)) < 0.05).float()  # a rare label
    weights = label_weights(Y)
    positives = Y.sum(0).numpy()
    assert np.allclose(weights, (600 - positives) / positives) and weights[0] > 10
    loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(weights, dtype=torch.float32))
    record = Trainer(task="multilabel", epochs=20, lr=1e-2, loss=loss, metrics="macro_f1").fit(
        net(), (X[:400], Y[:400]), (X[400:], Y[400:])).records[-1]
    assert record["macro_f1"] > 0.5
    Y[:, 4] = 0
    with pytest.raises(DataError, match=r"label_weights: labels \[4\] are on in none or all of the 600 training rows"):
        label_weights(Y)
    with pytest.raises(DataError, match=r"expected multi-label targets \(n, labels\) of 0 / 1"):
        label_weights(2 * Y)


@pytest.mark.parametrize("task, meant", [("multi-label", "multilabel"), ("binary", "classification"),
                                         ("regresion", "regression")])
def test_a_task_named_another_way_is_told_the_one_it_means(task, meant):
    with pytest.raises(ConfigError, match=rf"task: unknown '{task}' \(did you mean '{meant}'\?\)"):
        Trainer(task=task).validate()
