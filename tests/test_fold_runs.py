"""`knobs run` in fold mode (data.folds = k): per-fold preprocessing, mean ± std, refit, one vault opening."""

import csv
import json
import statistics

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.data import Vault, VaultWarning
from knobs.errors import ConfigError
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.trials._fold_objective import refit_epochs
from knobs.study import Study

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "train.threads": 1, "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 3e-3, "high": 3e-2, "log": True}, "width": 16, "depth": 1,
                         "optimizer": "adam"}}
SITES = ["north", "south", "east"]
RARE = ["r1", "r2", "r3", "r4", "r5", "r6"]  # sites of one row each: some fold never trains on each


def _write_csv(path, n=96, seed=0):
    """rid (a row id, to recognise rows after encoding), x, site (categorical), kind (3 classes)."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["rid", "x", "site", "kind"])
        for rid in range(n):
            c = rid % 3
            site = RARE[rid // 3] if rid < 3 * len(RARE) and rid % 3 == 0 else SITES[int(rng.integers(3))]
            w.writerow([rid, f"{rng.normal(2.0 * c, 0.5):.4f}", site, ["a", "b", "c"][c]])
    return path


def _cfg(tmp_path, name="f", **more):
    source = _write_csv(tmp_path / "d.csv")
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, "data.source": str(source),
                              "data.target": "kind", "data.folds": 3, **more})


def _sites(path):
    with open(path, newline="") as handle:
        return {int(r["rid"]): r["site"] for r in csv.DictReader(handle)}


def test_each_fold_fits_its_preprocessing_on_its_training_rows_only(tmp_path):
    torch.set_num_threads(1)
    cfg = _cfg(tmp_path)
    inputs = load_inputs(cfg)
    splits, data = inputs.splits, inputs.data
    sites = _sites(tmp_path / "d.csv")
    test_rids = set(splits.test[0][:, 0].astype(int).tolist())
    rest = set(range(96)) - test_rids
    assert len(data.folds) == 3 and len(data.val[1]) == 0 and len(data.train[1]) == len(rest)
    rids = splits.train[0][:, 0].astype(int)  # the non-test rows, in the order the folds index
    short = 0
    for fold in data.folds:
        train_rids, val_rids = rids[fold.train_index], rids[fold.val_index]
        assert not set(train_rids) & set(val_rids) and set(train_rids) | set(val_rids) == rest
        prepared = fold.prepare()
        assert [len(part[1]) for part in (prepared.splits.train, prepared.splits.val)] == [len(train_rids), len(val_rids)]
        # the standardizer saw this fold's training rows, not its validation rows
        assert prepared.data.scaler.mean_[0] == pytest.approx(train_rids.mean(), rel=1e-6)
        assert prepared.data.scaler.mean_[0] != pytest.approx(np.mean(sorted(rest)), rel=1e-6)
        # the one-hot categories too: exactly the sites of its training rows
        categories = prepared.data.preprocessing.preprocessor.categories_["site"]
        assert set(categories) == {sites[r] for r in train_rids}
        short += len(categories) < len(data.preprocessing.preprocessor.categories_["site"])
        # validation tensors were standardized with the training statistics
        np.testing.assert_allclose(prepared.data.val[0][:, 0].numpy(),
                                   (val_rids - prepared.data.scaler.mean_[0]) / prepared.data.scaler.std_[0], rtol=1e-5)
    assert short > 0  # the rare sites make the per-fold fit observable
    # the test rows are drawn first: the same as a single-split run's
    single = load_config(None, {**cfg.model_dump(exclude_unset=True), "data": {**cfg.data.model_dump(exclude_unset=True),
                                                                               "folds": None}})
    inputs = load_inputs(single)
    single_splits = inputs.splits
    assert set(single_splits.test[0][:, 0].astype(int).tolist()) == test_rids


def test_fold_run_end_to_end_mean_std_refit_one_vault_opening_and_predict(tmp_path):
    from knobs.cli import main

    _write_csv(tmp_path / "d.csv")
    config = tmp_path / "c.toml"
    config.write_text(f"""
