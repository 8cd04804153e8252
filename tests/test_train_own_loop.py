"""The Trainer in a practitioner's own loop: their metrics, loggers, predictions, optimizers and
schedulers as torch objects, batches of other shapes, and the caller's random streams left alone."""

from __future__ import annotations

import csv
import functools
import io
import random
import sys

import numpy as np
import pytest
import torch
from rich.console import Console
from sklearn.metrics import f1_score
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from knobs.errors import ConfigError, DataError
from knobs.train import (CSVLogger, Callback, Diverged, EarlyStopping, ProgressBar, TensorBoardLogger, Trainer)

torch.set_num_threads(1)


def blobs(n=240, d=6, classes=3, seed=0):
    centers = 2 * torch.randn(classes, d, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + 1.5 * torch.randn(n, d, generator=g), y


def net(d=6, classes=3, seed=0, dropout=0.2):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, classes))


TRAIN, VAL = blobs(), blobs(n=120, seed=1)


def macro_f1(outputs, y):
    return f1_score(y.numpy(), outputs.argmax(1).numpy(), average="macro")


# ---- c: metrics, early stopping on them, loggers, predict, torch optimizers and schedulers ----

def test_custom_metrics_are_in_every_record_and_computed_on_the_whole_val_set():
    trainer = Trainer(lr=1e-2, epochs=3, batch_size=32, eval_batch_size=16,
                      metrics={"f1": macro_f1, "bacc": "balanced_accuracy"})
    history = trainer.fit(net(), TRAIN, VAL)
    last = history.records[-1]
    assert {"f1", "bacc"} <= set(last)
    expected = macro_f1(trainer.predict(trainer.model_, VAL[0]), VAL[1])
    assert last["f1"] == pytest.approx(expected)
    assert trainer.evaluate(trainer.model_, VAL)["f1"] == pytest.approx(expected)


def test_early_stopping_on_a_custom_metric_restores_its_best_epoch():
    trainer = Trainer(lr=3e-2, epochs=12, batch_size=16, metrics={"f1": macro_f1},
                      early_stopping=EarlyStopping(monitor="f1", mode="max", patience=2))
    history = trainer.fit(net(), TRAIN, VAL)
    f1 = history.column("f1")
    assert history.best_epoch == 1 + int(np.argmax(f1))
    assert trainer.evaluate(trainer.model_, VAL)["f1"] == pytest.approx(max(f1))


def test_early_stopping_mode_is_inferred_for_known_metrics_and_asked_for_others():
    stopper = EarlyStopping(monitor="f1")
    Trainer(epochs=1, metrics={"f1": "macro_f1"}, early_stopping=stopper).validate()
    assert stopper.mode_ == "max"
    with pytest.raises(ConfigError, match=r"early_stopping.mode: say 'min' or 'max' for the metric 'f1'"):
        Trainer(epochs=1, metrics={"f1": macro_f1}, early_stopping=EarlyStopping(monitor="f1")).validate()
    with pytest.raises(ConfigError, match=r"unknown 'f2'.*val_loss, val_accuracy, train_loss, f1"):
        Trainer(epochs=1, metrics={"f1": macro_f1}, early_stopping=EarlyStopping(monitor="f2")).validate()
    with pytest.raises(ConfigError, match="metrics.f1: unknown 'rmse' for classification"):
        Trainer(metrics={"f1": "rmse"}).validate()
    with pytest.raises(ConfigError, match="'val_loss' cannot name a metric"):
        Trainer(metrics={"val_loss": macro_f1}).validate()


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    path = tmp_path / "logs" / "fit.csv"
    Trainer(epochs=3, batch_size=32, metrics=["macro_f1"], callbacks=[CSVLogger(path)]).fit(net(), TRAIN, VAL)
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert {"train_loss", "val_loss", "val_accuracy", "macro_f1", "lr"} <= set(rows[0])
    assert float(rows[2]["macro_f1"]) > 0


def test_tensorboard_logger_names_the_extra_without_tensorboard(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install 'knobs\[tensorboard\]'"):
        TensorBoardLogger("unused")


def test_tensorboard_logger_writes_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Trainer(epochs=2, batch_size=32, callbacks=[TensorBoardLogger(tmp_path)]).fit(net(), TRAIN, VAL)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("val_loss")] == [1, 2]


