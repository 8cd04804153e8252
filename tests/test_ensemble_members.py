"""knobs.ensemble members: snapshots, epoch checkpoints, weight averaging, torch and scikit-learn members."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from knobs.ensemble import (SWA, CycleSnapshots, EpochSnapshots, SklearnMember, TorchMember, average,
                            greedy_selection, member_names, member_probs, snapshot_schedule)
from knobs.errors import ConfigError, DataError
from knobs.models import MLP
from knobs.train import Callback, Trainer

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def data():
    """120 rows, 8 features, 3 classes from a fixed linear rule (learnable in a few epochs)."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 8, generator=g)
    y = (X @ torch.randn(8, 3, generator=g)).argmax(dim=1)
    return X, y


def net(batch_norm: bool = False, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return MLP((8,), 3, width=16, depth=1, batch_norm=batch_norm, dropout=dropout)


def trainer(epochs: int = 6, **kw) -> Trainer:
    kw = {"optimizer": "sgd", "lr": 0.1, "batch_size": 30, "device": "cpu", "seed": 0, **kw}
    return Trainer(epochs=epochs, **kw)


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


class StepStates(Callback):
    """Test helper: the parameters after every optimizer step."""

    def __init__(self):
        self.states = []

    def on_step_end(self, trainer, step_record):
        self.states.append((step_record["epoch"], params(trainer.model_)))


# -- snapshot ensembles ------------------------------------------------------------------------

def test_cycle_snapshots_with_warm_restarts_take_one_snapshot_per_cycle_at_its_lowest_lr(data):
    model, snaps = net(), CycleSnapshots()
    t = trainer(epochs=6, schedule=snapshot_schedule(cycles=3, epochs=6), callbacks=[snaps])
    history = t.fit(model, data, data)
    assert isinstance(t.schedule_.scheduler, CosineAnnealingWarmRestarts)  # torch's scheduler drives the LR
    assert [s.epoch for s in snaps.snapshots_] == [2, 4, 6]
    assert [s.step for s in snaps.snapshots_] == [8, 16, 24]  # 4 steps per epoch, 8 per cycle
    lrs = [lr for r in history.records for lr in r["lr_steps"]]
    for k, s in enumerate(snaps.snapshots_):
        cycle = lrs[8 * k:8 * (k + 1)]
        assert s.lr == min(cycle) < 0.01 and cycle[0] == pytest.approx(0.1)
    final = snaps.snapshots_[-1].weights()
    assert all(torch.equal(final[k], v) for k, v in model.state_dict().items())  # the last cycle's end is the end
    first, second = (s.weights()["head.weight"] for s in snaps.snapshots_[:2])
    assert not torch.equal(first, second)
    probs = member_probs(snaps.members(model), data[0])
    assert probs.shape == (3, 120, 3)
    assert member_names(snaps.members(model)) == ["epoch-2", "epoch-4", "epoch-6"]


def test_cycle_snapshots_follow_a_triangular_cyclic_schedule_and_keep_the_last(data):
    snaps = CycleSnapshots(keep=2)
    schedule = {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}  # 8-step cycles
    trainer(epochs=6, schedule=schedule, callbacks=[snaps]).fit(net(), data, data)
    # CyclicLR's k-th step (from 0) uses base_lr at k = 0, 8, 16: the cycle ends after steps 9 and 17;
    # the final weights (step 24, LR still falling) end the third cycle; keep=2 drops step 9's
    assert [s.step for s in snaps.snapshots_] == [17, 24]
    assert snaps.snapshots_[0].lr == pytest.approx(0.01)


def test_cycle_snapshots_need_a_restarting_schedule(data):
    for schedule in (None, "cosine", {"name": "step"}):
        with pytest.raises(ConfigError, match="CycleSnapshots needs a schedule that restarts"):
            trainer(epochs=2, schedule=schedule, callbacks=[CycleSnapshots()]).fit(net(), data, data)
    with pytest.raises(ConfigError, match=r"epochs \(12\) must be a multiple of cycles \(5\)"):
        snapshot_schedule(cycles=5, epochs=12)
    with pytest.raises(ConfigError, match="cycles must be an integer >= 1"):
        snapshot_schedule(cycles=0, epochs=12)
    with pytest.raises(ConfigError, match="keep must be None or an integer >= 1"):
        trainer(epochs=2, schedule=snapshot_schedule(1, 2), callbacks=[CycleSnapshots(keep=0)]).fit(net(), data)
    with pytest.raises(ConfigError, match="holds no snapshots"):
        CycleSnapshots().members(net())


def test_snapshots_on_disk_match_those_in_memory_and_keep_deletes_files(data, tmp_path):
    memory, disk = EpochSnapshots(every=1), EpochSnapshots(every=1, keep=2, directory=tmp_path)
    model = net()
    trainer(epochs=4, callbacks=[memory, disk]).fit(model, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot-e3-s12.pt", "snapshot-e4-s16.pt"]
    on_disk = member_probs(disk.members(model), data[0])
    np.testing.assert_array_equal(on_disk, member_probs(memory.members(model)[2:], data[0]))


# -- checkpoints at different epochs -----------------------------------------------------------

def test_epoch_snapshots_equal_shorter_runs_of_the_same_seed(data):
    snaps = EpochSnapshots(epochs=[1, 3])
    trainer(epochs=3, callbacks=[snaps]).fit(net(), data, data)
    assert [s.epoch for s in snaps.snapshots_] == [1, 3]
    for snap in snaps.snapshots_:
        short = net()
        trainer(epochs=snap.epoch).fit(short, data, data)
        assert all(torch.equal(snap.weights()[k], v) for k, v in short.state_dict().items())
    every = EpochSnapshots(every=2)
    trainer(epochs=5, callbacks=[every]).fit(net(), data)
    assert [s.epoch for s in every.snapshots_] == [2, 4]


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of"), ({"epochs": [1], "every": 1}, "exactly one of"),
    ({"epochs": [0, 2]}, r"integers in \[1, 3\]"), ({"epochs": [4]}, r"integers in \[1, 3\]"),
    ({"every": 0}, "every must be an integer >= 1"),
])
def test_epoch_snapshots_reject_bad_settings(data, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        trainer(epochs=3, callbacks=[EpochSnapshots(**kwargs)]).fit(net(), data)


# -- weight averaging --------------------------------------------------------------------------

def test_swa_weights_are_the_mean_of_the_epoch_snapshots_and_batch_norm_is_recomputed(data):
    X, y = data
    swa, snaps = SWA(start=3), EpochSnapshots(epochs=[3, 4, 5, 6])
    model = net(batch_norm=True)
    trainer(epochs=6, batch_size=120, callbacks=[swa, snaps]).fit(model, data)  # one batch per epoch
    assert swa.n_averaged_ == 4
    averaged = dict(swa.model_.named_parameters())
    for name, value in averaged.items():
        mean = torch.stack([s.weights()[name] for s in snaps.snapshots_]).mean(dim=0)
        torch.testing.assert_close(value.detach(), mean, rtol=1e-5, atol=1e-6)
    # batch norm statistics belong to the averaged weights: recompute them by hand
    bn = swa.model_.body[2]
    with torch.no_grad():
        pre = swa.model_.body[1](X)  # the Linear before BatchNorm1d, averaged weights
    torch.testing.assert_close(bn.running_mean, pre.mean(dim=0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var, pre.var(dim=0, unbiased=True), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(bn.running_mean, model.body[2].running_mean)  # not the last weights' statistics
    assert bn.momentum == model.body[2].momentum  # update_bn put the momentum back
    probs = swa.member().predict_proba(X)
    assert probs.shape == (120, 3) and np.allclose(probs.sum(axis=1), 1.0)


def test_swa_batch_norm_pass_on_given_data_and_over_several_batches(data):
    X, _ = data
    swa = SWA(start=2, bn_data=(X[:60], None), bn_batch_size=30)
    trainer(epochs=3, callbacks=[swa]).fit(net(batch_norm=True), data)
    with torch.no_grad():
        pre = swa.model_.body[1](X[:60])
    # NOTE: with momentum=None batch norm keeps the plain mean of the per-batch means
    expected = (pre[:30].mean(dim=0) + pre[30:].mean(dim=0)) / 2
    torch.testing.assert_close(swa.model_.body[2].running_mean, expected, rtol=1e-5, atol=1e-6)


def test_swa_leaves_the_shuffling_generator_as_training_left_it(data):
    plain, with_swa = trainer(epochs=2), trainer(epochs=2, callbacks=[SWA(start=1)])
    plain.fit(net(batch_norm=True), data)
    with_swa.fit(net(batch_norm=True), data)
    assert torch.equal(plain._train.generator.get_state(), with_swa._train.generator.get_state())


def test_swalr_anneals_to_swa_lr_from_the_start_epoch(data):
    swa = SWA(start=3, swa_lr=0.02, anneal_epochs=2, anneal_strategy="linear")
    history = trainer(epochs=6, callbacks=[swa]).fit(net(), data)
    lrs = [r["lr"] for r in history.records]
    assert lrs[:3] == pytest.approx([0.1, 0.1, 0.1])  # epochs 1-3 at the Trainer's lr
    assert lrs[3] == pytest.approx(0.06)  # half way (linear) after epoch 3
    assert lrs[4:] == pytest.approx([0.02, 0.02])
    jump = SWA(start=2, swa_lr=0.02, anneal_epochs=0)
    history = trainer(epochs=3, callbacks=[jump]).fit(net(), data)
    assert [r["lr"] for r in history.records] == pytest.approx([0.1, 0.02, 0.02])


def test_polyak_averages_every_iterate_and_ema_is_exponential(data):
    polyak, steps = SWA(start=2, every="step"), StepStates()
    trainer(epochs=3, callbacks=[polyak, steps]).fit(net(), data)
    late = [s for epoch, s in steps.states if epoch >= 2]
    assert polyak.n_averaged_ == len(late) == 8
    for name, value in polyak.model_.named_parameters():
        torch.testing.assert_close(value.detach(), torch.stack([s[name] for s in late]).mean(0), rtol=1e-5, atol=1e-6)
    ema, snaps = SWA(start=1, ema_decay=0.5), EpochSnapshots(every=1)
    trainer(epochs=3, callbacks=[ema, snaps]).fit(net(), data)
    w = [s.weights()["head.weight"] for s in snaps.snapshots_]
    expected = 0.5 * (0.5 * w[0] + 0.5 * w[1]) + 0.5 * w[2]  # the first update copies the weights
    torch.testing.assert_close(ema.model_.head.weight.detach(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, trainer_kw, match", [
    ({"start": 7}, {}, r"start must be an integer epoch in \[1, 6\]"),
    ({"start": 0}, {}, "start must be"),
    ({"every": "batch"}, {}, "every must be one of"),
    ({"ema_decay": 1.0}, {}, r"ema_decay must be None or a number in \(0, 1\)"),
    ({"swa_lr": -1.0}, {}, "swa_lr must be None or a number > 0"),
    ({"swa_lr": 0.01}, {"schedule": "cosine"}, "SWALR.*schedule='cosine'.*schedule=None"),
    ({"swa_lr": 0.01, "anneal_strategy": "exp"}, {}, "anneal_strategy must be"),
])
def test_swa_rejects_bad_settings(data, kwargs, trainer_kw, match):
    with pytest.raises(ConfigError, match=match):
        trainer(epochs=6, callbacks=[SWA(**kwargs)], **trainer_kw).fit(net(), data)


def test_swa_without_a_fit_says_so():
    with pytest.raises(ConfigError, match="SWA holds no average"):
        SWA(start=3).model_


# -- torch and scikit-learn members ------------------------------------------------------------

class _Flat(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x).reshape(-1)


def test_torch_member_is_softmax_in_eval_mode_and_restores_the_mode(data):
    X, _ = data
    model = net(dropout=0.5).train()
    member = TorchMember(model, batch_size=7)
    probs = member.predict_proba(X)
    assert model.training  # mode put back
    model.eval()
    expected = torch.softmax(model(X).double(), dim=1).detach().numpy()
    np.testing.assert_allclose(probs, expected, rtol=1e-6)
    np.testing.assert_allclose(member.predict_proba(X.numpy().astype(np.float64)), probs, rtol=1e-6)
    assert np.abs(probs.sum(axis=1) - 1).max() < 1e-12
    logit = nn.Linear(8, 1)  # one logit: a binary classifier's [1 - p, p]
    p = torch.sigmoid(logit(X).double()).detach().numpy().reshape(-1)
    np.testing.assert_allclose(TorchMember(logit).predict_proba(X), np.stack([1 - p, p], 1), rtol=1e-6)
    with pytest.raises(DataError, match=r"outputs shape \(120,\)"):
        TorchMember(_Flat(logit)).predict_proba(X)
    with pytest.raises(ConfigError, match="must be a torch.nn.Module"):
        TorchMember(LogisticRegression()).predict_proba(X)
    integers = X.round().long()  # integer features reach an MLP as floats, as in fit and predict
    np.testing.assert_allclose(TorchMember(model).predict_proba(integers),
                               TorchMember(model).predict_proba(integers.float()), rtol=1e-12)

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(x), x.sum()

    with pytest.raises(DataError, match=r"Pair: the model returned a tuple of 2 items .* returns model\(x\)\[0\]"):
        TorchMember(Pair()).predict_proba(X)


def test_sklearn_member_puts_columns_at_their_class_and_takes_tensors(data):
    X, y = data
    member = SklearnMember(LogisticRegression(max_iter=500), n_classes=4).fit(X, y)  # class 3 never seen
    probs = member.predict_proba(X)
    assert probs.shape == (120, 4) and np.all(probs[:, 3] == 0.0)
    np.testing.assert_allclose(probs[:, :3], member.estimator_.predict_proba(X.numpy()))
    images = X.reshape(120, 2, 4)  # image-shaped inputs are flattened
    np.testing.assert_allclose(SklearnMember(LogisticRegression(max_iter=500)).fit(images, y).predict_proba(images),
                               probs[:, :3])
    fitted = LogisticRegression(max_iter=500).fit(X.numpy(), y.numpy())
    np.testing.assert_allclose(SklearnMember(fitted).predict_proba(X), probs[:, :3], atol=1e-5)  # fitted: used as is
    assert member.name == "LogisticRegression"


def test_sklearn_member_errors_name_the_member(data):
    X, y = data
    with pytest.raises(ConfigError, match=r"SVC: .*predict_proba.*CalibratedClassifierCV\(SVC\(\), ensemble=False\)"):
        SklearnMember(SVC()).fit(X, y)
    with pytest.raises(ConfigError, match="lr: predict_proba called before fit"):
        SklearnMember(LogisticRegression(), name="lr").predict_proba(X)
    member = SklearnMember(LogisticRegression(max_iter=500), name="lr").fit(X, y)
    with pytest.raises(DataError, match=r"lr: predict_proba failed on X of shape \(120, 5\)"):
        member.predict_proba(X[:, :5])
    with pytest.raises(DataError, match=r"lr: y holds labels in \[0, 2\]; expected 0 .. 1"):
        SklearnMember(LogisticRegression(), n_classes=2, name="lr").fit(X, y)
    with pytest.raises(DataError, match="NaN"):
        member.predict_proba(torch.full((2, 8), float("nan")))


def test_member_probs_stacks_torch_and_sklearn_members_for_the_combiners(data):
    X, y = data
    model = net()
    trainer(epochs=3).fit(model, data)
    members = [TorchMember(model, name="net"), SklearnMember(LogisticRegression(max_iter=500)).fit(X, y)]
    probs = member_probs(members, X)
    assert probs.shape == (2, 120, 3)
    sel = greedy_selection(probs, y.numpy(), size=5)
    assert average(probs, sel.weights).shape == (120, 3)
    with pytest.raises(DataError, match=r"members\[1\] has shape \(120, 4\)"):
        member_probs([members[0], SklearnMember(LogisticRegression(), n_classes=4).fit(X, y)], X)
    with pytest.raises(ConfigError, match=r"members\[0\] \(Linear\) has no predict_proba.*TorchMember"):
        member_probs([nn.Linear(8, 3)], X)
    with pytest.raises(DataError, match="empty"):
        member_probs([], X)
    assert member_names([members[0], members[0], members[1]]) == ["net", "net-2", "LogisticRegression"]


def test_import_knobs_ensemble_is_torch_free_until_a_torch_member_is_used():
    code = ("import sys, knobs.ensemble as e; assert 'torch' not in sys.modules; "
            "e.SWA; assert 'torch' in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    import knobs.ensemble

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        knobs.ensemble.Nope
    assert "CycleSnapshots" in dir(knobs.ensemble)
