"""knobs.checks: initial loss, tiny-subset overfit, gradient check and data checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from knobs.checks import (CheckResult, check_batch_independence, check_data, check_initial_loss, gradient_check,
                          overfit_tiny)
from knobs.checks._overfit import POOL
from knobs.data import Standardizer, load_builtin, split
from knobs.errors import ConfigError, DataError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    splits = split(load_builtin("digits"), seed=0)
    scaler = Standardizer().fit(splits.train[0])
    return scaler.transform(splits.train[0]), splits.train[1]


def mlp(width=64, dropout=0.0):
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, 10))


def huge_final_layer():
    model = mlp()
    with torch.no_grad():
        model[-1].weight.mul_(50)
    return model


# --- CheckResult ---------------------------------------------------------------------------------

def test_check_result_record():
    result = CheckResult("x", False, "warning", {"a": 1.5}, "a <= 1", "a is 1.5")
    assert result.to_dict() == {"name": "x", "passed": False, "severity": "warning",
                                "measured": {"a": 1.5}, "expected": "a <= 1", "message": "a is 1.5"}
    assert str(result) == "[WARNING] x: a is 1.5"
    with pytest.raises(ValueError, match="severity"):
        CheckResult("x", True, "fatal")


# --- initial loss --------------------------------------------------------------------------------

def test_healthy_mlp_starts_near_ln_c(digits):
    result = check_initial_loss(mlp, *digits, n_classes=10)
    assert result.passed and result.severity == "info"
    assert result.measured["expected"] == pytest.approx(math.log(10))
    assert abs(result.measured["mean"] - math.log(10)) < 0.25
    assert len(result.measured["losses"]) == 3 and result.measured["seeds"] == [0, 1, 2]


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal"])
@pytest.mark.parametrize("family, shape", [("mlp", (10,)), ("convnet", (1, 4, 4))])
def test_a_regression_head_starts_at_the_standardized_targets_mean(init, family, shape):
    from knobs.models import build_model

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, *shape)).astype("float32")
    y = (X.reshape(400, -1)[:, :3].sum(1) / np.sqrt(3)).astype("float32")  # standardized: mean 0, variance 1
    result = check_initial_loss(lambda: build_model(family, input_shape=shape, n_classes=1, init=init), X, y,
                                task="regression")
    # a full-gain head would add its own output variance (about 1 with He init): MSE about 2 Var(y)
    assert result.passed and abs(result.measured["ratio"] - 1) < 0.1, result.measured


def test_huge_final_layer_fails_with_the_numbers(digits):
    result = check_initial_loss(huge_final_layer, *digits)
    assert not result.passed and result.severity == "warning"
    assert result.measured["ratio"] > 3
    assert f"{result.measured['mean']:.4g}" in result.message and "ln 10 = 2.303" in result.message
    assert "final layer" in result.message


def test_loss_below_chance_points_at_a_leak():
    y = np.arange(200) % 10
    X = np.eye(10, dtype=np.float32)[y]  # the label, one-hot, is the input

    def cheat():
        model = nn.Linear(10, 10)
        with torch.no_grad():
            model.weight.copy_(20 * torch.eye(10))
            model.bias.zero_()
        return model

    result = check_initial_loss(cheat, X, y)
    assert not result.passed and result.measured["ratio"] < 0.1 and "leak" in result.message


def test_seeds_make_initial_loss_reproducible(digits):
    a = check_initial_loss(mlp, *digits, seeds=(5, 6))
    b = check_initial_loss(mlp, *digits, seeds=(5, 6))
    assert a.measured["losses"] == b.measured["losses"] and a.measured["losses"][0] != a.measured["losses"][1]


def test_regression_initial_loss_against_target_variance():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X @ rng.normal(size=5)).astype(np.float32)
    y = (y - y.mean()) / y.std()

    def model():
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))

    ok = check_initial_loss(model, X, y, task="regression")
    assert ok.passed and ok.measured["expected"] == pytest.approx(1.0, rel=0.01)
    shifted = check_initial_loss(model, X, y + 100, task="regression")
    assert not shifted.passed and "output bias" in shifted.message


def test_initial_loss_bad_input(digits):
    X, y = digits
    with pytest.raises(ConfigError, match="outputs shape .* 12 classes"):
        check_initial_loss(mlp, X, y, n_classes=12)
    bad = y.copy()
    bad[:3] = 10
    with pytest.raises(DataError, match=r"labels \[10\].*0..9"):
        check_initial_loss(mlp, X, bad, n_samples=5000)
    with pytest.raises(ConfigError, match="task"):
        check_initial_loss(mlp, X, y, task="ranking")


# --- overfit a tiny subset -----------------------------------------------------------------------

def test_healthy_mlp_overfits_tiny_subset(digits):
    result = overfit_tiny(mlp, *digits)
    m = result.measured
    assert result.passed, result.message
    assert m["final_loss"] <= 0.05 and m["accuracy"] == 1.0 and m["n_samples"] == 32
    assert m["initial_loss"] > 1.5 and m["steps_to_target"] is not None and m["steps"] < 300


def test_dropout_is_switched_off_for_the_overfit(digits):
    # With p = 0.9 active, 32 samples could not be fit to near-zero loss; with dropout off they are.
    assert overfit_tiny(lambda: mlp(dropout=0.9), *digits).passed


def test_frozen_model_fails(digits):
    def frozen():
        model = mlp()
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    result = overfit_tiny(frozen, *digits)
    assert not result.passed and result.severity == "error"
    assert "no trainable parameters" in result.message and result.measured["accuracy"] < 1


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_zero_width_bottleneck_fails(digits):
    def bottleneck():
        return nn.Sequential(nn.Linear(64, 0), nn.ReLU(), nn.Linear(0, 10))

    result = overfit_tiny(bottleneck, *digits, steps=100)
    assert not result.passed
    assert result.measured["final_loss"] > 1.0 and result.measured["steps"] == 100
    assert "did not reach the target" in result.message


def test_a_slow_model_is_stopped_by_the_time_box_as_inconclusive_not_failed(digits):
    import time as clock

    class Slow(nn.Module):  # stands in for a 224-pixel backbone on a CPU: every step takes long
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def forward(self, x):
            clock.sleep(0.02)
            return self.net(x)

    result = overfit_tiny(Slow, *digits, lr=1e-5, max_seconds=0.3)  # lr far too small: no early finish
    m = result.measured
    assert not result.passed and result.severity == "warning" and m["timed_out"] and 0 < m["steps"] < 300
    assert "stopped by its 0.3 s time box before the target: inconclusive, not a failure" in result.message
    assert "checks.overfit_seconds" in result.message
    assert overfit_tiny(mlp, *digits, max_seconds=60).passed  # a box that is not reached changes nothing


def test_the_runs_preflight_boxes_the_overfit_with_checks_overfit_seconds():
    from knobs.config import load_config

    assert load_config(None, {}).checks.overfit_seconds == 120.0
    with pytest.raises(ConfigError, match="overfit_seconds"):
        load_config(None, {"checks.overfit_seconds": 0})


def test_divergence_is_reported(digits):
    result = overfit_tiny(mlp, *digits, optimizer="sgd", lr=1e8, steps=50)
    assert not result.passed and "lower the learning rate" in result.message


def test_regression_overfit_and_bad_optimizer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    y = np.sin(X.sum(axis=1)).astype(np.float32)

    def model():
        return nn.Sequential(nn.Linear(4, 64), nn.Tanh(), nn.Linear(64, 1))

    result = overfit_tiny(model, X, y, task="regression", steps=500)
    assert result.passed, result.message
    far = overfit_tiny(model, X, 150 + 80 * y, task="regression", steps=100)
    assert not far.passed and "standardize it" in far.message and far.measured["target_mean"] > 100
    with pytest.raises(ConfigError, match="optimizer must be one of"):
        overfit_tiny(model, X, y, task="regression", optimizer="lbfgs")


class _CountingRows(nn.Module):
    """The model, noting the rows of every forward pass (the work the preflight does)."""

    def __init__(self, model: nn.Module, seen: list[int]) -> None:
        super().__init__()
        self.model, self.seen = model, seen

    def forward(self, x):
        self.seen.append(len(x))
        return self.model(x)


def test_preflight_work_is_bounded_by_its_subsets_not_the_data(digits):
    # NOTE: what keeps the preflight fast, asserted as work done (a wall-clock bound failed on a loaded
    # machine): the initial loss is one forward pass per seed on at most 512 rows, and the tiny
    # overfit looks once at a pool of 4 x 32 candidate rows, then trains on 32 rows full batch and
    # stops once the subset is fitted, long before 300 steps.
    X, y = digits
    initial, overfit = [], []
    check_initial_loss(lambda: _CountingRows(mlp(128), initial), X, y)
    result = overfit_tiny(lambda: _CountingRows(mlp(128), overfit), X, y)
    assert len(X) > 1000 and initial == [512, 512, 512]
    assert result.passed and overfit[0] == POOL * 32 and set(overfit[1:]) == {32} and result.measured["steps"] < 100
    assert len(overfit) <= result.measured["steps"] + 4  # one forward per step, plus the pool, label and final checks


def _unknown_word_texts():
    """64 generated reviews, half positive: each has a word of its class seen 4 times and filler,
    except 6 per class made only of words seen once, which become <unk> (1 to 3 of them)."""
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(64):
        label = i % 2
        if i < 12:
            words = [f"once{i}x{k}" for k in range(1 + (i // 2) % 3)]
        else:
            words = [f"{'good' if label else 'bad'}{(i // 2) % 8}"] + [f"the{k}" for k in rng.integers(0, 4, 3)]
        texts.append(" ".join(words))
        labels.append(label)
    return np.array(texts).reshape(-1, 1), np.array(labels)


def test_a_bag_of_embeddings_passes_on_texts_of_unknown_words(digits):
    # Issue 18: a text of one <unk> and a text of two are the same input to a mean of embeddings;
    # with opposite labels no model of the kind can memorize both, and the healthy default failed
    # at the loss floor 2 ln 2 / 32. Such rows are passed over now (and only such rows).
    from knobs.data import TextPreprocessor
    from knobs.models import build_model

    texts, y = _unknown_word_texts()
    X = TextPreprocessor(min_freq=2).fit(texts).transform(texts).astype(np.float32)
    assert ((X == 1) | (X == 0)).all(axis=1).sum() == 12            # 12 rows of <unk> only

    def bag():
        return build_model("text_bag", input_shape=X.shape[1:], n_classes=2, vocab_size=int(X.max()) + 1)

    result = overfit_tiny(bag, X, y)
    assert result.passed, result.message
    assert 0 < result.measured["passed_over"] <= 10 and "passed over" in result.message
    assert overfit_tiny(mlp, *digits).measured["passed_over"] == 0


def test_identical_rows_count_as_one_input_however_large_the_outputs(digits):
    # the distances are exact differences: in cdist's matrix-product form (|a|² + |b|² − 2ab) two
    # identical rows under outputs near 100 sit up to ~0.1 apart and passed for distinct
    from knobs.checks._overfit import _distinguishable

    X, y = np.asarray(digits[0][:64]).copy(), np.asarray(digits[1][:64]).copy()
    twins = [2 * k + 1 for k in range(6)]
    for i in twins:                                              # row 2k+1: row 2k with another label
        X[i], y[i] = X[i - 1], (y[i - 1] + 1) % 10
    torch.manual_seed(0)
    model = mlp()
    with torch.no_grad():
        model[3].bias.fill_(100.0)                              # a shared offset: softmax ignores it
    rows, passed_over = _distinguishable(model, X, y, np.arange(64), 32, "classification")
    assert not set(twins) & set(rows.tolist()) and passed_over == 6 and len(rows) == 32


def test_a_model_blind_to_its_inputs_still_fails(digits):
    # every row gets one output: passing over rows of the other label would leave one class; the
    # plain pick is kept and the check fails as a wiring bug should
    X, y = digits

    class Blind(nn.Module):
        def __init__(self):
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(10))

        def forward(self, x):
            return self.bias.expand(len(x), 10)

    result = overfit_tiny(Blind, X, y)
    assert not result.passed and result.measured["passed_over"] == 0 and result.measured["n_samples"] == 32


class AuxInTraining(nn.Module):
    """An auxiliary head in training only, as Inception's: a tuple in train mode, the logits in eval mode."""

    def __init__(self):
        super().__init__()
        self.body, self.head, self.aux = nn.Sequential(nn.Linear(64, 64), nn.ReLU()), nn.Linear(64, 10), nn.Linear(64, 10)

    def forward(self, x):
        h = self.body(x)
        return (self.head(h), self.aux(h)) if self.training else self.head(h)


