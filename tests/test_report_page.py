"""report.html: rendered from run_views, small enough to mail, readable on a phone, honest axes,
tooltips that name trials, and test metrics with n and a 95% interval (issue 16)."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from knobs.metrics import split_metrics, wilson
from knobs.report import RunRecord, render_report, run_views
from knobs.report._axes import value_axis
from knobs.report._bundle import BUNDLE_VERSION, bundled_trace_types
from knobs.report._format import fmt_metric, interval_decimals
from knobs.report._html_views import metric_text
from knobs.trial import FrozenTrial, TrialState

MB = 1024 * 1024
SPACE = {"version": 1, "params": {
    "lr": {"type": "float", "low": 3e-4, "high": 3e-2, "log": True, "step": None, "when": {}},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True, "step": None, "when": {}},
    "width": {"type": "int", "low": 64, "high": 512, "log": True, "step": 1, "when": {}},
    "depth": {"type": "int", "low": 1, "high": 3, "log": False, "step": 1, "when": {}},
    "dropout": {"type": "float", "low": 0.0, "high": 0.4, "log": False, "step": None, "when": {}},
    "optimizer": {"type": "choice", "options": ["adam", "adamw", "nesterov"], "when": {}}}}


def _metrics(rng: np.random.Generator, n: int = 270, k: int = 10) -> dict:
    y = np.repeat(np.arange(k), n // k)
    proba = rng.dirichlet(np.ones(k), size=len(y)) * 0.7  # about 5% of rows wrong
    proba[np.arange(len(y)), y] += 0.3
    return split_metrics("classification", y, proba, intervals=True)


def default_run(epochs: int = 60, n_trials: int = 40) -> RunRecord:
    """A run the size of the default `knobs run` (digits, 40 trials) at its largest: every trial
    trains all 60 epochs, the ensemble has 8 members, every test metric has its intervals."""
    rng = np.random.default_rng(0)
    trials = []
    for i in range(n_trials):
        e = list(range(1, epochs + 1))
        config = {"lr": float(10 ** rng.uniform(-3.5, -1.5)), "weight_decay": float(10 ** rng.uniform(-6, -2)),
                  "width": int(2 ** rng.uniform(6, 9)), "depth": int(rng.integers(1, 4)),
                  "dropout": float(rng.uniform(0, 0.4)), "optimizer": str(rng.choice(["adam", "adamw", "nesterov"]))}
        curve = {"epoch": e, "train_loss": list(2.3 * np.exp(-np.arange(epochs) / 8) + 0.01),
                 "val_loss": list(2.3 * np.exp(-np.arange(epochs) / 6) + 0.09 + rng.uniform(0, 0.05, epochs)),
                 "val_accuracy": list(np.minimum(0.99, 0.5 + np.arange(epochs) / 60)), "lr": [config["lr"]] * epochs}
        trials.append(FrozenTrial(number=i, config=config, state=TrialState.COMPLETE, value=float(min(curve["val_loss"])),
                                  intermediate={s: v for s, v in zip(e, curve["val_loss"])},
                                  attrs={"curve": curve, "best_epoch": 10, "epochs_run": epochs}))
    test, val = _metrics(rng), split_metrics("classification", [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    members = list(range(8))
    summary = {
        "name": "default", "run_dir": "runs/default", "seconds": 60.0,
        "data": {"source": "builtin:digits", "n": 1797, "n_classes": 10, "task": "classification", "loading": {}},
        "test": test, "final_model": "ensemble", "single": {"trial": 0, "val": val, "test": test},
        "ensemble": {"members": members, "weights": [1 / 8] * 8, "val": val, "test": test,
                     "diversity": {"n_members": 8, "member_errors": [0.03] * 8, "mean_member_error": 0.03,
                                   "pairwise_disagreement": 0.01, "error_correlation": 0.8,
                                   "majority_vote_error": 0.03, "independent_majority_error": 0.0}},
        "threshold": None, "cv": None, "refit": None, "practices": {},
        "best_trial": {"number": 0, "value": trials[0].value, "metric": "val_loss", "config": trials[0].config,
                       "val_accuracy": 0.97, "val_loss": trials[0].value, "best_epoch": 10, "epochs_run": epochs},
        "n_trials": n_trials, "states": {"complete": n_trials, "pruned": 0, "failed": 0, "running": 0},
        "total_epochs": n_trials * epochs,
        "preflight": [{"name": "initial_loss", "passed": True, "severity": "error", "measured": {}, "expected": "",
                       "message": "initial loss 2.3 vs ln 10 = 2.303"}],
        "search": {"sampler": "bayes", "pruner": "none", "space": SPACE, "direction": "minimize",
                   "executor": "local", "population": None, "stopped": None},
        "vault": {"fingerprint": "f" * 64, "openings": 1},
    }
    return RunRecord(summary=summary, trials=trials)


@pytest.fixture(scope="module")
def default() -> RunRecord:
    return default_run()


@pytest.fixture(scope="module")
def page(default) -> str:
    return render_report(default.summary, default.trials)


# ---- size and the embedded plotly.js -----------------------------------------------------------------

def test_the_default_sized_report_is_under_one_and_a_half_megabytes(page):
    assert len(page.encode("utf-8")) < 1.5 * MB


def test_every_trace_type_on_the_page_is_in_the_embedded_bundle(page):
    payload = re.search(r'<script type="application/json" id="knobs-figures">(.*?)</script>', page, re.S).group(1)
    figures = json.loads(payload)["figures"]
    used = {trace.get("type", "scatter") for figure in figures for trace in figure["data"]}
    assert used and used <= bundled_trace_types(), used - bundled_trace_types()
    assert {"scatter", "heatmap", "contour", "bar"} <= bundled_trace_types()


def test_the_bundle_is_the_plotly_js_that_plotly_py_writes_figures_for():
    from plotly.offline import get_plotlyjs_version

    from knobs.report._bundle import bundle_javascript

    assert f"plotly.js (cartesian - minified) v{BUNDLE_VERSION}" in bundle_javascript()[:200].decode()

    assert get_plotlyjs_version().split(".")[:2] == BUNDLE_VERSION.split(".")[:2], (
        "plotly.py was upgraded: vendor plotly.js-cartesian-dist-min of its plotly.js into src/knobs/report/static")


def test_the_page_is_one_offline_file_with_the_bundle_and_no_external_script(page):
    assert "<script src=" not in page and 'id="knobs-plotly"' in page
    assert "DecompressionStream('gzip')" in page


# ---- one page from the views; phones ----------------------------------------------------------------

def test_the_page_renders_every_view_in_section_order_with_a_viewport(default, page):
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    keys = [v.key for v in run_views(default)]
    for key in keys:
        assert f'id="view-{key}"' in page
    for key in ("headline", "history", "best_trial", "best_curves", "curves", "preflight", "test_metrics",
                "confusion", "vault", "ensemble", "slice:depth"):
        assert key in keys
    sections = re.findall(r'<section class="part" id="section-(\w+)"', page)
    assert sections == ["summary", "search", "training", "diagnosis", "test", "ensemble"]


def test_no_two_elements_of_the_page_share_an_id(page):
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert len(ids) > 20 and len(ids) == len(set(ids))


def test_two_views_of_one_key_get_an_id_each():
    from knobs.report import View
    from knobs.report._page import render_views

    views = [View("vault", "The vault", "test", html="<p>sealed</p>"),
             View("vault", "The test vault's log", "test", html="<p>opened once</p>"),
             View("vault-2", "A view named like the second", "test", html="<p>x</p>")]
    ids = re.findall(r'<article class="view[^"]*" id="([^"]*)"', render_views(views, {"name": "r"}))
    assert ids[:2] == ["view-vault", "view-vault-2"] and len(set(ids)) == 3


def test_strings_from_the_run_cannot_break_out_of_the_page():
    run = default_run(epochs=3, n_trials=2)
    summary = {**run.summary, "name": "<b>x</b>",
               "best_trial": {**run.summary["best_trial"], "config": {**run.summary["best_trial"]["config"],
                                                                    "note": "</script><script>alert(1)</script>"}}}
    trials = [FrozenTrial(number=t.number, config={**t.config, "note": "</script>"}, state=t.state, value=t.value,
                          intermediate=t.intermediate, attrs=t.attrs) for t in run.trials]
    page = render_report(summary, trials)
    assert "<b>x</b>" not in page and "alert(1)</script>" not in page
    assert page.count("</script>") == page.count("<script")  # the page's own scripts only


def test_html_views_carry_no_script_and_wrap_tables_to_scroll(default):
    for view in run_views(default):
        if view.html:
            assert "<script" not in view.html and "http" not in view.html
            scrolls = re.search(r"class=['\"]scroll['\"]|overflow(-x)?:\s*auto", view.html)
            assert "<table" not in view.html or scrolls, view.key


def test_a_run_still_searching_gives_views_without_errors():
    running = [FrozenTrial(number=0, config={"lr": 0.01}, state=TrialState.RUNNING, value=None,
                           intermediate={1: 0.5, 2: 0.4}, attrs={})]
    views = run_views(RunRecord(summary={"search": {"space": {"lr": {"type": "float", "low": 1e-3, "high": 1,
                                                                      "log": True}}}}, trials=running))
    assert views and not [v for v in views if v.key.startswith("error:")]


# ---- axes and tooltips ------------------------------------------------------------------------------

def _axes(layout: dict) -> dict:
    return {k: v for k, v in layout.items() if re.fullmatch(r"[xy]axis\d*", k)}


def test_every_shown_axis_of_every_figure_has_a_title(default):
    for view in run_views(default):
        if view.figure is None:
            continue
        for name, axis in _axes(view.figure["layout"]).items():
            if axis.get("showticklabels") is False:  # the top row's x axis, shared with the row below
                continue
            assert (axis.get("title") or {}).get("text"), f"{view.key}: {name} has no title"


def test_every_tooltip_names_its_trial(default):
    for view in run_views(default):
        if view.figure is None or view.key in ("confusion", "class_recall", "importance"):  # classes; parameters
            continue
        for trace in view.figure["data"]:
            if trace.get("type") in ("heatmap", "contour") or trace.get("hoverinfo") == "skip":  # a surface; a colorbar
                continue
            template = trace.get("hovertemplate", "")
            texts = trace.get("text") if "%{text}" in template else None
            named = "trial #" in template or (texts and all("trial #" in str(t) for t in texts if t))
            assert named, f"{view.key}: {trace.get('name')}"


def test_training_loss_of_every_trial_is_in_the_all_curves_view_as_one_legend_group(default):
    figure = next(v.figure for v in run_views(default) if v.key == "curves")
    training = [t for t in figure["data"] if "training loss" in t["hovertemplate"]]
    assert len(training) == len(default.trials)
    others = [t for t in training if t["legendgroup"] != "best trial #0"]
    assert {t["legendgroup"] for t in others} == {"training loss, every trial"}
    assert sum(bool(t.get("showlegend", True)) for t in others) == 1  # one legend entry toggles them all


def test_a_constant_learning_rate_gets_one_tick_not_a_log_axis():
    axis = value_axis([0.00314] * 15, "learning rate", log=True)
    assert axis["type"] == "linear" and axis["tickvals"] == [0.00314] and axis["ticktext"] == ["0.00314"]


def test_log_axes_tick_once_per_decade_as_powers_of_ten_never_si_prefixes():
    wide = value_axis([1e-6, 3e-5, 1e-2], "weight_decay", log=True)
    assert wide["type"] == "log" and wide["dtick"] == 1 and wide["exponentformat"] == "power"
    narrow = value_axis([2e-3, 5e-3], "lr", log=True)  # under a decade: a log axis would print minor labels
    assert narrow["type"] == "linear"
    losses = value_axis([0.01, 2.3], "loss", log=True)
    assert losses["type"] == "log" and losses["exponentformat"] == "none"  # 0.01, 0.1, 1
    short = value_axis([0.19, 2.3], "loss", log=True)  # under two decades: 1-2-5 ticks, more than one label
    assert short["tickvals"] == [0.2, 0.5, 1, 2] and short["ticktext"] == ["0.2", "0.5", "1", "2"]
    small = value_axis([1e-4, 3e-3], "lr", log=True)
    assert small["ticktext"] == ["10⁻⁴", "2×10⁻⁴", "5×10⁻⁴", "10⁻³", "2×10⁻³"]


def test_integer_parameters_get_integer_ticks_only():
    assert value_axis([1, 2, 3, 1], "depth", integer=True)["tickvals"] == [1, 2, 3]
    width = value_axis([64, 100, 512], "width", log=True, integer=True)
    assert width["tickvals"] == [64, 128, 256, 512] and width["type"] == "log"
    many = value_axis(list(range(0, 200, 7)), "epochs", integer=True)
    assert many["dtick"] == 50 and many["tickformat"] == "d"


def test_the_slice_views_use_the_space_s_kinds(default):
    figures = {v.key: v.figure for v in run_views(default) if v.key.startswith("slice:")}
    assert figures["slice:depth"]["layout"]["xaxis"]["tickvals"] == [1, 2, 3]
    assert figures["slice:optimizer"]["layout"]["xaxis"]["type"] == "category"
    assert figures["slice:weight_decay"]["layout"]["xaxis"]["exponentformat"] == "power"
    low, high = figures["slice:lr"]["layout"]["xaxis"]["range"]  # the searched range, not the trials' own
    assert low < math.log10(3e-4) < math.log10(3e-2) < high and high - low < 2.2


# ---- test metrics with n and a 95% interval ------------------------------------------------------------

def test_metric_with_its_count_and_interval_at_the_decimals_the_interval_supports():
    assert fmt_metric(0.9778, [0.9497, 0.9909], n=270, successes=264) == "0.978 (264/270; 95% CI 0.95–0.99)"
    assert fmt_metric(12.34, [10.1, 14.6], n=50) == "12.3 (n = 50; 95% CI 10–15)"
    assert fmt_metric(0.5, None, n=10) == "0.5 (n = 10)"
    assert interval_decimals([0.1, 0.1]) == 4


def test_test_splits_carry_wilson_and_bootstrap_intervals():
    rng = np.random.default_rng(1)
    metrics = _metrics(rng)
    n, right = metrics["n"], round(metrics["accuracy"] * metrics["n"])
    assert metrics["intervals"]["accuracy"] == wilson(right, n)
    for key in ("balanced_accuracy", "macro_f1", "log_loss"):
        low, high = metrics["intervals"][key]
        assert low <= metrics[key] <= high and high - low > 0
    assert len(metrics["intervals"]["per_class_recall"]) == 10
    assert metric_text(metrics, "accuracy").startswith(f"{metrics['accuracy']:.3f} ({right}/{n}; 95% CI ")
    assert "intervals" not in split_metrics("classification", [0, 1], [[0.9, 0.1], [0.2, 0.8]])


def test_every_test_metric_on_the_page_shows_its_interval(default, page):
    test = default.summary["test"]
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss"):
        assert metric_text(test, key) in page.replace("&#x27;", "'")
    assert "95% CI" in next(v.html for v in run_views(default) if v.key == "headline")
    ensemble = next(v.html for v in run_views(default) if v.key == "ensemble")
    assert ensemble.count("95% CI") == 2 * 4  # single and ensemble on test, four metrics each


def test_regression_intervals_are_bootstrap_only():
    rng = np.random.default_rng(2)
    y = rng.normal(size=200)
    metrics = split_metrics("regression", y, y + rng.normal(scale=0.3, size=200), intervals=True)
    assert set(metrics["intervals"]) == {"rmse", "mae", "r2"}
    assert all(low < metrics[k] < high for k, (low, high) in metrics["intervals"].items())
    assert math.isclose(metrics["rmse"], 0.3, rel_tol=0.2)


def test_a_figure_title_becomes_a_caption_and_the_sorter_comes_once(default, page):
    from knobs.report import View
    from knobs.report._page import render_views

    views = [View("a", "A", "search", figure={"data": [], "layout": {"title": {"text": "A, of 40 trials"}}}),
             View("b", "B", "search", figure={"data": [], "layout": {"title": "B"}})]
    rendered = render_views(views, {"name": "r"})
    payload = re.search(r'id="knobs-figures">(.*?)</script>', rendered, re.S).group(1)
    assert "title" not in payload  # plotly draws no one-line title that a phone would cut
    assert '<p class="note">A, of 40 trials</p>' in rendered and '<p class="note">B</p>' not in rendered
    assert page.count("document.addEventListener(\"click\"") == 1 and "data-sortable" in page


def test_one_vault_view_the_log_where_the_run_directory_has_it(default, tmp_path):
    (tmp_path / "vault").mkdir()
    (tmp_path / "vault" / "fingerprint.json").write_text(json.dumps({"n": 270, "sha256": "f" * 64}))
    (tmp_path / "vault" / "openings.jsonl").write_text(json.dumps({"count": 1, "reason": "final evaluation"}) + "\n")
    from_directory = [v for v in run_views(RunRecord(default.summary, default.trials, path=tmp_path)) if v.key == "vault"]
    from_memory = [v for v in run_views(default) if v.key == "vault"]
    assert len(from_directory) == 1 and "final evaluation" in from_directory[0].html  # the log
    assert len(from_memory) == 1 and "sealed before any training" in from_memory[0].html  # the summary's sentence