def test_progress_bar_shows_epochs_and_is_released_when_a_fit_fails():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=160)
    with pytest.raises(Diverged):
        Trainer(optimizer="sgd", lr=1e12, epochs=3, batch_size=16,
                callbacks=[ProgressBar("doomed", console=console)]).fit(net(), TRAIN, VAL)
    # NOTE: a display left running would refuse the next one (rich allows one live display).
    Trainer(epochs=2, batch_size=32, callbacks=[ProgressBar("trial 7", console=console)]).fit(net(), TRAIN, VAL)
    assert "trial 7" in out.getvalue() and "2/2" in out.getvalue()


def test_predict_is_batched_in_eval_mode_without_grad_and_restores_train_mode():
    model = net()
    model.train()
    X = VAL[0]
    outputs = Trainer().predict(model, X, batch_size=7)
    assert model.training and not outputs.requires_grad and outputs.shape == (120, 3)
    model.eval()
    with torch.no_grad():
        expected = model(X)
    # NOTE: float32 tolerances: batches of 7 / 50 and one of 120 may round differently (CPU kernels pick by shape).
    close = functools.partial(torch.testing.assert_close, rtol=1e-5, atol=1e-5)
    close(outputs, expected)  # dropout off: eval mode
    close(Trainer().predict(model, X.numpy().astype(np.float64)), expected)
    close(Trainer().predict(model, DataLoader(TensorDataset(X, VAL[1]), batch_size=50)), expected)
    close(Trainer().predict(model, (X, VAL[1])), expected)


@pytest.mark.parametrize("optimizer", ["Adam", "SGD", torch.optim.SGD, functools.partial(torch.optim.SGD, momentum=0.9),
                                       lambda params: torch.optim.RMSprop(params, lr=1e-2)])
def test_optimizers_as_names_in_any_case_classes_partials_and_callables(optimizer):
    trainer = Trainer(optimizer=optimizer, lr=0.05, epochs=2, batch_size=32, weight_decay=1e-3)
    history = trainer.fit(net(), TRAIN, VAL)
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"] * 1.5
    groups = trainer.optimizer_.param_groups
    assert [g["weight_decay"] for g in groups] == [1e-3, 0.0]  # biases exempt, whatever built it
    if isinstance(optimizer, functools.partial):
        assert groups[0]["momentum"] == 0.9 and groups[0]["lr"] == 0.05


def test_a_callable_optimizer_must_return_an_optimizer():
    with pytest.raises(ConfigError, match="must return a torch.optim.Optimizer"):
        Trainer(optimizer=lambda params: None, epochs=1).fit(net(), TRAIN, VAL)
    with pytest.raises(ConfigError, match="optimizer .*SGD.*momentun"):
        Trainer(optimizer=torch.optim.SGD, optimizer_options={"momentun": 0.9}, epochs=1).fit(net(), TRAIN, VAL)


def test_schedulers_as_torch_classes_and_callables_step_per_epoch():
    step = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    history = Trainer(optimizer="sgd", lr=0.1, epochs=3, batch_size=32, schedule=step).fit(net(), TRAIN, VAL)
    assert [r["lr"] for r in history.records] == pytest.approx([0.1, 0.05, 0.025])
    plateau = functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5, threshold=10.0)
    history = Trainer(optimizer="sgd", lr=0.1, epochs=3, batch_size=32, schedule=plateau).fit(net(), TRAIN, VAL)
    assert history.records[-1]["lr"] < 0.1
    with pytest.raises(ConfigError, match=r"schedule .*StepLR.*functools.partial"):
        Trainer(schedule=torch.optim.lr_scheduler.StepLR, epochs=1).fit(net(), TRAIN, VAL)