def test_a_training_only_auxiliary_output_is_read_through_its_main_head(digits):
    # the Trainer trains such a model with a custom loss; the checks judge its main head, and the overfit trains
    # with that loss on what the model returned
    ce = nn.CrossEntropyLoss()
    initial = check_initial_loss(AuxInTraining, *digits)
    assert initial.passed and abs(initial.measured["mean"] - math.log(10)) < 0.3
    result = overfit_tiny(AuxInTraining, *digits, loss=lambda out, t: ce(out[0], t) + 0.3 * ce(out[1], t))
    assert result.passed and result.measured["accuracy"] == 1.0
    # without a loss that reads the tuple it cannot train (nor can the Trainer): the one message naming the fix
    with pytest.raises(DataError, match=r"overfit_tiny: the model returned a tuple of 2 items.*model\(x\)\[0\]"):
        overfit_tiny(AuxInTraining, *digits)


def test_a_tuple_in_eval_mode_too_is_refused_by_the_checks(digits):
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            return self.head(x), self.head(x).sum()

    with pytest.raises(DataError, match=r"check_initial_loss: the model returned a tuple of 2 items"):
        check_initial_loss(Pair, *digits)


# --- gradient check ------------------------------------------------------------------------------

class WrongReLU(torch.autograd.Function):
    """ReLU whose backward forgets the mask: the classic hand-written gradient bug."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad


class RightReLU(WrongReLU):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0)


class CustomMLP(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn, self.a, self.b = fn, nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        return self.b(self.fn.apply(self.a(x)))


def test_gradient_check_passes_for_mlp_with_dropout_and_batchnorm(digits):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    before = [p.clone() for p in model.parameters()]
    result = gradient_check(model, *digits)
    assert result.passed, result.message
    assert result.measured["max_rel_error"] < 1e-6
    assert set(result.measured["per_parameter"]) == {n for n, _ in model.named_parameters()}
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # model untouched
    assert next(model.parameters()).dtype == torch.float32


def test_gradient_check_catches_a_wrong_custom_backward(digits):
    torch.manual_seed(0)
    assert gradient_check(CustomMLP(RightReLU), *digits).passed
    result = gradient_check(CustomMLP(WrongReLU), *digits)
    assert not result.passed and result.severity == "error"
    assert result.measured["max_rel_error"] > 1e-2
    assert result.measured["failed_parameters"] == ["a.bias", "a.weight"]  # only below the bad ReLU
    assert "a." in result.measured["worst_parameter"] and "custom backward" in result.message


def test_gradient_check_mse_and_bad_loss():
    torch.manual_seed(0)
    X, y = torch.randn(6, 3), torch.randn(6)
    assert gradient_check(nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)), X, y, loss="mse").passed
    with pytest.raises(ConfigError, match="loss must be one of"):
        gradient_check(nn.Linear(3, 1), X, y, loss="hinge")


# --- data checks ---------------------------------------------------------------------------------

def clean_splits(seed=0, n=(300, 60, 60), d=5, classes=3):
    rng = np.random.default_rng(seed)
    return {name: (rng.normal(size=(k, d)).astype(np.float32), np.arange(k) % classes)
            for name, k in zip(("train", "val", "test"), n)}


def by_name(results):
    return {r.name: r for r in results}


def test_clean_data_passes_every_check():
    results = check_data(clean_splits(), n_classes=3)
    assert [r.name for r in results] == ["finite", "constant_features", "feature_scale", "labels",
                                         "class_balance", "duplicates"]
    assert all(r.passed and r.severity == "info" for r in results), [str(r) for r in results if not r.passed]


def test_nan_is_caught():
    data = clean_splits()
    data["val"][0][4, 2] = np.nan
    data["train"][0][7, 1] = np.inf
    result = by_name(check_data(data, n_classes=3))["finite"]
    assert not result.passed and result.severity == "error"
    assert result.measured["val"] == {"nan": 1, "inf": 0, "rows": 1, "columns": [2]}
    assert result.measured["train"]["inf"] == 1


def test_constant_column_is_caught():
    data = clean_splits()
    data["train"][0][:, 3] = 7.0
    result = by_name(check_data(data, n_classes=3))["constant_features"]
    assert not result.passed and result.measured["columns"] == [3] and "drop" in result.message


def test_unscaled_column_is_caught_and_fixed_by_standardizing():
    data = clean_splits()
    for X, _ in data.values():
        X[:, 1] *= 1000
    result = by_name(check_data(data, n_classes=3))["feature_scale"]
    assert not result.passed and result.measured["train"]["worst_column"] == 1
    assert result.measured["train"]["max_std"] > 500 and "standardize" in result.message
    scaler = Standardizer().fit(data["train"][0])
    assert by_name(check_data(data, n_classes=3, standardizer=scaler))["feature_scale"].passed


def test_labels_out_of_range_are_caught():
    data = clean_splits()
    data["test"][1][:2] = [3, -1]
    result = by_name(check_data(data, n_classes=3))["labels"]
    assert not result.passed and result.severity == "error"
    assert list(result.measured["problems"]) == ["test"] and "[-1, 3]" in result.message


def test_ten_to_one_imbalance_is_caught():
    data = clean_splits()
    X, _ = data["train"]
    data["train"] = (X[:220], np.array([0] * 200 + [1] * 20))
    result = by_name(check_data(data, n_classes=2))["class_balance"]
    assert not result.passed and result.measured["ratio"] == pytest.approx(10.0)
    assert result.measured["counts"] == [200, 20] and "10x" in result.message


def test_imbalanced_pixel_classes_are_counted_in_pixels_and_a_loss_weight_advised():
    rng = np.random.default_rng(0)
    masks = np.zeros((20, 8, 8), dtype=np.int64)
    masks[:, :2, :2] = 1  # class 1 on 4 of 64 pixels: 15x fewer
    images = rng.normal(size=(20, 1, 8, 8)).astype(np.float32)
    result = by_name(check_data({"train": (images, masks)}, n_classes=2, task="classification",
                                inputs="pixels"))["class_balance"]
    assert not result.passed and result.measured["counts"] == [1200, 80]
    assert "15x the pixels of class 1" in result.message and "weigh the loss by class" in result.message
    assert "oversample" not in result.message  # images cannot be drawn by a pixel's class


def test_duplicate_rows_across_splits_are_caught():
    data = clean_splits()
    data["test"][0][5] = data["train"][0][17]
    data["val"][0][0] = -0.0 * data["val"][0][0] + data["train"][0][3]
    result = by_name(check_data(data, n_classes=3))["duplicates"]
    assert not result.passed
    assert result.measured == {"val_in_train": 1, "test_in_train": 1, "test_in_val": 0}


def test_regression_skips_label_checks_and_inputs_are_validated():
    ds = load_builtin("diabetes")
    names = [r.name for r in check_data(ds)]
    assert "labels" not in names and "class_balance" not in names
    splits = split(ds).without_test()
    assert [r.name for r in check_data(splits)] == ["finite", "constant_features", "feature_scale",
                                                    "target_scale", "duplicates"]
    pairs = check_data((splits.train, splits.val))  # a tuple of pairs reads as (train, val)
    assert by_name(pairs)["duplicates"].measured == {"val_in_train": 0}
    single = check_data((ds.X, ds.y))
    assert by_name(single)["constant_features"].measured["split"] == "data"
    with pytest.raises(ConfigError, match="check_data takes"):
        check_data("digits")
    with pytest.raises(DataError, match="one target per row"):
        check_data({"train": (np.zeros((3, 2)), np.zeros(2))})


def test_digits_raw_needs_standardizing():
    splits = split(load_builtin("digits"))
    results = by_name(check_data(splits, n_classes=10))
    assert not results["feature_scale"].passed and results["duplicates"].passed
    assert not results["constant_features"].passed  # digits has always-blank corner pixels


def test_the_checks_read_a_label_column_and_one_hot_rows_and_refuse_soft_labels(digits):
    X, y = digits
    onehot = np.eye(10, dtype=np.float32)[y]
    plain = check_initial_loss(mlp, X, y).measured["losses"]
    assert check_initial_loss(mlp, X, y[:, None]).measured["losses"] == plain
    assert check_initial_loss(mlp, X, onehot).measured["losses"] == plain
    assert overfit_tiny(mlp, X, onehot).passed
    with pytest.raises(DataError, match=r"the checks: class probabilities \(soft labels\) are for training data only"):
        check_initial_loss(mlp, X, 0.9 * onehot + 0.01)


@pytest.mark.parametrize("last", [nn.Softmax(dim=1), nn.ReLU()])
def test_an_overfit_failed_by_outputs_that_are_not_logits_names_the_final_layer(digits, last):
    result = overfit_tiny(lambda: nn.Sequential(mlp(), last), *digits, steps=100)
    assert not result.passed and result.measured["outputs_min"] >= 0
    assert "not one of the untrained model's outputs was negative: it ends in a Softmax, Sigmoid or ReLU" in result.message
    assert overfit_tiny(mlp, *digits).measured["outputs_min"] < 0


def test_a_one_logit_binary_classifier_is_checked_against_ln_2_and_overfits_with_torchs_bce():
    from knobs.data import load_builtin, split

    splits = split(load_builtin("breast_cancer"), seed=0)
    X, y = Standardizer().fit(splits.train[0]).transform(splits.train[0]), splits.train[1]
    net = lambda: nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 1))  # noqa: E731
    initial = check_initial_loss(net, X, y)
    assert initial.passed and initial.measured["expected"] == pytest.approx(math.log(2))
    assert overfit_tiny(net, X, y).passed and overfit_tiny(net, X, y, loss=nn.BCEWithLogitsLoss()).passed
    torch.manual_seed(0)
    assert gradient_check(net(), X, y, loss=nn.BCEWithLogitsLoss().double()).passed
    with pytest.raises(DataError, match=r"labels \[2\] in \d+ rows outside the expected range 0..1"):
        check_initial_loss(net, X, np.where(np.arange(len(y)) % 7 == 0, 2, y))


def test_an_output_bias_started_at_the_class_priors_is_expected_and_a_leak_still_is_not():
    # Karpathy's "init well": the final bias at log p_c starts an imbalanced problem at the priors' cross-entropy,
    # below ln C; it was warned of as a label leak
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 5)).astype(np.float32)
    y = np.zeros(1000, dtype=np.int64)
    y[:10], y[10:20] = 1, 2
    priors = np.bincount(y) / len(y)

    def prior_init():
        net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        with torch.no_grad():
            net[-1].weight.mul_(0.01)
            net[-1].bias.copy_(torch.as_tensor(np.log(priors), dtype=torch.float32))
        return net

    result = check_initial_loss(prior_init, X, y)
    assert result.passed and result.measured["expected"] < 0.9 * math.log(3)
    assert "the cross-entropy of the model's mean prediction" in result.message

    class Leak(nn.Module):  # its outputs read the label off the input: each row, not their mean, knows it
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            return 5.0 * nn.functional.one_hot(x[:, -1].long(), 3).float() + 0 * self.head(x)

    leaky = check_initial_loss(Leak, np.c_[X, y].astype(np.float32), y)
    assert not leaky.passed and "below its chance level" in leaky.message


class _BatchMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        return self.head(x - x.mean(0))  # the batch's own mean, in eval mode too


class _BatchView(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)).t().reshape(len(x), -1))  # a reshape across the batch axis


@pytest.mark.parametrize("make, mixes", [
    (lambda: nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)), False),
    (_BatchMean, True), (_BatchView, True),
    (lambda: nn.Sequential(nn.Linear(64, 10), nn.LogSoftmax(dim=0)), True),
])
def test_batch_independence_finds_outputs_that_read_other_rows(digits, make, mixes):
    result = check_batch_independence(make, digits[0])
    assert result.passed is not mixes and result.measured["rows"] == 8
    assert ("mixes examples across the batch" in result.message) is mixes
    ids = torch.randint(0, 50, (20, 5), generator=torch.Generator().manual_seed(0))  # token ids work too
    assert check_batch_independence(lambda: nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(40, 2)), ids).passed
    with pytest.raises(DataError, match="at least 3 rows"):
        check_batch_independence(make, digits[0][:2])
