"""``knobs.diagnose`` diagnoses the setup the user trains: a ``Trainer`` (or its settings), the loss,
the schedule and DataLoaders; the Trainer's defaults when nothing is given; the data checks speak
of pixels and tokens; a healthy default text model passes its own preflight; bad input is one
message."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import knobs
from knobs.checks import check_data, check_initial_loss
from knobs.config import parse_config
from knobs.errors import ConfigError, DataError
from knobs.models import build_model
from knobs.pipeline import check_config, diagnose_config
from knobs.train import Trainer

torch.set_num_threads(1)


def blobs(n, seed, d=4):
    centers = 4 * torch.randn(3, d, generator=torch.Generator().manual_seed(9))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return centers[y] + torch.randn(n, d, generator=g), y


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


TRAIN, VAL = blobs(96, 0), blobs(48, 1)


@functools.cache
def plain(epochs: int = 2):
    """The Trainer's default setup diagnosed (shared by the tests that compare with it)."""
    return knobs.diagnose(net(), TRAIN, VAL, epochs=epochs)


def settings(report):
    return report.evidence["settings"]


def losses(report, key="train_loss"):
    return [r[key] for r in report.evidence["run"]["records"]]


# ---- the setup diagnosed is the one trained ------------------------------------------------------

def test_with_no_settings_the_trainers_defaults_are_diagnosed():
    report = plain()
    default = Trainer()
    s = settings(report)
    assert (s["optimizer"], s["lr"], s["batch_size"]) == (default.optimizer, default.lr, default.batch_size)
    assert (s["optimizer"], s["lr"], s["batch_size"]) == ("adam", 1e-3, 64)


def test_a_trainer_gives_its_settings_and_keywords_override_them():
    trainer = Trainer(optimizer="sgd", lr=0.05, batch_size=16, weight_decay=1e-4, epochs=30,
                      optimizer_options={"momentum": 0.9}, clip_grad_norm=1.0)
    report = knobs.diagnose(net(), TRAIN, VAL, trainer=trainer, epochs=2)
    s = settings(report)
    assert (s["optimizer"], s["lr"], s["batch_size"], s["weight_decay"]) == ("sgd", 0.05, 16, 1e-4)
    assert s["epochs"] == 2 and s["planned_epochs"] == 30 and s["options"]["clip_grad_norm"] == 1.0
    assert len(losses(report)) == 2
    as_mapping = knobs.diagnose(net(), TRAIN, VAL, trainer={"optimizer": "sgd", "lr": 0.05, "batch_size": 16,
                                                            "weight_decay": 1e-4, "epochs": 30,
                                                            "optimizer_options": {"momentum": 0.9},
                                                            "clip_grad_norm": 1.0}, epochs=2)
    assert losses(as_mapping) == losses(report)
    assert settings(knobs.diagnose(net(), TRAIN, VAL, trainer=trainer, lr=0.01, epochs=1))["lr"] == 0.01


def test_a_trainers_schedule_spans_its_own_epochs():
    """The diagnosis watches the first epochs of the schedule the user trains, not a squeezed one."""
    trainer = Trainer(lr=1e-2, epochs=100, schedule="cosine")
    lrs = losses(knobs.diagnose(net(), TRAIN, VAL, trainer=trainer, epochs=3), "lr")
    assert lrs[0] == pytest.approx(1e-2) and lrs[-1] > 0.99e-2 and lrs[-1] < lrs[0]
    short = losses(knobs.diagnose(net(), TRAIN, VAL, trainer=Trainer(lr=1e-2, epochs=3, schedule="cosine")), "lr")
    assert short[-1] < 0.5e-2


class _WrongBackwardCE(torch.autograd.Function):
    """Cross-entropy whose backward forgets the softmax (returns -onehot): a hand-written loss bug."""

    @staticmethod
    def forward(ctx, logits, y):
        ctx.save_for_backward(logits, y)
        return nn.functional.cross_entropy(logits, y)

    @staticmethod
    def backward(ctx, grad):
        logits, y = ctx.saved_tensors
        return -nn.functional.one_hot(y, logits.shape[1]).to(logits.dtype) * grad / len(y), None