def test_one_cycle_and_cyclic_torch_schedulers_step_per_batch_as_torch_documents():
    """OneCycleLR's total_steps counts batches: stepped per epoch, its LR would barely leave the
    start of its warm-up; stepped per batch it rises to max_lr and anneals to ~0 by the last step."""
    spe, epochs = 240 // 32 + 1, 3
    one_cycle = functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1, total_steps=spe * epochs)
    history = Trainer(optimizer="sgd", lr=0.1, epochs=epochs, batch_size=32, schedule=one_cycle).fit(net(), TRAIN, VAL)
    steps = [lr for r in history.records for lr in r["lr_steps"]]
    assert len(steps) == spe * epochs
    assert max(steps) == pytest.approx(0.1, rel=1e-2) and steps[-1] < 1e-4
    cyclic = functools.partial(torch.optim.lr_scheduler.CyclicLR, base_lr=0.01, max_lr=0.1, step_size_up=spe)
    history = Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=32, schedule=cyclic).fit(net(), TRAIN, VAL)
    steps = [lr for r in history.records for lr in r["lr_steps"]]
    assert steps[0] == pytest.approx(0.01) and max(steps) == pytest.approx(0.1, rel=1e-6)


def test_a_fit_with_a_torch_scheduler_resumes_on_the_same_curve(tmp_path):
    step = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)

    class SaveAt2(Callback):
        def on_epoch_end(self, trainer, record):
            if record["epoch"] == 2:
                trainer.save(tmp_path / "epoch2.pt")

    full = Trainer(optimizer="sgd", lr=0.1, epochs=4, batch_size=32, schedule=step, callbacks=[SaveAt2()])
    records = full.fit(net(), TRAIN, VAL).records
    resumed = Trainer(optimizer="sgd", lr=0.1, epochs=4, batch_size=32, schedule=step)
    history = resumed.fit(net(), TRAIN, VAL, resume_from=tmp_path / "epoch2.pt")
    assert [(r["val_loss"], r["lr"]) for r in history.records] == [(r["val_loss"], r["lr"]) for r in records]


# ---- d: batches as dicts, several inputs, sample weights ---------------------------------------

