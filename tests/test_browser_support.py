"""The browser fixture itself (tests/browser_support.py): the overflow check on handwritten pages,
errors in the page failing the test, requests that leave the machine blocked, screenshots only on
request, and a machine without Chromium skipping (or failing, in CI) with the reason."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import browser_support
from browser_support import assert_no_horizontal_overflow, open_file, screenshot, set_width

TESTS = Path(__file__).resolve().parent


def _html(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8">'
                    f'<meta name="viewport" content="width=device-width"><style>body{{margin:0}}</style></head>'
                    f"<body>{body}</body></html>")
    return path


def test_a_page_that_fits_passes_the_overflow_check(page, tmp_path):
    wide_table = "<table>" + "<td>column</td>" * 40 + "</table>"
    open_file(page, _html(tmp_path, f'<p>short text</p><div style="overflow-x:auto">{wide_table}</div>'))
    set_width(page, 420)
    assert page.viewport_size == {"width": 420, "height": 800}
    assert_no_horizontal_overflow(page)  # the wide table scrolls inside its own box


def test_an_overflowing_page_fails_naming_the_element(page, tmp_path):
    open_file(page, _html(tmp_path, '<p>fits</p><div id="banner" class="hero wide" style="width:900px">'
                                    '<span>inside</span></div>'))
    set_width(page, 420)
    with pytest.raises(AssertionError) as failure:
        assert_no_horizontal_overflow(page)
    message = str(failure.value)
    assert "the document is 900 px wide in a 420 px viewport" in message
    assert "div#banner.hero.wide (right edge 900 px)" in message
    assert "span" not in message and "p (" not in message  # the outermost offender only; what fits is not named
    set_width(page, 1000)
    assert_no_horizontal_overflow(page)


def test_content_cut_off_by_a_hidden_overflow_still_counts(page, tmp_path):
    open_file(page, _html(tmp_path, '<div style="overflow:hidden"><pre id="code" style="width:700px">x</pre></div>'))
    set_width(page, 420)
    with pytest.raises(AssertionError, match=r"pre#code \(right edge 700 px\)"):
        assert_no_horizontal_overflow(page)


def test_an_error_in_the_page_is_recorded_and_an_allowed_one_passes(page, page_log, tmp_path):
    open_file(page, _html(tmp_path, "<script>console.error('bad data'); throw new Error('boom');</script>"))
    assert page_log.errors == ["console error: bad data", "page error: boom"]
    page_log.allow("bad data")
    assert page_log.unexpected() == ["page error: boom"]
    page_log.allow(r"^page error: boom$")  # both expected: the teardown passes


def test_requests_that_leave_the_machine_are_blocked(page, page_log, tmp_path):
    open_file(page, _html(tmp_path, '<img src="https://example.com/logo.png"><img src="local.png">'))
    assert page_log.blocked == ["https://example.com/logo.png"]
    assert any(url.endswith("/local.png") and url.startswith("file://") for url in page_log.requests)
    page_log.allow("Failed to load resource")  # the blocked image and the missing local one


def test_screenshots_are_written_only_when_asked(page, tmp_path, monkeypatch):
    monkeypatch.setattr(browser_support, "SCREENSHOT_DIR", tmp_path / "img")
    open_file(page, _html(tmp_path, "<h1>hello</h1>"))
    monkeypatch.delenv("KNOBS_SCREENSHOTS", raising=False)
    assert screenshot(page, "hello") is None and not (tmp_path / "img").exists()
    monkeypatch.setenv("KNOBS_SCREENSHOTS", "1")
    written = screenshot(page, "hello")
    assert written == tmp_path / "img" / "hello.png" and written.read_bytes()[:4] == b"\x89PNG"


def test_a_test_taking_the_page_is_marked_browser(page, request):
    assert request.node.get_closest_marker("browser") is not None  # so -m "not browser" leaves it out


def test_a_test_without_it_is_not(request):
    assert request.node.get_closest_marker("browser") is None


# --- through pytest itself: teardown failures and a machine without Chromium -----------------------

INNER = '''
from pathlib import Path

def _open(page, tmp_path, script):
    path = tmp_path / "p.html"
    path.write_text(f"<html><body><script>{script}</script></body></html>")
    page.goto(path.as_uri())

def test_throws(page, tmp_path):
    _open(page, tmp_path, "throw new Error('unexpected boom')")

def test_throws_but_allowed(page, page_log, tmp_path):
    page_log.allow("expected boom")
    _open(page, tmp_path, "throw new Error('expected boom')")

def test_quiet(page, tmp_path):
    _open(page, tmp_path, "document.title = 'fine'")
'''


# A later test file that uses asyncio: Playwright's loop must be gone by then.
LATER = """
import asyncio

def test_asyncio_runs_after_the_browser_tests():
    async def three():
        return 3
    assert asyncio.run(three()) == 3
"""


def _inner_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """pytest on INNER and LATER with browser_support as the only plugin (no conftest, no knobs)."""
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "test_later.py").write_text(LATER)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KNOBS_CHROMIUM", "KNOBS_REQUIRE_BROWSER"))}
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "browser_support", "-p", "no:cacheprovider",
                           "-rs", "-q", "test_inner.py", "test_later.py"], cwd=tmp_path, env={**environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_an_unexpected_page_error_fails_the_test_at_teardown_and_asyncio_still_works_after(chromium, tmp_path):
    done = _inner_pytest(tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "4 passed, 1 error" in done.stdout, done.stdout[-3000:]
    assert "ERROR at teardown of test_throws" in done.stdout and "page error: unexpected boom" in done.stdout


def test_without_chromium_browser_tests_skip_with_the_reason(tmp_path):
    done = _inner_pytest(tmp_path, KNOBS_CHROMIUM=str(tmp_path / "no-chromium"))
    assert done.returncode == 0 and "1 passed, 3 skipped" in done.stdout, done.stdout[-3000:]
    assert "no browser: no Chromium" in done.stdout and "apt-get install chromium" in done.stdout


def test_ci_requiring_a_browser_fails_where_it_is_missing(tmp_path):
    done = _inner_pytest(tmp_path, KNOBS_CHROMIUM=str(tmp_path / "no-chromium"), KNOBS_REQUIRE_BROWSER="1")
    assert done.returncode == 1 and "KNOBS_REQUIRE_BROWSER=1" in done.stdout, done.stdout[-3000:]