def test_the_users_loss_is_trained_and_its_gradient_checked():
    report = knobs.diagnose(net(), TRAIN, VAL, loss=_WrongBackwardCE.apply, epochs=2)
    assert "gradient_mismatch" in report.codes
    assert "gradient_mismatch" not in plain().codes
    smoothed = knobs.diagnose(net(), TRAIN, VAL, loss=nn.CrossEntropyLoss(label_smoothing=0.3), epochs=2)
    assert losses(smoothed) != losses(plain())
    assert settings(smoothed)["loss"].startswith("CrossEntropyLoss")
    assert json.loads(json.dumps(smoothed.to_dict(), allow_nan=False))["evidence"]["settings"]["loss"]
    overfit = next(c for c in smoothed.checks if c.name == "overfit_tiny")
    assert overfit.passed and "trained with the given loss" in overfit.expected


def test_dataloaders_are_diagnosed_and_trained_on():
    train = DataLoader(TensorDataset(*TRAIN), batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(0))
    val = DataLoader(TensorDataset(*VAL), batch_size=32)
    report = knobs.diagnose(net(), train, val, epochs=2)
    assert settings(report)["batch_size"] == 16 and settings(report)["loaders"] is True
    assert report.evidence["sizes"] == {"train": 96, "val": 48}
    steps = [p["step"] for p in report.evidence["run"]["watch"]["probes"]]
    assert max(steps) <= 2 * len(train)          # the loader's 6 batches an epoch, not 2 of 64 rows


def test_what_a_dataloader_cannot_give_is_one_message():
    empty = DataLoader(TensorDataset(TRAIN[0][:0], TRAIN[1][:0]), batch_size=8)
    with pytest.raises(DataError, match="train DataLoader gave no batches"):
        knobs.diagnose(net(), empty, VAL)
    two = DataLoader(list(zip(zip(TRAIN[0], TRAIN[0]), TRAIN[1])), batch_size=8)
    with pytest.raises(DataError, match="gives 2 inputs per batch"):
        knobs.diagnose(net(), two, VAL)
    only_x = DataLoader(TensorDataset(TRAIN[0]), batch_size=8)
    with pytest.raises(DataError, match="diagnose: train DataLoader: a batch is"):
        knobs.diagnose(net(), only_x, VAL)


@pytest.mark.parametrize("kwargs, match", [
    ({"trainer": "adam"}, "trainer must be a knobs.train.Trainer or a mapping"),
    ({"trainer": {"optimiser": "adam"}}, r"Trainer: unknown argument 'optimiser' \(did you mean 'optimizer'\?\)"),
    ({"loss": "cross_entropy"}, "loss: expected a callable"),
    ({"schedule": "sometimes"}, "schedule: unknown 'sometimes'"),
])
def test_bad_settings_are_one_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        knobs.diagnose(net(), TRAIN, VAL, **kwargs)


# ---- pixels and tokens --------------------------------------------------------------------------

def sentences(n=400, length=55, vocab=3000, seed=0):
    """Token ids of an SST-2-like set: Zipf-distributed words, 4 to 54 per sentence, padded with 0."""
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab)
    p /= p.sum()
    X = np.zeros((n, length), np.float32)
    for i, k in enumerate(rng.integers(4, length, n)):
        X[i, :k] = rng.choice(np.arange(1, vocab), k, p=p)
    return X, rng.integers(0, 2, n)


@pytest.mark.parametrize("family", ["text_cnn", "text_bag"])
def test_default_text_models_start_unsure(family):
    """The max over a sentence of ReLU features is positive and grows with its length: text_cnn's
    head used to start confidently wrong (ratio 1.69 to ln 2 here, 1.62 on SST-2)."""
    X, y = sentences()
    result = check_initial_loss(lambda: build_model(family, input_shape=(55,), n_classes=2, vocab_size=3000), X, y,
                                seeds=range(10))
    assert result.passed, result.message