[data]
source = "{tmp_path / 'd.csv'}"
target = "kind"
folds = 3
[search]
n_trials = 2
sampler = "random"
[search.space]
lr = {{ low = 3e-3, high = 3e-2, log = true }}
width = 16
depth = 1
[train]
epochs = 3
patience = 2
[checks]
overfit_tiny = false
""")
    assert main(["run", "--config", str(config), "--runs-dir", str(tmp_path / "runs"), "--name", "f", "-q"]) == 0
    run_dir = tmp_path / "runs" / "f"
    summary = json.loads((run_dir / "summary.json").read_text())
    cv = summary["cv"]
    assert cv["k"] == 3 and len(cv["per_fold"]) == 3 and cv["metric"] == "val_loss"
    losses = [row["val_loss"] for row in cv["per_fold"]]
    assert cv["mean"]["val_loss"] == pytest.approx(statistics.fmean(losses))
    assert cv["std"]["val_loss"] == pytest.approx(statistics.stdev(losses))
    assert summary["best_trial"]["value"] == pytest.approx(cv["mean"]["val_loss"])
    assert summary["final_model"] == "refit" and summary["ensemble"] is None
    assert summary["vault"]["openings"] == 1
    refit = summary["refit"]
    assert refit["epochs"] == refit_epochs(refit["fold_best_epochs"]) == refit["epochs_run"]
    assert refit["rows"] == summary["data"]["n"] - summary["test"]["n"]
    report = (run_dir / "report.html").read_text()
    assert "Cross-validation (3 folds" in report and "mean ± std" in report
    best = summary["best_trial"]["number"]
    assert f"Learning curves of the best trial (#{best}) on each of its 3 folds" in report

    # the pruner saw the running mean over folds, one step per fold
    for trial in Study.load(f"sqlite:///{run_dir / 'study.db'}", "search").trials:
        values = trial.attrs["fold_values"]
        assert trial.intermediate == pytest.approx({i + 1: statistics.fmean(values[:i + 1]) for i in range(3)})
        curves = trial.attrs["fold_curves"]  # every fold's curve, the first also as the trial's curve
        assert len(curves) == 3 and curves[0] == trial.attrs["curve"]
        assert [min(c["val_loss"]) for c in curves] == pytest.approx([r["val_loss"] for r in trial.attrs["cv"]["per_fold"]])

    # knobs predict on the refit model reproduces the reported test accuracy from the raw rows
    with pytest.warns(VaultWarning):
        X_test, y_test = Vault(run_dir / "vault").open(reason="test of knobs predict on a fold run")
    rids = set(X_test[:, 0].astype(int).tolist())
    with open(tmp_path / "d.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["rid"]) in rids]
    with open(tmp_path / "test.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["predict", "--run", str(run_dir), "--input", str(tmp_path / "test.csv"),
                 "-o", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as handle:
        predicted = [r["prediction"] for r in csv.DictReader(handle)]
    accuracy = np.mean([p == r["kind"] for p, r in zip(predicted, rows)])
    assert accuracy == pytest.approx(summary["test"]["accuracy"], abs=1e-9)


def test_refit_epochs_is_the_median_of_the_folds_best_epochs():
    assert refit_epochs([3, 9, 4]) == 4
    assert refit_epochs([1, 1, 30, 30, 2]) == 2
    assert refit_epochs([0, 0]) == 1


@pytest.mark.parametrize("more, match", [
    ({"data.folds": 40}, r"data.folds = 40: .*class '[abc]' has 2\d; use data.folds <= 2\d"),
    ({"data.val": 0.2}, r"data.val = 0.2: with data.folds = 3"),
    ({"balance.threshold": "f1"}, r"balance.threshold = 'f1'"),
    ({"ensemble": {"enabled": True, "top_k": 3}}, r"ensemble.enabled"),
])
def test_contradicting_fold_settings_stop_before_the_run(tmp_path, more, match):
    cfg = _cfg(tmp_path, **more)
    with pytest.raises(ConfigError, match=match):
        load_inputs(cfg)
    assert not (tmp_path / "runs").exists()


def test_folds_below_two_are_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="data.folds"):
        _cfg(tmp_path, **{"data.folds": 1})


def test_a_worker_joining_a_fold_run_prunes_on_folds_as_the_driver_does(tmp_path, monkeypatch):
    """Hyperband's budget in fold mode is k folds, for the driver and for `knobs worker` alike
    (the worker built its own study and gave the pruner train.epochs)."""
    from knobs.pipeline import Display, run
    from knobs.pipeline.commands._worker import serve

    seen = []
    optimize = Study.optimize

    def recording(study, *args, **kwargs):
        seen.append(study.pruner.max_resource)
        return optimize(study, *args, **kwargs)

    monkeypatch.setattr(Study, "optimize", recording)
    cfg = _cfg(tmp_path, "hb", **{"search.n_trials": 1, "search.pruner": "hyperband", "train.epochs": 5})
    result = run(cfg, Display(quiet=True), final_test=False)
    serve(f"sqlite:///{result.path / 'study.db'}", "search", n_trials=0)
    assert seen == [3, 3]  # data.folds, twice
