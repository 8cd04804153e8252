"""The search views: every figure is valid plotly JSON drawn with the trace types of the report's
partial bundle, tooltips name trials, axes have titles and honest ticks; the fragments are
escaped and script-free; the table sorts with the one sorter the page includes."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from knobs.report import RunRecord
from knobs.report._search_views import (MAX_LINES, contour_view, findings_view, importance_view, parallel_view,
                                        sorter_js, table_view, timeline_view, views)
from knobs.trial import FrozenTrial, TrialState

SPACE = {"params": {
    "lr": {"type": "float", "low": 3e-4, "high": 3e-2, "log": True},
    "width": {"type": "int", "low": 64, "high": 512, "log": True},
    "depth": {"type": "int", "low": 1, "high": 3},
    "dropout": {"type": "float", "low": 0.0, "high": 0.4},
    "optimizer": {"type": "choice", "options": ["adam", "<b>sgd</b>"]},
}}


def run_of(n=30, seed=0):
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n):
        c = {"lr": float(10 ** rng.uniform(math.log10(3e-4), math.log10(3e-2))), "width": int(rng.integers(64, 513)),
             "depth": int(rng.integers(1, 4)), "dropout": float(rng.uniform(0, 0.4)),
             "optimizer": str(rng.choice(["adam", "<b>sgd</b>"]))}
        value = (math.log10(c["lr"]) + 2.5) ** 2 + 0.1 * c["depth"] + rng.normal(0, 0.01)
        trials.append(FrozenTrial(i, c, TrialState.COMPLETE, value, started_at=1000.0 + 2 * i, finished_at=1001.5 + 2 * i,
                                  attrs={"epochs_run": 10, "best_epoch": 8}))
    trials.append(FrozenTrial(n, trials[0].config, TrialState.FAILED, started_at=1000.0 + 2 * n, finished_at=1000.5 + 2 * n,
                              attrs={"fail_reason": "Diverged: loss <nan> at step 3", "traceback": "Traceback ...\n<boom>"}))
    trials.append(FrozenTrial(n + 1, trials[1].config, TrialState.PRUNED, 2.0, intermediate={1: 2.5, 2: 2.0},
                              started_at=1000.0 + 2 * n, finished_at=1001.0 + 2 * n))
    trials.append(FrozenTrial(n + 2, trials[2].config, TrialState.RUNNING, started_at=1000.0 + 2 * n + 1))
    best = min(trials[:n], key=lambda t: t.value)
    summary = {"search": {"direction": "minimize", "space": SPACE}, "n_trials": len(trials),
               "best_trial": {"number": best.number, "metric": "val_loss"}, "vault": {"openings": 1},
               "data": {"task": "classification", "n_classes": 10}}
    return RunRecord(summary, trials, None, [{"event": "epoch", "time": 1000.0 + 2 * n + 5}])


def trace_types(figure):
    return {trace.get("type", "scatter") for trace in figure["data"]}


def hovers(figure):
    return " ".join(str(t.get("text")) for t in figure["data"])


def test_every_view_of_a_run_in_order_with_valid_figures_of_the_partial_bundle():
    found = list(views(run_of()))
    assert [v.key for v in found] == ["findings", "importance", "parallel", "contour", "timeline", "trials"]
    for v in found:
        assert v.section in ("summary", "search") and v.title
        if v.figure is not None:
            go.Figure(v.figure)  # plotly accepts it (raises on an invalid property)
            json.dumps(v.figure)
            assert trace_types(v.figure) <= {"scatter", "bar", "heatmap"}
            layout = v.figure["layout"]
            assert layout["title"]["text"] and layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"]
        else:
            assert "<script" not in v.html.lower()


def test_importance_puts_the_deciding_parameter_first_and_says_when_it_cannot():
    [v] = importance_view(run_of())
    bar = v.figure["data"][0]
    assert bar["y"][-1] == "lr"  # drawn bottom-up: the largest bar on top
    [few] = importance_view(run_of(5))
    assert few.figure is None and "at least 10 complete trials (5 so far)" in few.html


def test_parallel_coordinates_name_trials_and_label_axes_honestly():
    [v] = parallel_view(run_of())
    assert "trial #0<br>val_loss = " in hovers(v.figure)
    labels = {(a["x"], a["text"]) for a in v.figure["layout"]["annotations"]}
    assert {(0, "1e-3"), (0, "1e-2")} <= labels  # log axis in exponent format
    assert {(1, "64"), (1, "128"), (1, "256"), (1, "512")} <= labels  # log integer axis: powers of two
    assert {(2, "1"), (2, "2"), (2, "3")} == {l for l in labels if l[0] == 2}  # integer ticks only
    assert {(4, "adam"), (4, "<b>sgd</b>")} <= labels
    assert v.figure["layout"]["xaxis"]["ticktext"] == ["lr", "width", "depth", "dropout", "optimizer", "val_loss"]
    assert len(v.figure["data"]) <= 11  # bands of lines, not one trace per trial


def test_parallel_coordinates_of_many_trials_draw_the_best_and_an_even_sample_and_say_so():
    run = run_of(MAX_LINES + 50)
    [v] = parallel_view(run)
    assert f"{MAX_LINES} of {MAX_LINES + 50} trials" in v.figure["layout"]["title"]["text"]
    assert f"{MAX_LINES} of {MAX_LINES + 50} trials drawn: the best {MAX_LINES // 4}" in v.note
    drawn = {int(n) for n in re.findall(r"trial #(\d+)<br>", hovers(v.figure))}
    ranked = sorted((t for t in run.trials if t.value is not None), key=lambda t: t.value)
    assert {t.number for t in ranked[:MAX_LINES // 4]} <= drawn  # every one of the best
    assert drawn & {t.number for t in ranked[MAX_LINES:]}  # and some of the worst: the whole search


def test_contour_of_the_two_most_important_parameters():
    [v] = contour_view(run_of(60))
    heat, dots, best = v.figure["data"]
    assert heat["type"] == "heatmap" and len(heat["z"]) == 40
    assert v.figure["layout"]["xaxis"]["title"]["text"] == "lr (log)"
    assert v.figure["layout"]["yaxis"]["title"]["text"] == "depth" and v.figure["layout"]["yaxis"]["ticktext"] == ["1", "2", "3"]
    assert "trial #" in hovers(v.figure) and best["name"].startswith("best (#")
    z = np.array(heat["z"], dtype=float)
    values = [t.value for t in run_of(60).trials if t.state is TrialState.COMPLETE]
    assert min(values) - 1e-9 <= z.min() and z.max() <= max(values) + 1e-9  # a smoothed mean never leaves the data


def test_timeline_bars_by_state_with_failure_reasons():
    [v] = timeline_view(run_of())
    by_state = {t["name"]: t for t in v.figure["data"]}
    assert set(by_state) == {"complete", "failed", "pruned", "running"}
    assert by_state["complete"]["base"][0] == 0 and by_state["complete"]["x"][0] == pytest.approx(1.5)
    assert "Diverged: loss &lt;nan&gt; at step 3" in by_state["failed"]["text"][0]
    assert by_state["running"]["x"][0] == pytest.approx(4.0)  # until the last event
    assert "pruned at step 2" in by_state["pruned"]["text"][0]


def test_the_trials_table_is_escaped_sortable_and_lists_failures():
    [v] = table_view(run_of())
    assert "<table data-sortable" in v.html and "<th data-type='number'" in v.html
    assert "&lt;b&gt;sgd&lt;/b&gt;" in v.html and "<b>sgd</b>" not in v.html
    assert "<details><summary>Diverged: loss &lt;nan&gt; at step 3</summary><pre>Traceback ...\n&lt;boom&gt;</pre>" in v.html
    assert "pruned at step 2" in v.html and "data-value='" in v.html
    assert "<script" not in v.html
    js = sorter_js()
    assert "table[data-sortable] th" in js and "data-value" in js and "<" not in js.replace("x < y", "")


def test_findings_view_lists_each_finding_with_its_action_and_evidence():
    run = run_of(8)
    [v] = findings_view(run)
    assert "few_trials" in v.html and "→ raise search.n_trials" in v.html and "<details>" in v.html
    assert list(findings_view(RunRecord({}, ()))) == []


def test_a_run_just_started_gives_no_figures_and_no_errors():
    assert list(views(RunRecord({}, ()))) == []
    started = RunRecord({"search": {"direction": "minimize", "space": SPACE}},
                        [FrozenTrial(0, {"lr": 1e-3}, TrialState.RUNNING, started_at=5.0)])
    keys = [v.key for v in views(started)]
    assert keys == ["findings", "importance", "timeline", "trials"]


def test_figures_hold_plain_lists_that_any_plotly_js_reads():
    """No base64 typed arrays ("bdata", plotly.js >= 2.28 only): the report's bundle may be older."""
    for v in views(run_of(40)):
        if v.figure is not None:
            assert "bdata" not in json.dumps(v.figure), v.key