def test_a_text_models_bad_start_is_not_blamed_on_unstandardized_token_ids():
    X, y = sentences(100)

    def loud():
        model = build_model("text_bag", input_shape=(55,), n_classes=2, vocab_size=3000)
        with torch.no_grad():
            model.head.head.weight.mul_(300)
        return model

    result = check_initial_loss(loud, X, y, inputs="tokens")
    assert not result.passed and "embeddings start too large" in result.message
    assert "standardized" not in result.message
    with pytest.raises(ConfigError, match="inputs must be one of"):
        check_initial_loss(loud, X, y, inputs="words")


def test_token_ids_are_not_checked_for_scale_and_pixels_only_when_mostly_blank():
    X, y = sentences(200)
    tokens = {r.name: r for r in check_data(((X, y), (X[:50], y[:50])), inputs="tokens")}
    assert tokens["feature_scale"].passed and tokens["constant_features"].passed
    assert not {r.name: r for r in check_data(((X, y), (X[:50], y[:50])))}["feature_scale"].passed
    images = np.random.default_rng(0).random((100, 1, 8, 8)).astype(np.float32)
    images[:, :, 0, :] = 0                                          # a blank border row
    labels = np.arange(100) % 2
    constant = {r.name: r for r in check_data((images, labels))}["constant_features"]
    assert constant.passed and "8 of 64 pixels" in constant.message
    images[:, :, :5, :] = 0                                         # 5 of 8 rows blank
    blank = {r.name: r for r in check_data((images, labels))}["constant_features"]
    assert not blank.passed and "most of each image is blank" in blank.message
    raw = {r.name: r for r in check_data((images * 255, labels))}["feature_scale"]
    assert "pixels" in raw.message and "divide by 255" in raw.message


def test_diagnose_on_token_ids_raises_no_scale_or_column_finding():
    X, y = sentences(240)
    model = build_model("text_bag", input_shape=(55,), n_classes=2, vocab_size=3000)
    report = knobs.diagnose(model, (X[:180], y[:180]), (X[180:], y[180:]), epochs=1)
    assert "unscaled_inputs" not in report and "constant_features" not in report


TEXT_CONFIG = """
[data]
source = "{path}"
text_column = "sentence"
target = "label"
[model]
family = "{family}"
[train]
epochs = 2
"""


@pytest.mark.parametrize("family", ["text_cnn", "text_bag"])
def test_a_text_runs_preflight_has_no_scale_warning_and_passes_the_initial_loss(tmp_path, family):
    words = [f"w{i}" for i in range(3000)]
    X, y = sentences(300)
    lines = ["sentence,label"] + [" ".join(words[int(t)] for t in row if t) + f",{label}" for row, label in zip(X, y)]
    path = tmp_path / "texts.csv"
    path.write_text("\n".join(lines) + "\n")
    cfg = parse_config(__import__("tomllib").loads(TEXT_CONFIG.format(path=path, family=family)))
    results = {r.name: r for r in check_config(cfg)}
    assert results["feature_scale"].passed and "token ids" in results["feature_scale"].message
    assert results["initial_loss"].passed, results["initial_loss"].message


def test_the_digits_runs_preflight_speaks_of_pixels_and_does_not_warn():
    cfg = parse_config({"data": {"source": "digits"}, "train": {"epochs": 1}})
    constant = {r.name: r for r in check_config(cfg)}["constant_features"]
    assert constant.passed and "pixels" in constant.message
    report = diagnose_config(cfg, epochs=1)
    assert "constant_features" not in report and report.evidence["settings"]["inputs"] == "pixels"


def test_a_model_returning_a_tuple_is_one_message_naming_the_fix():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net()

        def forward(self, x):
            return self.inner(x), x.sum()

    with pytest.raises(DataError, match=r"the model returned a tuple of 2 items .* returns model\(x\)\[0\]"):
        knobs.diagnose(Pair(), TRAIN, VAL, epochs=1)
