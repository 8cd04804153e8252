"""A training DataLoader without ``len`` (an IterableDataset stream): it trains, and the LR schedules
that are sized in batches per epoch take the count from ``Trainer(steps_per_epoch=...)``."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import knobs
from knobs.errors import ConfigError
from knobs.train import Trainer

torch.set_num_threads(1)


def blobs(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    return 2.0 * y[:, None] + 0.5 * torch.randn(n, 4, generator=g), y


class Stream(IterableDataset):
    """The rows of ``blobs`` in order, with no ``__len__`` (torch's ``len(loader)`` raises)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __iter__(self):
        return iter(zip(self.X, self.y))


def model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))


def stream(n=256, batch_size=32, seed=0):
    return DataLoader(Stream(*blobs(n, seed)), batch_size=batch_size)


class LRs:
    def __init__(self):
        self.seen = []

    def on_step_end(self, trainer, record):
        self.seen.append(record["lr"])


def test_a_stream_without_len_trains_evaluates_and_predicts():
    trainer = Trainer(epochs=3, lr=1e-2)
    history = trainer.fit(model(), stream(), stream(128, 64, seed=1))
    assert trainer.step_ == 3 * 8 and len(history.records) == 3
    assert history.records[-1]["val_accuracy"] > 0.9
    assert trainer.evaluate(trainer.model_, stream(128, 64, seed=1))["accuracy"] == history.records[-1]["val_accuracy"]
    assert trainer.predict(trainer.model_, stream(128, 64, seed=1)).shape == (128, 2)


@pytest.mark.parametrize("schedule", ["onecycle", {"name": "step", "step_size": 1, "gamma": 0.5},
                                      {"name": "cosine", "warmup_epochs": 1}])
def test_steps_per_epoch_gives_a_stream_the_lr_curve_of_the_same_batches_with_len(schedule):
    X, y = blobs()
    sized, streamed = LRs(), LRs()
    Trainer(epochs=3, lr=1e-2, schedule=schedule, callbacks=[sized], seed=0).fit(
        model(), DataLoader(TensorDataset(X, y), batch_size=32))
    Trainer(epochs=3, lr=1e-2, schedule=schedule, steps_per_epoch=8, callbacks=[streamed], seed=0).fit(
        model(), stream())
    assert len(streamed.seen) == 24 and streamed.seen == sized.seen


@pytest.mark.parametrize("said", [5, 12])
def test_a_stream_longer_or_shorter_than_said_still_ends_each_epoch_on_the_clock(said):
    trainer = Trainer(epochs=3, lr=1e-2, schedule="onecycle", steps_per_epoch=said)
    trainer.fit(model(), stream())  # 8 batches an epoch
    assert trainer.step_ == 24 and trainer.schedule_.steps == 3 * said


@pytest.mark.parametrize("schedule", [None, "constant", {"name": "plateau", "warmup_steps": 3},
                                      lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1)])
def test_schedules_sized_by_nothing_need_no_steps_per_epoch(schedule):
    trainer = Trainer(epochs=2, lr=1e-2, schedule=schedule)
    trainer.fit(model(), stream(), stream(64, 64, seed=1))
    assert trainer.step_ == 16


@pytest.mark.parametrize("schedule, match", [
    ("onecycle", r"schedule 'onecycle': it is measured in batches per epoch.*steps_per_epoch"),
    ({"name": "plateau", "warmup_epochs": 1}, r"'plateau': its warmup_epochs is measured in batches per epoch"),
])
def test_a_schedule_sized_in_epochs_on_a_stream_names_steps_per_epoch(schedule, match):
    with pytest.raises(ConfigError, match=match):
        Trainer(epochs=2, schedule=schedule).fit(model(), stream(), stream(64, 64, seed=1))


def test_steps_per_epoch_is_refused_for_data_with_a_length_and_checked():
    with pytest.raises(ConfigError, match=r"steps_per_epoch: 5 given, but the training data has a length of its own "
                                          r"\(8 batches an epoch\)"):
        Trainer(epochs=1, batch_size=32, steps_per_epoch=5).fit(model(), blobs())
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        Trainer(epochs=1, steps_per_epoch=0).fit(model(), stream())


def test_a_resumed_stream_keeps_its_steps_per_epoch(tmp_path):
    first = Trainer(epochs=2, lr=1e-2, schedule="cosine", steps_per_epoch=8, checkpoint_dir=tmp_path)
    first.fit(model(), stream())
    with pytest.raises(ConfigError, match="steps_per_epoch: saved 8, now 6"):
        Trainer(epochs=2, lr=1e-2, schedule="cosine", steps_per_epoch=6).fit(
            model(), stream(), resume_from=tmp_path / "last.pt")


def test_diagnose_watches_a_stream_with_the_users_steps_per_epoch():
    report = knobs.diagnose(model(), stream(), stream(128, 64, seed=1), epochs=2,
                            trainer=Trainer(lr=1e-2, schedule="onecycle", steps_per_epoch=8))
    steps = [p["step"] for p in report.evidence["run"]["watch"]["probes"]]
    assert max(steps) <= 16 and len(steps) > 2  # probes spread over 2 epochs of 8 batches
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        knobs.diagnose(model(), stream(), stream(128, 64, seed=1), epochs=2, trainer=Trainer(schedule="onecycle"))
