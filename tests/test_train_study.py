"""A Trainer inside a study's objective, the practitioner's way: a diverging trial fails alone,
epochs feed the pruner, and the top trials' models come back for an ensemble."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn

import knobs
from knobs.ensemble import TorchMember, average, member_probs
from knobs.errors import ConfigError, KnobsError
from knobs.prune import Median
from knobs.search import Grid
from knobs.train import (CheckpointError, Diverged, EarlyStopping, ReportToTrial, SaveTrialModel, Trainer,
                         load_trial_models)
from knobs.trial import Trial, TrialState

torch.set_num_threads(1)


def blobs(n=240, d=6, classes=3, seed=0):
    centers = 2 * torch.randn(classes, d, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + 0.7 * torch.randn(n, d, generator=g), y


def net(config):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, config["width"]), nn.ReLU(), nn.Linear(config["width"], 3))


TRAIN, VAL, TEST = blobs(seed=0), blobs(n=90, seed=1), blobs(n=120, seed=2)


def test_a_diverging_trial_fails_alone_and_the_study_goes_on():
    space = knobs.Space({"lr": knobs.Choice([1e-2, 1e12, 3e-2])})
    study = knobs.Study(space, sampler=Grid(), direction="minimize")

    def objective(config, trial):
        trainer = Trainer(optimizer="sgd", lr=config["lr"], epochs=3, batch_size=32)
        return trainer.fit(net({"width": 8}), TRAIN, VAL).best["val_loss"]

    study.optimize(objective, n_trials=3)
    states = {t.config["lr"]: t for t in study.trials}
    assert len(states) == 3
    failed = states[1e12]
    assert failed.state is TrialState.FAILED
    reason = failed.attrs["fail_reason"]
    assert "diverged" in reason and "epoch 1" in reason and "step" in reason and "lr 1e+12" in reason
    assert states[1e-2].state is TrialState.COMPLETE and states[3e-2].state is TrialState.COMPLETE


def test_diverged_is_a_runtime_failure_not_bad_input_and_pickles():
    error = Diverged(epoch=2, step=17, lr=0.5, loss=float("nan"))
    assert isinstance(error, RuntimeError) and not isinstance(error, KnobsError)
    copy = pickle.loads(pickle.dumps(error))  # a worker process sends it home pickled
    assert (copy.epoch, copy.step, copy.lr) == (2, 17, 0.5) and str(copy) == str(error)


def test_bad_input_still_ends_the_study():
    study = knobs.Study(knobs.Space({"lr": knobs.Float(1e-3, 1e-1)}))

    def objective(config, trial):
        return Trainer(optimizer="no-such", lr=config["lr"], epochs=1).fit(net({"width": 4}), TRAIN, VAL)

    with pytest.raises(ConfigError, match="optimizer"):
        study.optimize(objective, n_trials=3)


def test_report_to_trial_feeds_the_pruner():
    space = knobs.Space({"lr": knobs.Choice([5e-2, 4e-2, 3e-2, 1e-6])})
    study = knobs.Study(space, sampler=Grid(), pruner=Median(n_startup_trials=3, n_warmup_steps=1))

    def objective(config, trial):
        trainer = Trainer(optimizer="adam", lr=config["lr"], epochs=6, batch_size=32,
                          callbacks=[ReportToTrial(trial, monitor="val_loss")])
        return trainer.fit(net({"width": 8}), TRAIN, VAL).best["val_loss"]

    study.optimize(objective, n_trials=4)
    trials = study.trials
    assert all(len(t.intermediate) == 6 for t in trials if t.state is TrialState.COMPLETE)
    slow = [t for t in trials if t.config["lr"] == 1e-6]
    assert slow and slow[0].state is TrialState.PRUNED and len(slow[0].intermediate) < 6


def test_report_to_trial_names_an_unknown_monitor():
    trial = Trial(0, {})
    trainer = Trainer(epochs=1, callbacks=[ReportToTrial(trial, monitor="val_f1")])
    with pytest.raises(ConfigError, match=r"val_f1.*expected one of train_loss, val_loss, val_accuracy"):
        trainer.fit(net({"width": 4}), TRAIN, VAL)
    assert trainer.history_.records == []  # refused before the first epoch
    trainer = Trainer(epochs=2, metrics={"val_f1": "macro_f1"}, callbacks=[ReportToTrial(trial, monitor="val_f1")])
    history = trainer.fit(net({"width": 4}), TRAIN, VAL)
    assert trial.intermediate == {1: history.records[0]["val_f1"], 2: history.records[1]["val_f1"]}


def test_top_trials_models_ensemble_end_to_end(tmp_path):
    space = knobs.Space({"width": knobs.Choice([4, 8, 16, 32]), "lr": knobs.Choice([3e-2, 1e-12])})
    study = knobs.Study(space, sampler=Grid(), direction="minimize")
    fitted = {}

    def objective(config, trial):
        model = net(config)
        trainer = Trainer(optimizer="adam", lr=config["lr"], epochs=8, batch_size=32,
                          early_stopping=EarlyStopping(patience=3),
                          callbacks=[ReportToTrial(trial), SaveTrialModel(trial, tmp_path / "models")])
        value = trainer.fit(model, TRAIN, VAL).best["val_loss"]
        fitted[trial.number] = trainer.predict(model, TEST[0])
        return value

    study.optimize(objective, n_trials=8)
    top = study.top_trials(3)
    values = [t.value for t in top]
    assert len(top) == 3 and values == sorted(values) and top[0].number == study.best.number
    assert all(t.config["lr"] == 3e-2 for t in top)  # the 1e-12 trials learned nothing
    assert len(study.top_trials(100)) == 8

    models = load_trial_models(top, net)
    assert all(not m.training for m in models)
    for trial, model in zip(top, models):  # the saved weights are the trained (best) ones
        assert torch.allclose(Trainer().predict(model, TEST[0]), fitted[trial.number])
    probs = member_probs([TorchMember(m) for m in models], TEST[0].numpy())
    ensemble = average(probs)
    accuracy = float(np.mean(ensemble.argmax(1) == TEST[1].numpy()))
    assert probs.shape == (3, 120, 3) and accuracy > 0.8


def test_load_trial_models_says_what_is_missing(tmp_path):
    study = knobs.Study(knobs.Space({"width": knobs.Choice([4])}), sampler=Grid())
    study.optimize(lambda config, trial: 1.0, n_trials=1)
    with pytest.raises(CheckpointError, match="SaveTrialModel"):
        load_trial_models(study.top_trials(1), net)
    with pytest.raises(ConfigError, match="integer k >= 1"):
        study.top_trials(0)
