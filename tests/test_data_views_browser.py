"""The data, diagnosis and test views of a tiny convnet run, in Chromium at phone width: every figure
draws without an error, every thumbnail decodes, nothing makes the page scroll sideways, and the
tooltips say what a point is.

The page here embeds each view as report.html and the dashboard do (the fragment as it is, the
figure through ``Plotly.newPlot``); the layout around the views is theirs to test."""

from __future__ import annotations

import json

import plotly.offline
import pytest

from browser_support import assert_no_horizontal_overflow, hover_text, open_file, set_width
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.pipeline.stages import _record_views as recorders
from knobs.report import _data_views as dv
from knobs.report._views import RunRecord

pytestmark = pytest.mark.slow

TINY = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False, "model.family": "convnet",
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "depth": 1, "channels": 4, "optimizer": "adam"},
        "augment": {"hflip": 0.5, "noise": 0.05}}


@pytest.fixture(scope="module")
def views_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    patch = pytest.MonkeyPatch()
    patch.setattr(recorders, "WATCH_SHARE", 1.0)  # a two-trial search: allow the watched replay
    try:
        result = run(load_config(None, {**TINY, "runs_dir": str(folder / "runs"), "name": "b"}),
                     display=Display(quiet=True))
    finally:
        patch.undo()
    views = list(dv.views(RunRecord(summary=result.summary, trials=(), path=result.path)))
    parts = []
    for i, view in enumerate(views):
        body = view.html or ""
        if view.figure is not None:
            body = (f"<div id='fig{i}'></div><script>Plotly.newPlot('fig{i}', {json.dumps(view.figure['data'])}, "
                    f"{json.dumps(view.figure['layout'])}, {{responsive: true}});</script>")
        parts.append(f"<article data-key='{view.key}'><h3>{view.title}</h3><p>{view.note}</p>{body}</article>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<script>{plotly.offline.get_plotlyjs()}</script></head><body style='margin:8px'>{''.join(parts)}"
            f"</body></html>")
    path = folder / "views.html"
    path.write_text(page)
    return path, views


def test_every_view_draws_at_phone_width_without_an_error(page, page_log, views_page):
    path, views = views_page
    set_width(page, 420)
    open_file(page, path)
    keys = {v.key for v in views}
    assert {"samples", "watch_ratio", "watch_grad", "watch_units", "watch_dead", "watch_layers", "filters", "worst",
            "class_recall", "vault"} <= keys
    assert page.locator("article[data-key='watch_layers'] tr").count() >= 3  # the header and a row per weight layer
    figures = sum(v.figure is not None for v in views)
    assert page.locator(".js-plotly-plot:has(svg.main-svg)").count() == figures
    images = page.locator("article img")
    assert images.count() == 16 + 1 + 12  # samples, the filter grid, the worst rows
    assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert_no_horizontal_overflow(page)
    assert page_log.errors == [] and page_log.blocked == []


def test_tooltips_name_the_layer_and_the_class(page, views_page):
    path, _ = views_page
    open_file(page, path)
    ratio = page.locator("article[data-key='watch_ratio'] .scatterlayer .point")
    assert "step" in hover_text(page, ratio) and "weight" in hover_text(page, ratio)
    recall = page.locator("article[data-key='class_recall'] .bars .point")
    tip = hover_text(page, recall)
    assert "class 0" in tip and "recall" in tip and "test rows" in tip
