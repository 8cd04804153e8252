"""knobs.balance: class weights, samplers, SMOTE, focal loss, threshold tuning, the options entry point."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score, f1_score, matthews_corrcoef
from sklearn.utils.class_weight import compute_class_weight
from torch import nn
from torch.utils.data import DataLoader

from knobs.balance import (
    BalancedTraining, BalanceOptions, FocalLoss, Threshold, balance_training, best_threshold,
    class_weights, focal_loss, oversample_sampler, sample_weights, sampler_loader, smote, undersample,
)
from knobs.config import parse_config
from knobs.errors import ConfigError, DataError
from knobs.train import Trainer

torch.set_num_threads(1)


def imbalanced(n_major=90, n_minor=10, seed=0, dim=2):
    """Two Gaussian blobs, the minority one overlapping the majority."""
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(0.0, 1.0, (n_major, dim)), rng.normal(1.5, 1.0, (n_minor, dim))])
    y = np.array([0] * n_major + [1] * n_minor)
    return X.astype(np.float32), y


# --- class weights ----------------------------------------------------------------------------------

def test_balanced_weights_are_n_over_c_times_count_like_sklearn():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = class_weights(y, 3)
    assert w == pytest.approx([10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    assert w == pytest.approx(compute_class_weight("balanced", classes=np.arange(3), y=y))
    assert (sample_weights(y, w) * 1).sum() == pytest.approx(10.0)  # total weight is still n
    assert [sample_weights(y, w)[y == c].sum() for c in range(3)] == pytest.approx([10 / 3] * 3)


def test_explicit_weights():
    y = np.array([0, 1, 1])
    assert class_weights(y, 3, [1.0, 2.0, 3.0]).tolist() == [1.0, 2.0, 3.0]
    assert class_weights(y, 3, {2: 5.0}).tolist() == [1.0, 1.0, 5.0]


@pytest.mark.parametrize("mode,error,match", [
    ("balanced", DataError, r"class\(es\) \[2\] have no rows"),
    ("inverse", ConfigError, "class_weight must be 'balanced'"),
    ([1.0, 2.0], ConfigError, "one weight per class: expected 3, got 2"),
    ([1.0, -2.0, 1.0], ConfigError, r"class_weight\[1\] must be a positive number"),
    ({7: 2.0}, ConfigError, r"keys must be classes 0..2"),
])
def test_class_weight_errors(mode, error, match):
    with pytest.raises(error, match=match):
        class_weights([0, 1, 1], 3, mode)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(DataError, match="outside the expected range 0..1"):
        class_weights([0, 1, 2], 2)


# --- oversampling -------------------------------------------------------------------------------------

def test_oversample_draws_every_class_equally_often_and_is_seeded():
    y = np.array([0] * 900 + [1] * 90 + [2] * 10)
    sampler = oversample_sampler(y, 4, seed=0, num_samples=30_000)  # class 3 has no rows
    drawn = y[list(sampler)]
    shares = np.bincount(drawn, minlength=4) / len(drawn)
    assert shares[:3] == pytest.approx([1 / 3] * 3, abs=0.015) and shares[3] == 0
    assert list(oversample_sampler(y, 4, seed=5)) == list(oversample_sampler(y, 4, seed=5))
    assert len(oversample_sampler(y, 4)) == len(y)


def test_sampler_loader_never_yields_a_batch_of_one():
    X, y = imbalanced(n_major=60, n_minor=5)  # 65 rows, batch 16: 4 * 16 + 1
    loader = sampler_loader(X, y, oversample_sampler(y, 2, seed=0), batch_size=16)
    sizes = [len(yb) for _, yb in loader]
    assert min(sizes) > 1 and sum(sizes) == 64 and loader.generator is loader.sampler.generator


def test_the_trainer_takes_the_oversampling_loader_as_is():
    X, y = imbalanced()
    bal = balance_training(BalanceOptions(sampler="oversample"), (X, y), 2, seed=0)
    data = bal.train_data(batch_size=16)
    assert isinstance(data, DataLoader)
    history = Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=16, device="cpu").fit(
        nn.Linear(2, 2), train=data, val=(X, y))
    assert len(history.records) == 2


# --- undersampling and SMOTE ----------------------------------------------------------------------------

def test_undersample_keeps_the_smallest_count_of_real_rows():
    X, y = imbalanced()
    Xu, yu = undersample(X, y, 2, seed=0)
    assert np.bincount(yu).tolist() == [10, 10]
    originals = {row.tobytes() for row in X}
    assert all(row.tobytes() in originals for row in Xu)
    assert (Xu[yu == 1] == X[y == 1]).all()  # the minority class is kept whole


def test_smote_balances_with_new_rows_inside_the_minority_region():
    X, y = imbalanced(n_major=80, n_minor=12, dim=3)
    Xs, ys = smote(X, y, 2, k_neighbors=3, seed=0)
    assert np.bincount(ys).tolist() == [80, 80] and Xs.dtype == X.dtype
    np.testing.assert_array_equal(Xs[:len(X)], X)  # originals first, unchanged
    synthetic = Xs[len(X):]
    assert (ys[len(X):] == 1).all() and len(synthetic) == 68
    minority = X[y == 1]
    # each synthetic row lies on a segment between two minority rows: inside their bounding box
    assert (synthetic >= minority.min(axis=0) - 1e-6).all() and (synthetic <= minority.max(axis=0) + 1e-6).all()
    assert len({row.tobytes() for row in synthetic} - {row.tobytes() for row in minority}) > 60


def test_smote_keeps_image_shaped_features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 1, 4, 4)).astype(np.float32)
    y = np.array([0] * 24 + [1] * 6)
    Xs, ys = smote(X, y, 2, k_neighbors=5, seed=0)
    assert Xs.shape == (48, 1, 4, 4) and np.bincount(ys).tolist() == [24, 24]


def test_smote_on_a_class_smaller_than_k_neighbors_plus_one():
    X, y = imbalanced(n_major=50, n_minor=4)
    with pytest.raises(DataError, match=r"k_neighbors=5 needs at least 6 .* class 1 has 4 .*k_neighbors \(smote_k\) <= 3.*oversample"):
        smote(X, y, 2, k_neighbors=5)
    Xs, ys = smote(X, y, 2, k_neighbors=3)  # the fix the message names works
    assert np.bincount(ys).tolist() == [50, 50]
    with pytest.raises(DataError, match="class 1 has 1 .*use sampler='oversample'"):
        smote(*imbalanced(n_major=20, n_minor=1), 2, k_neighbors=1)
    with pytest.raises(ConfigError, match="k_neighbors must be a positive integer"):
        smote(X, y, 2, k_neighbors=0)


# --- focal loss ---------------------------------------------------------------------------------------------

def test_focal_loss_matches_a_hand_computation():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    alpha = [0.5, 1.0, 2.0]
    rows = []
    for z, t in zip(logits.tolist(), target.tolist()):
        p = math.exp(z[t]) / sum(math.exp(v) for v in z)
        rows.append(-alpha[t] * (1 - p) ** 2 * math.log(p))
    loss = FocalLoss(gamma=2.0, alpha=alpha, reduction="none")(logits, target)
    assert loss.tolist() == pytest.approx(rows, rel=1e-5)
    assert float(FocalLoss(2.0, alpha, "sum")(logits, target)) == pytest.approx(sum(rows), rel=1e-5)
    weighted_mean = sum(rows) / (alpha[0] + alpha[2])
    assert float(FocalLoss(2.0, alpha)(logits, target)) == pytest.approx(weighted_mean, rel=1e-5)


def test_focal_loss_at_gamma_zero_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(32, 5, generator=g), torch.randint(0, 5, (32,), generator=g)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5, 3.0])
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), F.cross_entropy(logits, target))
    assert torch.allclose(FocalLoss(gamma=0.0, alpha=weight)(logits, target),
                          F.cross_entropy(logits, target, weight=weight))
    assert torch.allclose(focal_loss(logits, target, 0.0, reduction="none"),
                          F.cross_entropy(logits, target, reduction="none"))


def test_focal_loss_fades_on_confident_right_answers():
    logits, target = torch.tensor([[4.0, 0.0], [0.2, 0.0]]), torch.tensor([0, 0])
    ce = F.cross_entropy(logits, target, reduction="none")
    fl = focal_loss(logits, target, gamma=2.0, reduction="none")
    ratio = fl / ce  # (1 - p_t)^2
    assert ratio[0] < 1e-3 and ratio[1] > 0.2


def test_focal_loss_gradients_are_right_and_finite():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randint(0, 3, (6,), generator=g)
    alpha = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: focal_loss(z, target, 2.0, alpha), (logits,))
    # gamma < 1 with p_t rounding to 1: (1 - p_t)^gamma has an infinite slope at 0
    huge = torch.tensor([[60.0, 0.0]], requires_grad=True)
    FocalLoss(gamma=0.5)(huge, torch.tensor([0])).backward()
    assert torch.isfinite(huge.grad).all()


def test_focal_loss_binary_alpha_and_errors():
    assert FocalLoss(alpha=0.25).alpha.tolist() == pytest.approx([0.75, 0.25])
    for kwargs, match in (({"gamma": -1.0}, "focal_gamma must be a finite number >= 0"),
                          ({"alpha": 1.5}, r"must lie in \(0, 1\)"),
                          ({"alpha": [1.0, -1.0]}, "one positive weight per class"),
                          ({"alpha": ["a", "b"]}, "one positive weight per class"),
                          ({"reduction": "avg"}, "reduction must be one of")):
        with pytest.raises(ConfigError, match=match):
            FocalLoss(**kwargs)
    with pytest.raises(DataError, match="2 class weights .* logits have 3 classes"):
        FocalLoss(alpha=[1.0, 2.0])(torch.zeros(2, 3), torch.tensor([0, 1]))
    assert FocalLoss(weight=[1.0, 2.0]).alpha.tolist() == [1.0, 2.0]  # nn.CrossEntropyLoss's name for it
    with pytest.raises(ConfigError, match="as alpha or as weight"):
        FocalLoss(alpha=[1.0, 2.0], weight=[1.0, 2.0])


def test_the_classes_default_to_the_labels_and_numpy_weights_train_a_torch_loss():
    X, y = imbalanced()
    assert class_weights(y).tolist() == class_weights(y, 2).tolist()  # C read off y, as scikit-learn does
    assert len(smote(X, y)[1]) == 180 and len(undersample(X, y)[1]) == 20
    with pytest.raises(DataError, match=r"y_train must hold integer class labels 0..1, got dtype <U1 such as \['a', 'b'\]"):
        class_weights(np.array(["a", "b", "a"]))
    # float64 weights (NumPy's) in a torch loss failed at the first step: "expected scalar type Float but found Double"
    loss = nn.CrossEntropyLoss(weight=torch.tensor(class_weights(y)))
    history = Trainer(epochs=2, loss=loss).fit(nn.Linear(2, 2), (X, y), (X, y))
    assert math.isfinite(history.records[-1]["train_loss"]) and loss.weight.dtype == torch.float32


def test_weighted_losses_raise_minority_recall_on_imbalanced_data():
    X, y = imbalanced(n_major=300, n_minor=30, seed=2)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)

    def recall_1(loss_fn):
        torch.manual_seed(0)
        model = nn.Linear(2, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(200):
            optimizer.zero_grad()
            loss_fn(model(Xt), yt).backward()
            optimizer.step()
        pred = model(Xt).argmax(dim=1)
        return float((pred[yt == 1] == 1).float().mean())

    plain = recall_1(nn.CrossEntropyLoss())
    weighted = balance_training(BalanceOptions(class_weight="balanced"), (X, y), 2).loss
    focal = balance_training(BalanceOptions(class_weight="balanced", loss="focal"), (X, y), 2).loss
    assert recall_1(weighted) > plain + 0.3 and recall_1(focal) > plain + 0.3


# --- threshold --------------------------------------------------------------------------------------------

def brute_force(y, p1, metric):
    score = {"balanced_accuracy": balanced_accuracy_score, "f1": f1_score, "mcc": matthews_corrcoef}[metric]
    values = np.unique(p1)
    cuts = list((values[:-1] + values[1:]) / 2) + [values[0]]
    return max(score(y, (p1 >= c).astype(int)) for c in cuts)


@pytest.mark.parametrize("metric", ["balanced_accuracy", "f1", "mcc"])
def test_best_threshold_matches_a_brute_force_search(metric):
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.12).astype(int)
    p1 = np.clip(0.15 + 0.3 * y + rng.normal(0, 0.15, 300), 0, 1).round(3)  # with ties
    cut, score = best_threshold(y, p1, metric)
    assert score == pytest.approx(brute_force(y, p1, metric))
    reference = {"balanced_accuracy": balanced_accuracy_score, "f1": f1_score, "mcc": matthews_corrcoef}[metric]
    assert reference(y, (p1 >= cut).astype(int)) == pytest.approx(score)


def test_threshold_is_tuned_on_validation_and_applied_unchanged():
    y_val, p_val = np.array([0, 0, 0, 0, 1, 1]), np.array([0.05, 0.1, 0.2, 0.3, 0.25, 0.4])
    t = Threshold("balanced_accuracy").fit(y_val, np.column_stack([1 - p_val, p_val]))
    assert t.threshold_ == pytest.approx(0.225) and t.score_ == pytest.approx(0.875)
    assert t.predict([0.22, 0.23, 0.9]).tolist() == [0, 1, 1]
    assert t.to_dict() == {"metric": "balanced_accuracy", "threshold": t.threshold_, "val_score": t.score_}


def test_threshold_ties_go_to_the_cut_nearest_one_half():
    # perfectly separated: every cut in (0.3, 0.7) is perfect; the chosen one is nearest 0.5
    cut, score = best_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.3, 0.7, 0.9]), "f1")
    assert score == 1.0 and cut == pytest.approx(0.5)


@pytest.mark.parametrize("y,proba,error,match", [
    ([0, 1, 2], np.full((3, 3), 1 / 3), DataError, "threshold is for binary tasks, but proba_val has 3 classes"),
    ([0, 1, 2], [0.1, 0.5, 0.9], DataError, "binary tasks with labels 0/1, but y_val holds"),
    ([0, 0, 0], [0.1, 0.5, 0.9], DataError, "both classes"),
    ([0, 1], [0.1, 0.5, 0.9], DataError, "one label per probability"),
    ([0, 1], [0.1, 1.5], DataError, r"in \[0, 1\]"),
])
def test_threshold_bad_input(y, proba, error, match):
    with pytest.raises(error, match=match):
        Threshold().fit(y, proba)


def test_threshold_unknown_metric_and_predict_before_fit():
    with pytest.raises(ConfigError, match="threshold metric must be one of"):
        Threshold("accuracy").fit([0, 1], [0.2, 0.8])
    with pytest.raises(ConfigError, match="before fit"):
        Threshold().predict([0.5])


# --- options and the entry point ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    BalanceOptions(), BalanceOptions(class_weight="balanced"), BalanceOptions(sampler="oversample"),
    BalanceOptions(sampler="undersample"), BalanceOptions(sampler="smote", smote_k=3),
    BalanceOptions(loss="focal", focal_gamma=1.0), BalanceOptions(loss="focal", class_weight="balanced"),
    BalanceOptions(class_weight=[1.0, 3.0], sampler="smote"), BalanceOptions(threshold="f1"),
])
def test_balance_training_builds_rows_sampler_and_loss(options):
    X, y = imbalanced()
    X_before, y_before = X.copy(), y.copy()
    bal = balance_training(options, (X, y), 2, seed=0)
    assert isinstance(bal, BalancedTraining)
    np.testing.assert_array_equal(X, X_before)  # the caller's arrays are not changed
    np.testing.assert_array_equal(y, y_before)
    assert bal.counts_before == [90, 10]
    expected_after = {"undersample": [10, 10], "smote": [90, 90]}.get(options.sampler, [90, 10])
    assert bal.counts_after == expected_after and np.bincount(bal.y).tolist() == expected_after
    assert (bal.sampler is not None) == (options.sampler == "oversample")
    assert isinstance(bal.loss, FocalLoss if options.loss == "focal" else nn.CrossEntropyLoss)
    weights = bal.loss.alpha if options.loss == "focal" else bal.loss.weight
    assert (weights is not None) == (options.class_weight != "none")
    assert bal.summary()["sampler"] == options.sampler and bal.summary()["counts_before"] == [90, 10]
    value = bal.loss(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))
    assert torch.isfinite(value)


def test_balanced_weights_come_from_the_training_counts():
    X, y = imbalanced()
    bal = balance_training(BalanceOptions(class_weight="balanced"), (X, y), 2)
    assert bal.loss.weight.tolist() == pytest.approx([100 / 180, 100 / 20])


@pytest.mark.parametrize("options,match", [
    ({"sampler": "bootstrap"}, r"balance.sampler: expected one of none, oversample, undersample, smote, got 'bootstrap'"),
    ({"loss": "hinge"}, r"balance.loss: expected one of ce, focal"),
    ({"class_weight": "auto"}, r"balance.class_weight: expected 'none', 'balanced', one weight per class"),
    ({"class_weight": "balanced", "sampler": "oversample"}, "corrects the imbalance twice"),
    ({"focal_gamma": 1.0}, "set loss='focal'"),
    ({"loss": "focal", "focal_gamma": -1}, r"balance.focal_gamma: expected a number >= 0"),
    ({"sampler": "smote", "smote_k": 0}, r"balance.smote_k: expected an integer >= 1 \(SMOTE's k_neighbors\)"),
    ({"threshold": "youden"}, "balance.threshold: expected one of none, balanced_accuracy, f1, mcc"),
    ({"bogus": 1}, r"unknown key 'balance.bogus'; valid keys in balance: class_weight, sampler"),
])
def test_bad_options_are_refused_when_made(options, match):
    with pytest.raises(ConfigError, match=match):
        BalanceOptions(**options)


@pytest.mark.parametrize("options,n_classes,match", [
    (BalanceOptions(threshold="balanced_accuracy"), 10, "task has 10 classes; set threshold = 'none'"),
    (BalanceOptions(class_weight="balanced"), None, "apply to classification"),
])
def test_options_that_do_not_fit_the_task_fail_before_any_work(options, n_classes, match):
    with pytest.raises(DataError, match=match):
        options.check(n_classes)
    with pytest.raises(DataError, match=match):
        balance_training(options, imbalanced(), n_classes)


def test_the_config_and_knobs_balance_agree_on_when_balancing_is_active():
    """They disagreed: the config called [balance] active for any key off its default, so
    ``smote_k = 3`` alone put a balance record in summary.json and ran the balancing step for a
    regression task; knobs.balance called it inactive. Now [balance] *is* a BalanceOptions."""
    cfg = parse_config({"balance": {"smote_k": 3}})
    assert isinstance(cfg.balance, BalanceOptions) and cfg.balance.smote_k == 3
    assert not cfg.balance.active() and not BalanceOptions(smote_k=3).active()
    assert parse_config({"balance": {"class_weight": [1, 2]}}).balance.active()
    with pytest.raises(ConfigError, match=r"c.toml: balance.sampler: expected one of"):
        parse_config({"balance": {"sampler": "bootstrap"}}, origin="c.toml")


def test_regression_with_default_options_passes_through():
    X, y = np.zeros((5, 2), np.float32), np.linspace(0, 1, 5).astype(np.float32)
    bal = balance_training(BalanceOptions(), (X, y), None)
    assert bal.sampler is None and bal.train_data(2)[0] is bal.X


def test_smote_too_few_rows_through_the_options():
    X, y = imbalanced(n_major=50, n_minor=4)
    with pytest.raises(DataError, match="class 1 has 4"):
        balance_training(BalanceOptions(sampler="smote"), (X, y), 2)


def test_every_sampler_and_loss_combination_is_either_accepted_or_refused_clearly():
    X, y = imbalanced()
    for weight, sampler, loss in itertools.product(["none", "balanced"], ["none", "oversample", "undersample", "smote"], ["ce", "focal"]):
        try:
            bal = balance_training(BalanceOptions(class_weight=weight, sampler=sampler, loss=loss), (X, y), 2, seed=1)
        except ConfigError as error:
            assert weight == "balanced" and sampler != "none" and "twice" in str(error)
        else:
            assert torch.isfinite(bal.loss(torch.randn(3, 2), torch.tensor([0, 1, 1])))


def test_class_weights_balance_a_segmentations_pixels_and_samplers_of_rows_are_refused_for_them():
    # oversampling failed inside torch ("weights should be a 1d sequence") on masks
    import torch

    from knobs.balance import BalanceOptions, balance_training

    X = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    masks = (X[:, 0] > 0.7).long()  # about 3 background pixels to 1
    weighted = balance_training(BalanceOptions(class_weight="balanced"), (X, masks), n_classes=2)
    counts = np.bincount(masks.reshape(-1).numpy())
    assert np.allclose(weighted.weights, counts.sum() / (2 * counts))
    for sampler in ("oversample", "undersample", "smote"):
        with pytest.raises(DataError, match=rf"balance.sampler = '{sampler}' draws rows by their class, and the labels "
                                            rf"hold a class per position \(shape \(64, 8, 8\)\)"):
            balance_training(BalanceOptions(sampler=sampler), (X, masks), n_classes=2)
