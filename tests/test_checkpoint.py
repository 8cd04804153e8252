"""Checkpoints: atomic writes, weights_only reads, named mismatches, and exact resume."""

import os

import pytest
import torch

from knobs.errors import ConfigError, DataError
from knobs.models import build_model
from knobs.train import (Callback, CheckpointError, EarlyStopping, Trainer, load_checkpoint,
                         load_model_state, save_checkpoint)

torch.set_num_threads(1)


def data(seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(120, 8, generator=g)
    return X, (X[:, 0] + X[:, 1] + 0.7 * torch.randn(120, generator=g) > 0).long()


TRAIN, VAL = data(0), data(1)


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model("mlp", input_shape=(8,), n_classes=2, **{"width": 16, "dropout": 0.2, **kw})


def test_save_load_roundtrip_is_weights_only_and_atomic(tmp_path):
    net = model()
    opt = torch.optim.Adam(net.parameters())
    path = save_checkpoint(tmp_path / "sub" / "c.pt", model=net, optimizer=opt, epoch=3,
                           extra={"params": {"lr": 0.1, "betas": [0.9, 0.99]}, "note": "x"})
    assert os.listdir(tmp_path / "sub") == ["c.pt"]  # no temporary file left behind
    state = load_checkpoint(path)
    assert state["epoch"] == 3 and state["extra"]["params"]["lr"] == 0.1
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert all(torch.equal(a, b) for a, b in zip(state["model"].values(), net.state_dict().values()))
    save_checkpoint(path, model=model(seed=1))  # overwrites in place
    assert not torch.equal(load_checkpoint(path)["model"]["head.weight"], net.head.weight)


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", model=model(), extra={"v": 1})
    with pytest.raises(Exception):
        save_checkpoint(path, model=model(), extra={"v": lambda: 2})  # a lambda cannot be pickled
    assert load_checkpoint(path)["extra"]["v"] == 1
    assert os.listdir(tmp_path) == ["c.pt"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(CheckpointError, match="no file at"):
        load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    assert issubclass(CheckpointError, DataError)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "extra": {"obj": Callback()}}, path)
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(path)


def test_mismatched_model_names_the_parameters():
    with pytest.raises(CheckpointError, match=r"shape mismatch: body.1.weight \(32, 8\) vs model \(16, 8\)"):
        load_model_state(model(), model(width=32).state_dict())
    with pytest.raises(CheckpointError, match=r"missing: body.7.weight, body.7.bias$"):
        load_model_state(model(depth=3), model(depth=2).state_dict())
    with pytest.raises(CheckpointError, match=r"missing: body.1.bias.*unexpected: body.2.weight.*body.2.running_mean.*\(\+5 more\)"):
        load_model_state(model(), model(batch_norm=True).state_dict())


def test_a_frozen_part_left_out_of_the_file_comes_from_the_model_it_loads_into(tmp_path):
    trained = model(seed=1)
    with torch.no_grad():
        trained.head.weight.add_(1.0)  # "training" touched only the head; the body is the frozen part
    path = save_checkpoint(tmp_path / "slim.pt", model=trained, omit=("body.",))
    state = load_checkpoint(path)
    assert all(not k.startswith("body.") for k in state["model"]) and state["omitted"]["keys"] == 4
    same_body = model(seed=1)
    load_model_state(same_body, state["model"], omitted=state["omitted"])
    for key, value in trained.state_dict().items():
        assert torch.equal(same_body.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match=r"left its body\. weights out .* other ones"):
        load_model_state(model(seed=2), state["model"], source="slim", omitted=state["omitted"])
    with pytest.raises(CheckpointError, match="missing: body"):  # without the record: named as missing
        load_model_state(model(seed=1), state["model"])


class Kill(Exception):
    pass