class Pairs(nn.Module):
    """A model of two inputs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(6, 3), nn.Linear(6, 3)

    def forward(self, x1, x2):
        return self.a(x1) + self.b(x2)


class Records(Dataset):
    def __init__(self, X, y, keys=("x", "y")):
        self.X, self.y, self.keys = X, y, keys

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return {self.keys[0]: self.X[i], self.keys[1]: self.y[i]}


def test_dict_batches_with_default_and_configured_keys():
    loader = DataLoader(Records(*TRAIN), batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    history = Trainer(lr=1e-2, epochs=3).fit(net(), loader, DataLoader(Records(*VAL), batch_size=64))
    assert history.records[-1]["val_accuracy"] > 0.6
    renamed = DataLoader(Records(*TRAIN, keys=("image", "label")), batch_size=32)
    history = Trainer(epochs=1, batch_keys={"x": "image", "y": "label"}).fit(net(), renamed)
    assert len(history) == 1
    # one input and a target named as datasets name it: read by those names (Hugging Face's item form)
    assert len(Trainer(epochs=1).fit(net(), renamed)) == 1
    unnamed = DataLoader(Records(*TRAIN, keys=("image", "answer")), batch_size=32)
    with pytest.raises(DataError, match=r"train: a batch is a dict with keys \['answer', 'image'\], missing 'x', 'y'"):
        Trainer(epochs=1).fit(net(), unnamed)
    assert Trainer(epochs=1).fit(net(), {"x": TRAIN[0], "y": TRAIN[1]}, {"x": VAL[0], "y": VAL[1]})


def test_several_inputs_call_the_model_with_each():
    pairs = [((x, x * 2), y) for x, y in zip(*TRAIN)]
    loader = DataLoader(pairs, batch_size=32)
    trainer = Trainer(lr=1e-2, epochs=2)
    history = trainer.fit(Pairs(), loader, DataLoader(pairs, batch_size=100))
    assert history.records[-1]["val_loss"] < history.records[0]["val_loss"] * 1.2
    out = trainer.predict(trainer.model_, DataLoader(pairs, batch_size=100))
    with torch.no_grad():
        assert torch.allclose(out, trainer.model_(TRAIN[0], TRAIN[0] * 2))
    keyed = DataLoader([{"a": x, "b": x * 2, "y": y} for x, y in zip(*TRAIN)], batch_size=32)
    Trainer(epochs=1, batch_keys={"x": ("a", "b")}).fit(Pairs(), keyed)


def test_sample_weights_make_the_training_loss_a_weighted_mean():
    X, y = TRAIN
    w = torch.rand(len(y), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        per = nn.functional.cross_entropy(net(dropout=0.0)(X), y, reduction="none")
    weighted, plain = float((per * w).sum() / w.sum()), float(per.mean())
    for data in [(X, y, w), DataLoader(TensorDataset(X, y, w), batch_size=len(y))]:
        # one step at a negligible LR: the epoch's train loss is the first forward pass's
        trainer = Trainer(optimizer="sgd", lr=1e-12, epochs=1, batch_size=len(y))
        record = trainer.fit(net(dropout=0.0), data, (X, y, w)).records[0]
        assert record["train_loss"] == pytest.approx(weighted, rel=1e-5)
        assert record["val_loss"] == pytest.approx(plain, rel=1e-5)  # validation unweighted unless asked
    trainer = Trainer(optimizer="sgd", lr=1e-12, epochs=1, batch_size=len(y), weight_val_loss=True)
    assert trainer.fit(net(dropout=0.0), (X, y), (X, y, w)).records[0]["val_loss"] == pytest.approx(weighted, rel=1e-5)
    # rows of weight 0 teach nothing: one full-batch step equals the step on the other rows alone
    odd = (torch.arange(len(y)) % 2).float()
    a = Trainer(optimizer="sgd", lr=0.5, epochs=1, batch_size=len(y)).fit(
        net(dropout=0.0), (X[odd > 0], y[odd > 0]), VAL)
    b = Trainer(optimizer="sgd", lr=0.5, epochs=1, batch_size=len(y)).fit(net(dropout=0.0), (X, y, odd * 3), VAL)
    assert b.records[0]["val_loss"] == pytest.approx(a.records[0]["val_loss"], rel=1e-5)


def test_weights_need_a_loss_that_keeps_per_example_values():
    X, y = TRAIN
    with pytest.raises(DataError, match="reduction='none'"):
        Trainer(epochs=1, loss=nn.CrossEntropyLoss()).fit(net(), (X, y, torch.ones(len(y))))
    history = Trainer(epochs=1, loss=nn.CrossEntropyLoss(reduction="none")).fit(net(), (X, y, torch.ones(len(y))))
    assert len(history) == 1
    with pytest.raises(DataError, match="sample weights must be one number per example"):
        Trainer(epochs=1).fit(net(), (X, y, torch.ones(3)))


def test_a_batch_the_trainer_cannot_read_gets_one_message_naming_the_forms():
    class Quads(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            return TRAIN[0][i], TRAIN[1][i], 1.0, "extra"

    with pytest.raises(DataError, match=r"train: a batch is a list of 4 items .*expected \(x, y\), "
                                        r"\(x, y, sample_weight\), \(\(x1, x2, \.\.\.\), y\) or a mapping"):
        Trainer(epochs=1).fit(net(), DataLoader(Quads(), batch_size=4))
    with pytest.raises(DataError, match="several inputs"):
        Trainer(epochs=1).fit(Pairs(), ((TRAIN[0], TRAIN[0]), TRAIN[1]))


# ---- e: the caller's random streams --------------------------------------------------------------

def draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def test_a_seeded_fit_leaves_the_callers_random_streams_as_they_were():
    seed_all(1)
    expected_1 = draws()
    seed_all(2)
    expected_2 = draws()
    models = [net(), net()]  # built first: net() seeds torch itself
    seed_all(1)
    Trainer(epochs=1, batch_size=32, seed=0).fit(models[0], TRAIN, VAL)
    after_1 = draws()
    seed_all(2)
    Trainer(epochs=1, batch_size=32, seed=0).fit(models[1], TRAIN, VAL)
    after_2 = draws()
    assert after_1 == expected_1 and after_2 == expected_2 and after_1 != after_2


def test_a_seeded_fit_is_still_reproducible_and_an_unseeded_one_draws_from_the_caller():
    runs = [Trainer(epochs=2, batch_size=16, seed=5).fit(net(), TRAIN, VAL).column("val_loss") for _ in range(2)]
    assert runs[0] == runs[1]
    model = net()
    seed_all(0)
    before = torch.get_rng_state()
    Trainer(epochs=1, batch_size=32, seed=None).fit(model, TRAIN, VAL)
    assert not torch.equal(before, torch.get_rng_state())
