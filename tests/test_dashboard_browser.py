"""knobs dashboard in a real browser (Chromium through Playwright, tests/browser_support.py): every
view loads with no console error, a live epoch arrives, tooltips name trials, nothing overflows at
420 px. The server runs in a thread on a free port over a runs folder written like knobs run's."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from browser_support import assert_no_horizontal_overflow, hover_text, screenshot, set_width
from dashboard_runs import append_epoch, write_run
from knobs.dashboard import Server

PAGES = ["#/", "#/run/done", "#/run/working", "#/run/damaged", "#/compare/done/seed1", "#/groups"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("dashboard") / "runs"
    root.mkdir()
    write_run(root, "done", n_complete=8, pruned=2, failed=1)
    write_run(root, "seed1", n_complete=5, seed=1)
    write_run(root, "working", n_complete=3, running=1, summary=False, seed=2)
    damaged = write_run(root, "damaged", n_complete=2)
    (damaged / "study.db").write_bytes(b"not a database" * 64)
    for name in ("study.db-wal", "study.db-shm"):
        (damaged / name).unlink(missing_ok=True)
    with open(damaged / "events.jsonl", "a") as handle:
        handle.write('{"time": 1, "event": "ep')
    running = Server(root, port=0).start()
    running.root = root
    yield running
    running.stop()


def _open(page, server: Server, hash_: str) -> None:
    page.goto(f"http://127.0.0.1:{server.port}/{hash_}")
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
    if hash_.startswith("#/run/"):
        page.wait_for_function("document.body.dataset.viewsLoaded === '1'", timeout=30_000)


@pytest.mark.parametrize("hash_", PAGES)
def test_every_view_loads_with_no_console_error(page, server: Server, hash_: str):
    _open(page, server, hash_)
    cards = page.locator("section.view")
    if hash_ not in ("#/", "#/run/damaged"):  # (the damaged run has no trials to draw)
        assert cards.count() >= 1
    for i in range(cards.count()):  # each view drew its figure or its fragment
        card = cards.nth(i)
        assert card.locator(".js-plotly-plot .main-svg").count() + card.locator(".view-html").count() >= 1, \
            card.get_attribute("data-key")
    if hash_ == "#/run/done":
        screenshot(page, "dashboard-1280", full_page=True)  # (only with KNOBS_SCREENSHOTS=1: docs/img, the README)
    # (the page fixture fails the test on any console or page error)


def test_a_run_with_a_damaged_study_says_so_and_shows_the_rest(page, server: Server):
    _open(page, server, "#/run/damaged")
    problems = page.locator("#run-problems").inner_text()
    assert "study.db cannot be read as a knobs study" in problems and "last line is incomplete" in problems
    assert "test accuracy" in page.locator("#run-facts").inner_text()


def test_a_new_epoch_appears_in_the_page_within_two_seconds(page, server: Server):
    _open(page, server, "#/run/working")
    page.wait_for_timeout(600)  # the stream is open and has looked once
    sent = time.perf_counter()
    append_epoch(server.root / "working", trial=3, epoch=2, train_loss=0.9, val_loss=0.8, lr=0.003)
    page.wait_for_function("document.body.dataset.lastEpoch === '3:2'", timeout=2_000)
    assert time.perf_counter() - sent < 2.0
    assert "trial #3 epoch 2" in page.locator("#ticker").inner_text()
    last_x = page.evaluate("""() => { const div = document.querySelector('[data-key="dash:curves"] .figure');
        const trace = div.data.find(t => t.meta && t.meta.trial === 3 && t.meta.key === 'val_loss');
        return trace.x[trace.x.length - 1]; }""")
    assert last_x == 2  # the running trial's line grew in place
    append_epoch(server.root / "working", trial=3, epoch=2, train_loss=0.9, val_loss=0.8, lr=0.003)  # sent again
    append_epoch(server.root / "working", trial=3, epoch=3, train_loss=0.8, val_loss=0.7, lr=0.003)
    page.wait_for_function("document.body.dataset.lastEpoch === '3:3'", timeout=2_000)
    xs = page.evaluate("""() => { const div = document.querySelector('[data-key="dash:curves"] .figure');
        return Array.from(div.data.find(t => t.meta && t.meta.trial === 3 && t.meta.key === 'val_loss').x); }""")
    assert xs.count(2) == 1 and xs[-2:] == [2, 3]  # an epoch the figure holds is not drawn twice


def test_tooltips_name_trials(page, server: Server):
    _open(page, server, "#/run/done")
    history = page.locator('[data-key="dash:history"] .scatterlayer .point')
    assert "trial #" in hover_text(page, history)
    curves = page.locator('[data-key="dash:curves"] .scatterlayer .trace:last-child path.js-line')
    assert curves.count() > 0
    table = page.locator("#trials tbody tr").first.inner_text()
    assert table.startswith("#0")


def test_the_trials_table_sorts_and_filters_in_the_page(page, server: Server):
    _open(page, server, "#/run/done")
    page.locator("#trials th", has_text="value").click()
    page.wait_for_function("document.querySelector('#trials th.sortable:nth-child(3)').textContent.includes('▲')")
    assert page.locator("#trials tbody tr").first.inner_text().startswith("#7")  # the lowest value
    page.locator("#trials-controls input[type=search]").fill("Diverged")
    page.wait_for_function("document.querySelectorAll('#trials tbody tr').length === 1")
    page.locator("#trials tbody details summary").click()
    assert "Traceback" in page.locator("#trials tbody pre.traceback").inner_text()


@pytest.mark.parametrize("hash_", PAGES)
def test_nothing_overflows_at_420_px(page, server: Server, hash_: str):
    set_width(page, 420)
    _open(page, server, hash_)
    assert_no_horizontal_overflow(page)
    if hash_ == "#/run/working":
        screenshot(page, "dashboard-420")




def test_the_reports_search_views_show_in_the_page_once_wired_with_no_dashboard_change(page, tmp_path, monkeypatch):
    from knobs.report import _run_views, _search_views

    monkeypatch.setattr(_run_views, "PRODUCERS", [*_run_views.PRODUCERS, _search_views.views])
    root = tmp_path / "runs"
    write_run(root, "searched", n_complete=12, pruned=2, failed=1)
    server = Server(root, port=0).start()
    try:
        _open(page, server, "#/run/searched")
        keys = page.evaluate("() => [...document.querySelectorAll('#report-views section.view')].map(s => s.dataset.key)")
        assert "findings" in keys and "timeline" not in keys and "trials" not in keys  # (drawn by the dashboard)
        set_width(page, 420)  # a window made narrow after the page is drawn: the figures follow it
        page.wait_for_timeout(1000)
        assert_no_horizontal_overflow(page)
    finally:
        page.goto("about:blank")  # the page lets go of its stream before the server stops
        server.stop()


def test_the_window_is_drawn_first_and_the_figures_below_it_after(page, server: Server):
    page.set_viewport_size({"width": 1280, "height": 500})  # the trials table fills it: every figure is below
    _open(page, server, "#/run/done")
    marks = dict(page.evaluate("() => performance.getEntriesByType('mark').map(m => [m.name, m.startTime])"))
    drawn = {name.split(" ", 1)[1]: at for name, at in marks.items() if name.startswith("knobs:drawn ")}
    assert {"dash:history", "dash:curves", "dash:timeline"} <= set(drawn) and len(drawn) > 3
    assert marks["knobs:table"] <= marks["knobs:shown"] <= min(drawn.values())  # shown before any figure below
    own = [drawn[k] for k in ("dash:history", "dash:curves", "dash:timeline")]
    assert own == sorted(own) and max(own) <= min(at for k, at in drawn.items() if not k.startswith("dash:"))
    assert page.locator("section.view .figure:not(.js-plotly-plot)").count() == 0  # every figure drawn at the end


def test_the_page_asks_for_its_data_before_plotly_runs_and_downloads_plotly_once(page, server: Server):
    # the page's script arriving after plotly.js (a busy server) used to let plotly run first
    page.route("**/static/app.js", lambda route: (time.sleep(0.5), route.continue_()))
    _open(page, server, "#/run/done")
    marks = dict(page.evaluate("() => performance.getEntriesByType('mark').map(m => [m.name, m.startTime])"))
    asked = page.evaluate("""() => performance.getEntriesByType('resource')
        .filter(r => r.name.includes('/api/runs/done')).map(r => r.startTime)""")
    plotly = page.evaluate("() => performance.getEntriesByType('resource').filter(r => r.name.endsWith('/plotly.min.js')).length")
    # NOTE: plotly.js compiling (seconds on a busy machine) must not hold back the requests: they go first
    assert len(asked) >= 3 and max(asked[:3]) < marks["knobs:plotly"]
    assert plotly == 1  # (preloaded by index.html, run from that download)


@pytest.mark.parametrize("hash_", ["#/run/done", "#/compare/done/seed1"])
def test_no_two_elements_of_the_page_share_an_id(page, server: Server, hash_: str):
    _open(page, server, hash_)
    ids = page.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")
    assert len(ids) > 5 and sorted(i for i in set(ids) if ids.count(i) > 1) == []
