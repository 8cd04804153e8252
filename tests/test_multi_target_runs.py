"""`knobs run` regressing several target columns at once: each standardized on its own, one output each, scored per
column and on their mean, predicted and evaluated column by column."""

import csv
import json

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

import knobs
from knobs.config import load_config
from knobs.data import load_csv
from knobs.errors import ConfigError, DataError
from knobs.metrics import regression_metrics, split_metrics, weighted_metrics
from knobs.pipeline import Display, run
from knobs.pipeline.autopilot._gain import per_row
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.inputs._target import fit_target, scale_target, unscale_target, with_target
from summary_schema import check_summary

TARGETS = ["speed", "price"]
FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 30, "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 3e-3, "high": 1e-2, "log": True}, "width": 32, "depth": 1, "optimizer": "adam"}}


def _rows(n=300, seed=0):
    """Two targets on scales 100 apart: speed ~ 3a − b, price ~ 500 + 80 c."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    Y = np.stack([3 * X[:, 0] - X[:, 1], 500 + 80 * X[:, 2]], axis=1) + rng.normal(size=(n, 2)) * [0.2, 5]
    return X, Y


def _write(path, X, Y, names=TARGETS):
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "c", "d", *names])
        w.writerows([*np.round(x, 4), *np.round(y, 4)] for x, y in zip(X, Y))
    return path


def test_several_numeric_target_columns_are_one_regression(tmp_path):
    X, Y = _rows(40)
    ds = load_csv(_write(tmp_path / "t.csv", X, Y), target=TARGETS)
    assert ds.task == "regression" and ds.n_classes is None and ds.y.shape == (40, 2)
    assert np.allclose(ds.y, Y, atol=1e-3) and ds.feature_names == ["a", "b", "c", "d"]
    labels = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    _write(tmp_path / "l.csv", X, labels)
    assert load_csv(tmp_path / "l.csv", target=TARGETS).task == "multilabel"  # 0 / 1 columns are labels ...
    assert load_csv(tmp_path / "l.csv", target=TARGETS, task="regression").task == "regression"  # ... unless told
    with pytest.raises(DataError, match="a classification takes one target column"):
        load_csv(tmp_path / "t.csv", target=TARGETS, task="classification")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",cheap"
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="target column 'price'.*finite numbers; line 4 holds 'cheap'"):
        load_csv(tmp_path / "t.csv", target=TARGETS)


def test_each_target_is_standardized_on_its_own_and_answered_in_its_units():
    _, Y = _rows(100)
    target = fit_target(Y, "regression")
    assert np.allclose(target["mean"], Y.mean(0)) and np.allclose(target["std"], Y.std(0))
    z = scale_target(torch.as_tensor(Y, dtype=torch.float32), target)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0, unbiased=False), 1, atol=1e-4)
    assert np.allclose(unscale_target(z, target), Y, atol=1e-3)
    inner = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    assert torch.allclose(with_target(inner, target)(x), inner(x) * torch.tensor(target["std"], dtype=torch.float32)
                          + torch.tensor(target["mean"], dtype=torch.float32))


def test_several_targets_are_scored_per_column_and_on_their_mean():
    _, Y = _rows(60)
    P = Y + np.random.default_rng(1).normal(size=Y.shape) * [0.5, 10]
    m = regression_metrics(Y, P)
    assert m["r2"] == pytest.approx(sk.r2_score(Y, P, multioutput="uniform_average"))
    assert m["per_target"]["r2"] == pytest.approx(sk.r2_score(Y, P, multioutput="raw_values").tolist())
    assert m["rmse"] == pytest.approx(np.mean(np.sqrt(((Y - P) ** 2).mean(0))))
    assert m["mae"] == pytest.approx(sk.mean_absolute_error(Y, P))
    with_intervals = split_metrics("regression", Y, P, intervals=True)
    for key in ("rmse", "mae", "r2"):
        low, high = with_intervals["intervals"][key]
        assert low <= m[key] <= high
    same = weighted_metrics("regression", Y, P, None, np.ones((1, len(Y))))
    assert {k: float(v[0]) for k, v in same.items()} == pytest.approx({k: m[k] for k in ("rmse", "mae", "r2")})
    with pytest.raises(DataError, match="one prediction per row and target column"):
        regression_metrics(Y, P[:, :1])
    rows = per_row(P, Y, "val_loss", "regression")
    assert rows.shape == (60,) and rows.mean() == pytest.approx((((P - Y) / Y.std(0)) ** 2).mean())


def test_a_table_of_several_targets_runs_the_whole_cycle(tmp_path):
    X, Y = _rows()
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "m",
                             "data.source": str(_write(tmp_path / "t.csv", X, Y)), "data.target": TARGETS})
    result = run(cfg, display=Display(quiet=True))
    summary = result.summary
    assert check_summary(summary) == []
    initial = next(r for r in summary["preflight"] if r["name"] == "initial_loss")
    assert initial["passed"], initial["message"]  # each output starts near its standardized target's mean
    test = summary["test"]
    assert test["r2"] > 0.9 and len(test["per_target"]["rmse"]) == 2
    assert test["per_target"]["rmse"][1] > 10 * test["per_target"]["rmse"][0]  # each in its own units
    page = (result.path / "report.html").read_text()
    assert "<th>target</th>" in page and "training standard deviations" in page and "mean of 2 targets" in page
    worst = json.loads((result.path / "views" / "worst.json").read_text())
    assert worst["ranked_by"] == "mean absolute error in training standard deviations"

    new = _write(tmp_path / "new.csv", *_rows(20, seed=3))
    rows = list(csv.DictReader(predict_file(result.path, new).open()))
    assert list(rows[0]) == ["row", "prediction_speed", "prediction_price"]
    assert abs(np.mean([float(r["prediction_price"]) for r in rows]) - 500) < 60
    scored = evaluate_file(result.path, new)["metrics"]
    assert scored["n"] == 20 and len(scored["per_target"]["r2"]) == 2


def test_arrays_of_several_targets_run_from_python(tmp_path):
    X, Y = _rows(240, seed=4)
    result = knobs.run(data=(X.astype(np.float32), Y), quiet=True, runs_dir=str(tmp_path / "runs"),
                       **{k: v for k, v in FAST.items() if k != "search.space"})
    assert result.summary["data"]["task"] == "regression" and "per_target" in result.summary["test"]
    np.savez(tmp_path / "off.npz", X=X[:40], y=Y[:40])
    assert evaluate_file(result.path, tmp_path / "off.npz")["metrics"]["n"] == 40
    np.savez(tmp_path / "bad.npz", X=X[:40], y=Y[:40, 0])
    with pytest.raises(DataError, match=r"regresses 2 target\(s\) per row: y of shape \(40, 2\)"):
        evaluate_file(result.path, tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="\\(rows, outputs\\) of values or \\(rows, H, W\\) masks"):
        knobs.run(data=(X, np.stack([Y, Y], axis=2)), quiet=True, runs_dir=str(tmp_path / "runs"))
