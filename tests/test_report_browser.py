"""report.html of a tiny run, opened in Chromium: it loads without an error and offline, every plotly
figure is drawn, and hovering a point of the search history names its trial."""

import re

import pytest

from browser_support import hover_text, open_file, plotly_plot
from knobs.config import load_config
from knobs.pipeline import Display, run

pytestmark = pytest.mark.slow

# The smallest run the suite makes (tests/test_builder.py): two trials of two epochs, a few seconds.
TINY = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 8, "high": 16, "type": "int"},
                         "optimizer": "adam"}}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = run(load_config(None, {**TINY, "runs_dir": str(runs), "name": "browser"}), display=Display(quiet=True))
    return result.path / "report.html"


@pytest.fixture
def opened(page, report):
    return open_file(page, report)


def test_the_report_loads_offline_without_an_error(opened, page_log):
    assert page_log.blocked == []
    assert page_log.requests and all(url.startswith("file://") for url in page_log.requests), page_log.requests
    assert page_log.errors == []  # and the fixture fails the test on any at teardown


def test_every_plotly_figure_is_drawn(opened):
    plots = opened.locator(".js-plotly-plot")
    assert plots.count() >= 4  # best curves, history, all curves, parameter effects (+ confusion)
    drawn = opened.locator(".js-plotly-plot:has(svg.main-svg)")
    assert drawn.count() == plots.count()
    assert plotly_plot(opened, "Search history").count() == 1


def test_hovering_the_search_history_names_a_trial(opened):
    tip = hover_text(opened, plotly_plot(opened, "Search history").locator(".scatterlayer .point"))
    assert re.search(r"^trial [01]$", tip, re.M), tip
    assert "lr" in tip and "width" in tip  # the trial's configuration
