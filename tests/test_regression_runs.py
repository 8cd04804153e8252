"""Regression runs: targets standardized with training statistics, answers in the target's units."""

import csv

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.rundir._members import load_member
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.inputs._target import TargetScale, fit_target, scale_target, unscale_target, with_target
from knobs.train import load_checkpoint

FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 25, "train.patience": 5,
        "checks.overfit_tiny": False, "ensemble.top_k": 2,
        "search.space": {"lr": {"low": 3e-3, "high": 1e-2, "log": True}, "width": 32, "depth": 1,
                         "optimizer": "adam"}}


def _write_table(path, n=300, seed=0):
    """y = 500 + 80 · (a linear function of 4 features) + noise: far from unit scale."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = 500 + 80 * (X @ np.array([1.0, -0.5, 0.3, 0.0])) + rng.normal(scale=8, size=n)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "c", "d", "y"])
        w.writerows([*map(float, row), float(t)] for row, t in zip(X, y))
    return path, X, y


def _cfg(tmp_path, **more):
    source, _, _ = _write_table(tmp_path / "r.csv")
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "r", "data.source": str(source),
                              "data.target": "y", **more})


def test_target_record_round_trip_and_wrapper():
    y = torch.tensor([10.0, 20.0, 30.0, 40.0])
    target = fit_target(y.numpy(), "regression")
    z = scale_target(y, target)
    assert float(z.mean()) == pytest.approx(0.0, abs=1e-6) and float(z.std(unbiased=False)) == pytest.approx(1.0)
    assert np.allclose(unscale_target(z, target), y.numpy())
    assert fit_target(np.array([0, 1, 1]), "classification") is None
    assert fit_target(np.full(5, 3.0), "regression") == {"mean": 3.0, "std": 1.0}  # constant: nothing to scale
    inner = torch.nn.Linear(2, 1)
    wrapped = with_target(inner, target)
    x = torch.randn(3, 2)
    assert isinstance(wrapped, TargetScale)
    assert torch.allclose(wrapped(x), inner(x) * target["std"] + target["mean"])
    assert with_target(inner, None) is inner


def test_training_targets_are_standardized_with_training_statistics_only(tmp_path):
    inputs = load_inputs(_cfg(tmp_path))
    data = inputs.data
    y_train = data.train[1].numpy()
    assert abs(y_train.mean()) < 1e-4 and y_train.std() == pytest.approx(1.0, rel=1e-4)
    # val is scaled with the training mean and std, not its own: its mean is not forced to 0
    raw_val = data.raw_targets(data.val[1])
    assert raw_val.mean() > 400 and np.allclose(scale_target(torch.as_tensor(raw_val), data.target), data.val[1])


@pytest.mark.slow
def test_regression_run_learns_and_reports_in_the_targets_units(tmp_path):
    torch.set_num_threads(1)
    result = run(_cfg(tmp_path), display=Display(quiet=True))
    summary = result.summary
    assert summary["test"]["r2"] > 0.8  # raw targets (std ≈ 90) gave R² near 0 with these settings
    assert summary["test"]["mae"] < 40  # in the target's units (a standardized MAE would be < 1)
    assert summary["best_trial"]["val_loss"] < 0.3  # the search's loss: MSE in units of Var(y_train)
    extra = load_checkpoint(result.path / "checkpoints" / "best.pt")["extra"]
    assert extra["target"]["mean"] == pytest.approx(500, abs=20)
    model, _ = load_member(result.path / "checkpoints" / "best.pt", extra["input_shape"], extra["n_classes"],
                           extra["family"])
    assert isinstance(model, TargetScale)

    new, X, y = _write_table(tmp_path / "new.csv", n=40, seed=1)
    out = predict_file(result.path, new)
    predictions = np.array([float(row["prediction"]) for row in csv.DictReader(out.open())])
    assert np.corrcoef(predictions, y)[0, 1] > 0.9 and abs(predictions.mean() - y.mean()) < 30


@pytest.mark.slow
def test_fold_mode_refit_answers_in_the_targets_units(tmp_path):
    torch.set_num_threads(1)
    result = run(_cfg(tmp_path, **{"data.folds": 3, "ensemble.enabled": False, "search.n_trials": 2}),
                 display=Display(quiet=True))
    assert result.summary["final_model"] == "refit"
    assert result.summary["test"]["r2"] > 0.8 and result.summary["test"]["mae"] < 40


def test_preflight_judges_the_targets_as_trained(tmp_path):
    from knobs.pipeline.trials._preflight import run_preflight

    cfg = _cfg(tmp_path, **{"checks.initial_loss": False, "checks.batch_independence": False, "checks.overfit_tiny": False})
    inputs = load_inputs(cfg)
    splits, data = inputs.splits, inputs.data
    results = {r.name: r for r in run_preflight(cfg.checks, data, None, (splits.train, splits.val))}
    assert results["target_scale"].passed and abs(results["target_scale"].measured["mean"]) < 1e-6