class KillInEpoch(Callback):
    """Simulates a crash in the middle of an epoch (after the previous epoch's checkpoint)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_step_end(self, trainer, record):
        if record["epoch"] == self.epoch and record["batch"] == 1:
            raise Kill


SCHEDULES = [None, {"name": "onecycle"}, {"name": "cosine", "warmup_epochs": 1},
             {"name": "cosine", "T_0": 2}, {"name": "plateau", "patience": 1, "warmup_steps": 3},
             {"name": "step", "step_size": 2, "gamma": 0.5}]


def _trainer(schedule, optimizer="adam", callbacks=(), checkpoint_dir=None, every=1, patience=100, min_delta=0.0):
    return Trainer(optimizer=optimizer, lr=1e-2, epochs=6, batch_size=16, schedule=schedule, seed=3,
                   early_stopping=EarlyStopping(patience=patience, min_delta=min_delta), callbacks=callbacks,
                   checkpoint_dir=checkpoint_dir, checkpoint_every=every)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: "none" if s is None else "-".join(map(str, s.values())))
def test_resumed_fit_continues_the_same_curve_bitwise(tmp_path, schedule):
    whole = model()
    expected = _trainer(schedule).fit(whole, TRAIN, VAL)
    with pytest.raises(Kill):
        _trainer(schedule, callbacks=[KillInEpoch(4)], checkpoint_dir=tmp_path).fit(model(), TRAIN, VAL)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 3
    resumed_model = model(seed=99)  # different weights: everything must come from the checkpoint
    resumed = _trainer(schedule, checkpoint_dir=tmp_path).fit(resumed_model, TRAIN, VAL,
                                                              resume_from=tmp_path / "last.pt")
    keys = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr")
    assert [[r[k] for k in keys] for r in resumed.records] == [[r[k] for k in keys] for r in expected.records]
    assert resumed.best_epoch == expected.best_epoch
    for a, b in zip(whole.state_dict().values(), resumed_model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_with_momentum_and_early_stop_state(tmp_path):
    whole = model()
    expected = _trainer(None, optimizer="nesterov", patience=2).fit(whole, TRAIN, VAL)
    kill_at = min(len(expected.records), 4)
    with pytest.raises(Kill):
        _trainer(None, optimizer="nesterov", patience=2, callbacks=[KillInEpoch(kill_at)],
                 checkpoint_dir=tmp_path).fit(model(), TRAIN, VAL)
    resumed_model = model(seed=5)
    resumed = _trainer(None, optimizer="nesterov", patience=2).fit(resumed_model, TRAIN, VAL,
                                                                   resume_from=tmp_path / "last.pt")
    assert [r["val_loss"] for r in resumed.records] == [r["val_loss"] for r in expected.records]
    assert resumed.stopped_early == expected.stopped_early
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), resumed_model.state_dict().values()))


def test_resume_after_early_stop_trains_no_more(tmp_path):
    trainer = _trainer(None, patience=0, min_delta=1.0, checkpoint_dir=tmp_path, every=100)
    first = trainer.fit(model(), TRAIN, VAL)
    assert first.stopped_early and len(first.records) == 2  # the final checkpoint is written even off the `every` grid
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == len(first.records) and state["trainer"]["stop"]
    again = _trainer(None, patience=0, min_delta=1.0).fit(model(seed=4), TRAIN, VAL, resume_from=tmp_path / "last.pt")
    assert again.records == first.records


def test_resume_with_other_settings_is_refused(tmp_path):
    _trainer(None, checkpoint_dir=tmp_path).fit(model(), TRAIN, VAL)
    with pytest.raises(ConfigError, match="lr: saved 0.01, now 0.1"):
        Trainer(optimizer="adam", lr=0.1, epochs=6, batch_size=16, seed=3).fit(
            model(), TRAIN, VAL, resume_from=tmp_path / "last.pt")


def test_resume_into_a_different_model_names_parameters(tmp_path):
    _trainer(None, checkpoint_dir=tmp_path).fit(model(), TRAIN, VAL)
    with pytest.raises(CheckpointError, match="body.1.weight"):
        _trainer(None).fit(model(width=8), TRAIN, VAL, resume_from=tmp_path / "last.pt")


def test_resume_from_a_plain_checkpoint_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", model=model())
    with pytest.raises(CheckpointError, match="no trainer state"):
        _trainer(None).fit(model(), TRAIN, VAL, resume_from=path)


def test_trainer_save_holds_everything(tmp_path):
    trainer = _trainer({"name": "cosine"})
    trainer.fit(model(), TRAIN, VAL)
    state = load_checkpoint(trainer.save(tmp_path / "t.pt"))
    assert {"model", "optimizer", "scheduler", "early_stopping", "rng", "trainer", "epoch"} <= set(state)
    assert state["scheduler"]["name"] == "cosine" and state["early_stopping"]["best_state"] is not None
    assert len(state["trainer"]["records"]) == 6 and state["trainer"]["generator"] is not None
