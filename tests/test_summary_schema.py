"""summary.json has one schema, docs/summary.md: real runs match it key by key, type by type."""

import copy
import csv
import io
import json

import numpy as np
import pytest
from rich.console import Console
from summary_schema import check_summary, load_schema

from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.report._html_views import metric_text

FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1, "optimizer": "adam"}}


def _run(tmp_path, name, **more):
    """summary.json of a finished run; the terminal's summary and report.html ride along."""
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, **more})
    printed = io.StringIO()
    result = run(cfg, display=Display(console=Console(file=printed, width=200), quiet=True))
    summary = json.loads((result.path / "summary.json").read_text())
    return summary, printed.getvalue(), (result.path / "report.html").read_text()


def _binary_csv(path, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "label"])
        for label, n, centre in (("common", 240, 0.0), ("rare", 60, 1.2)):
            w.writerows([f"{rng.normal(centre):.4f}", f"{rng.normal(centre):.4f}", label] for _ in range(n))
    return path


def _regression_csv(path, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(240, 3))
    y = 500 + 80 * (X @ np.array([1.0, -0.5, 0.3])) + rng.normal(scale=8, size=len(X))
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "c", "y"])
        w.writerows([*map(float, row), float(t)] for row, t in zip(X, y))
    return path


# ---- the doc as a schema ---------------------------------------------------------------------------

def test_the_doc_parses_into_every_section():
    fields, metrics = load_schema()
    assert {"test", "single.val", "ensemble.test", "threshold.test"} <= {p for p, f in fields.items() if f.base == "metrics"}
    assert fields["autopilot"].optional and fields["data.n_classes"].nullable
    assert {k for k, f in metrics.items() if "regression" in f.tasks} == {"rmse", "mae", "r2", "per_target"}
    assert "multilabel" in metrics["threshold"].optional_for and "binary" not in metrics["threshold"].optional_for
    assert {"log_loss", "balanced_accuracy", "confusion_matrix"} <= {k for k, f in metrics.items() if "classification" in f.tasks}
    assert {"log_loss", "subset_accuracy", "per_label_f1", "roc_auc"} <= {k for k, f in metrics.items() if "multilabel" in f.tasks}
    assert "loss" not in metrics  # one naming scheme: log_loss / rmse, never a task-dependent "loss"


_SMALL = {"name": "x", "run_dir": "runs/x", "seconds": 1.0,
          "data": {"source": "s", "n": 4, "n_classes": None, "task": "regression", "loading": {}},
          "test": {"n": 2, "rmse": 1.0, "mae": 1.0, "r2": None}}


@pytest.mark.parametrize("change, problem", [
    (lambda s: s["test"].update(loss=1.0), "`test.loss` is in summary.json but not documented as a regression metric"),
    (lambda s: s["test"].pop("mae"), "`test.mae` (regression metric) is documented but missing"),
    (lambda s: s["test"].update(rmse="1"), "`test.rmse` is str '1' but documented as number"),
    (lambda s: s["data"].update(n=None), "`data.n` is null but documented as integer"),
    (lambda s: s.update(extra=1), "`extra` is in summary.json but not documented"),
])
def test_the_check_names_each_departure(change, problem):
    summary = copy.deepcopy(_SMALL)
    assert not any(problem in p for p in check_summary(summary))
    change(summary)
    assert any(problem in p for p in check_summary(summary))


def test_a_binary_metrics_object_needs_roc_auc_and_threshold():
    summary = {**copy.deepcopy(_SMALL), "data": {"task": "classification", "n_classes": 2}}
    summary["test"] = {"n": 2, "n_classes": 2, "support": [1, 1], "accuracy": 1.0, "balanced_accuracy": 1.0,
                       "macro_f1": 1.0, "per_class_recall": [1.0, 1.0], "confusion_matrix": [[1, 0], [0, 1]],
                       "log_loss": 0.1}
    problems = [p for p in check_summary(summary) if p.startswith("`test.")]
    assert sorted(problems) == ["`test.roc_auc` (classification metric) is documented but missing from summary.json",
                                "`test.threshold` (classification metric) is documented but missing from summary.json"]


# ---- real runs --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_binary_classification_run_with_ensemble_threshold_and_autopilot_matches_the_doc(tmp_path):
    summary, printed, report = _run(tmp_path, "binary", **{"data.source": str(_binary_csv(tmp_path / "b.csv")),
                                          "balance.threshold": "balanced_accuracy", "ensemble.top_k": 3,
                                          "autopilot.enabled": True, "autopilot.max_steps": 1})
    assert summary["ensemble"] is not None and summary["threshold"] is not None and "autopilot" in summary
    assert check_summary(summary) == []
    # the advice is in the summary and the terminal's last lines (3 trials for 2 parameters: too few)
    assert "few_trials" in [a["code"] for a in summary["advice"]]
    assert "advice (" in printed and all(a["message"][:40] in printed for a in summary["advice"])
    # the one metrics path: every split's metrics are knobs.metrics.split_metrics, with the same keys
    keys = set(summary["test"])
    assert keys == set(summary["ensemble"]["test"]) == set(summary["threshold"]["test"])
    assert keys == set(summary["single"]["val"]) | {"intervals"}  # test splits add their 95% intervals
    assert set(summary["test"]["intervals"]) >= {"accuracy", "balanced_accuracy", "log_loss", "roc_auc"}
    assert summary["threshold"]["test"]["threshold"] == summary["threshold"]["threshold"]
    # terminal and report read the same names
    assert f"log_loss {summary['test']['log_loss']:.4f}".split()[1] in printed and "roc_auc" in printed
    assert f"decision threshold {summary['threshold']['threshold']:.3g}" in printed
    low, high = summary["test"]["intervals"]["accuracy"]
    assert f"{low:.4f}–{high:.4f}" in printed and "95% interval" in printed  # the terminal's test table too
    assert "test log loss" in report and "<th>log_loss</th>" in report


@pytest.mark.slow
def test_regression_runs_single_and_fold_mode_match_the_doc(tmp_path):
    source = str(_regression_csv(tmp_path / "r.csv"))
    single, printed, report = _run(tmp_path, "reg", **{"data.source": source, "data.target": "y", "ensemble.top_k": 2})
    assert single["final_model"] == "single" and set(single["test"]) == {"n", "rmse", "mae", "r2", "intervals"}
    assert check_summary(single) == []
    assert all(k in printed for k in ("rmse", "mae", "r2")) and "test RMSE (single)" in report
    folds, _, report = _run(tmp_path, "reg-folds", **{"data.source": source, "data.target": "y", "data.folds": 3,
                                           "search.n_trials": 2})
    assert folds["final_model"] == "refit" and folds["cv"]["k"] == 3
    assert check_summary(folds) == []
    assert f"rmse {metric_text(folds['test'], 'rmse')}" in report  # the refit's test line of the CV section
    assert "95% CI" in metric_text(folds["test"], "rmse")
