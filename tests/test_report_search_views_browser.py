"""The search views in Chromium, inserted as the dashboard inserts them (figures through
Plotly.newPlot, fragments through innerHTML) on a host page that includes `sorter_js` once: no
console error, every figure drawn, tooltips name trials, headers sort the table, and nothing
sticks out at 420 px."""

from __future__ import annotations

import json
import re

import plotly.offline
import pytest
from test_report_search_views import run_of

from browser_support import assert_no_horizontal_overflow, hover_text, open_file, plotly_plot, set_width
from knobs.report._search_views import sorter_js, views


@pytest.fixture(scope="module")
def host_page(tmp_path_factory):
    """A bare page holding the search views of a hand-made run of 40 trials (failures included)."""
    found = [v.to_json() for v in views(run_of(40))]
    payload = json.dumps(found).replace("</", "<\\/")
    path = tmp_path_factory.mktemp("views") / "views.html"
    path.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{margin:0;padding:8px;font-family:sans-serif}} section{{margin-bottom:16px}}</style>
<script>{plotly.offline.get_plotlyjs()}</script></head><body><main id="views"></main>
<script>
const views = {payload};
const main = document.getElementById("views");
for (const view of views) {{
  const section = document.createElement("section");
  section.id = view.key;
  section.innerHTML = "<h3></h3><div class='body'></div>";
  section.querySelector("h3").textContent = view.title;
  main.appendChild(section);
  const body = section.querySelector(".body");
  if (view.figure) Plotly.newPlot(body, view.figure.data, view.figure.layout, {{responsive: true, displaylogo: false}});
  else body.innerHTML = view.html;
}}
</script><script>{sorter_js()}</script></body></html>""", encoding="utf-8")
    return path


def test_every_view_loads_without_an_error_and_every_figure_is_drawn(page, page_log, host_page):
    open_file(page, host_page)
    assert page.locator("section").count() == 6
    plots = page.locator(".js-plotly-plot")
    assert plots.count() == 4 and page.locator(".js-plotly-plot:has(svg.main-svg)").count() == 4
    assert page_log.errors == [] and page_log.blocked == []


def test_tooltips_name_the_trial(page, host_page):
    open_file(page, host_page)
    tip = hover_text(page, plotly_plot(page, "Parallel coordinates").locator(".scatterlayer .point"))
    assert re.search(r"^trial #\d+$", tip, re.M) and "lr = " in tip, tip
    tip = hover_text(page, page.locator("#timeline .bars .point path"))
    assert re.search(r"^trial #\d+: (complete|failed|pruned|running)$", tip, re.M), tip


def column(page, index):
    return page.eval_on_selector_all("table[data-sortable] tbody tr",
                                     f"rows => rows.map(r => r.cells[{index}].textContent)")


def test_clicking_a_header_sorts_the_table_numbers_as_numbers(page, host_page):
    open_file(page, host_page)
    header = page.locator("table[data-sortable] th", has_text="#").first
    header.click()
    numbers = [int(n) for n in column(page, 0)]
    assert numbers == sorted(numbers) and numbers[:11] == list(range(11))  # 10 after 9, not after 1
    header.click()
    assert [int(n) for n in column(page, 0)] == sorted(numbers, reverse=True)
    page.locator("table[data-sortable] th", has_text="val_loss").click()
    values = [v for v in column(page, 2)]
    finite = [float(v) for v in values if v != "–"]
    assert finite == sorted(finite) and values[len(finite):] == ["–", "–"]  # the failed and running trials last


def test_nothing_sticks_out_at_420_px(page, host_page):
    set_width(page, 420)
    open_file(page, host_page)
    assert_no_horizontal_overflow(page)
