"""report.html in Chromium: it loads offline without a console error, unpacks its plotly.js and
draws every figure, nothing sticks out at 420 px, legends never cover an axis title, and every
tooltip names its trial — on a page the size of the default run and on a tiny real run."""

from __future__ import annotations

import re

import pytest

from browser_support import assert_no_horizontal_overflow, hover_text, open_file, set_width
from knobs.report import render_report
from test_report_page import default_run

# The smallest run the suite makes (tests/test_builder.py): two trials of two epochs, a few seconds.
TINY = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 8, "high": 16, "type": "int"},
                         "optimizer": "adam"}}

_READY = "() => document.documentElement.dataset.plots"


@pytest.fixture(scope="module")
def default_page(tmp_path_factory):
    """report.html of a run the size of the default one (40 trials of 60 epochs, 10 classes)."""
    run = default_run()
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(run.summary, run.trials), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    from knobs.config import load_config
    from knobs.pipeline import Display, run

    runs = tmp_path_factory.mktemp("runs")
    result = run(load_config(None, {**TINY, "runs_dir": str(runs), "name": "browser"}), display=Display(quiet=True))
    return result.path / "report.html"


def _open(page, path, width: int = 1280):
    set_width(page, width)
    open_file(page, path)
    assert page.wait_for_function(_READY, timeout=60_000).json_value() == "ready"
    return page


def _plot(page, key: str):
    return page.locator(f'[id="view-{key}"] .js-plotly-plot')


def _all_drawn(page) -> None:
    boxes = page.locator(".plot[data-figure]")
    assert boxes.count() > 0
    assert page.locator(".plot[data-figure].js-plotly-plot:has(svg.main-svg)").count() == boxes.count()


def test_the_default_sized_report_draws_every_figure_offline_without_an_error(page, page_log, default_page):
    _open(page, default_page)
    _all_drawn(page)
    # best and all curves, history, 6 slices, confusion; importance, parallel coordinates, contour; recall per class
    assert page.locator(".plot[data-figure]").count() == 14
    assert page_log.blocked == [] and page_log.errors == []
    assert all(url.startswith(("file://", "data:", "blob:")) for url in page_log.requests), page_log.requests


@pytest.mark.parametrize("width", [420, 1280])
def test_nothing_sticks_out_and_legends_cover_no_title(page, default_page, width):
    _open(page, default_page, width)
    assert_no_horizontal_overflow(page)
    overlaps = page.evaluate("""() => {
      const boxes = (root, sel) => [...root.querySelectorAll(sel)].map(e => e.getBoundingClientRect())
          .filter(r => r.width > 0 && r.height > 0);
      const meet = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
      const found = [];
      for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const legends = boxes(plot, '.legend .bg');
        const titles = boxes(plot, '.g-xtitle text, .g-ytitle text, .g-y2title text, .g-y3title text, .annotation');
        for (const l of legends) for (const t of titles) if (meet(l, t)) found.push(plot.closest('.view').id);
        const shown = plot.getBoundingClientRect(), svg = plot.querySelector('svg.main-svg').getBoundingClientRect();
        if (svg.right > shown.right + 1) found.push(plot.closest('.view').id + ' wider than its box');
      }
      return found;
    }""")
    assert overlaps == []


def test_tooltips_name_the_trial(page, default_page):
    _open(page, default_page)
    assert re.search(r"^trial #\d+ \(complete\)$", hover_text(page, _plot(page, "history").locator(".point")), re.M)
    for name in ("lr", "depth", "optimizer"):
        tip = hover_text(page, _plot(page, f"slice:{name}").locator(".point"))
        assert re.search(r"^trial #\d+$", tip, re.M) and name in tip, tip
    assert "predicted" in hover_text(page, _plot(page, "confusion").locator(".nsewdrag"))


def test_one_legend_click_shows_the_training_loss_of_every_trial(page, default_page):
    _open(page, default_page)
    curves = _plot(page, "curves")
    visible = """(plot) => plot.data.filter(t => t.legendgroup === 'training loss, every trial')
                                      .map(t => t.visible === undefined ? true : t.visible)"""
    assert set(curves.evaluate(visible)) == {"legendonly"}
    curves.locator(".legend .traces", has_text="training loss, every trial").locator(".legendtoggle").click()
    page.wait_for_function(f"(plot) => ({visible})(plot).every(v => v === true)", arg=curves.element_handle())
    shown = curves.evaluate(visible)
    assert len(shown) == 39 and set(shown) == {True}  # every trial but the best, whose curves are always on


def test_without_decompression_stream_the_boxes_say_why_and_the_tables_remain(page, page_log, default_page):
    page.add_init_script("delete window.DecompressionStream;")
    set_width(page, 1280)
    open_file(page, default_page)
    assert page.wait_for_function(_READY).json_value() == "failed"
    assert "DecompressionStream" in page.locator('[id="view-history"] .plot').inner_text()
    assert "95% CI" in page.locator('[id="view-test_metrics"]').inner_text()


@pytest.mark.slow
def test_a_real_run_s_report_loads_offline_and_names_trials(page, page_log, tiny_report):
    _open(page, tiny_report, 420)
    _all_drawn(page)
    assert_no_horizontal_overflow(page)
    assert page_log.blocked == [] and page_log.errors == []
    tip = hover_text(page, _plot(page, "history").locator(".scatterlayer .point"))
    assert re.search(r"^trial #[01] \(complete\)$", tip, re.M), tip
    assert "lr" in tip and "width" in tip  # the trial's configuration
