"""Web pages of knobs (report.html, the dashboard) checked in a real browser: Debian's Chromium
driven by Playwright's Python package.

Why the system Chromium and not `playwright install`: the machines that run the tests reach
package registries only; Debian's ``chromium`` is one `apt-get install` away (`make system` does it
as root) and Playwright launches it through ``executable_path``.

Tests take the ``page`` fixture (a fresh headless page, 1280 x 800, in one browser shared by the
test module) and ``page_log`` (what that page did). Without Chromium or Playwright they are skipped
with the reason — unless KNOBS_REQUIRE_BROWSER=1 (CI), where they fail instead. KNOBS_CHROMIUM
names the browser to use (a missing path hides an installed one, as on a fresh machine).

Every console error and uncaught page error fails the test at teardown (``page_log.allow(regex)``
for one a test expects), and every request that leaves the machine is aborted and recorded in
``page_log.blocked``: pages of knobs work offline, and a test never reaches the network.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = ROOT / "docs" / "img"
VIEWPORT = {"width": 1280, "height": 800}
# The schemes a page may load from, and the hosts (a local dashboard) it may reach.
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_NAMES = ("chromium", "chromium-browser")

__all__ = ["PageLog", "chromium_path", "browser_missing", "require_browser", "launch", "open_file", "set_width",
           "assert_no_horizontal_overflow", "overflowing_elements", "hover_text", "plotly_plot", "screenshot",
           "chromium", "page_log", "page"]


def chromium_path() -> str | None:
    """The Chromium to drive: $KNOBS_CHROMIUM when set (even when it does not exist), else the
    first of ``chromium`` / ``chromium-browser`` on PATH."""
    named = os.environ.get("KNOBS_CHROMIUM")
    if named is not None:
        return named if Path(named).is_file() else None
    return next((found for name in _NAMES if (found := shutil.which(name))), None)


def browser_missing() -> str | None:
    """Why no browser test can run here, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Playwright (pip install -e '.[dev]')"
    if chromium_path() is None:
        where = os.environ.get("KNOBS_CHROMIUM") or "chromium on PATH"
        return f"no Chromium ({where} not found; `make system` as root runs apt-get install chromium)"
    return None


def require_browser() -> None:
    """Skip the calling test without a browser — fail it instead under KNOBS_REQUIRE_BROWSER=1 (CI)."""
    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("KNOBS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{missing}; KNOBS_REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip(f"no browser: {missing}")


def launch(playwright) -> "Browser":
    """Headless Chromium from ``chromium_path()``. Why ``--no-sandbox`` as root: Chromium refuses to
    start its sandbox as root, and root is what CI containers run as."""
    args = ["--disable-dev-shm-usage"] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)


@dataclass
class PageLog:
    """What one page did: its console errors and uncaught exceptions (``errors``), every URL it
    requested (``requests``) and those aborted for leaving the machine (``blocked``)."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        """Let errors matching ``pattern`` (a regex, searched) pass teardown: for a test that expects one."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]

    def watch(self, page: "Page") -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("request", lambda r: self.requests.append(r.url))
        page.route("**/*", self._local_only)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text}")

    def _local_only(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


# --- fixtures (tests/conftest.py imports them) -------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator["Browser"]:
    """One headless Chromium per test module (a launch costs a second or two); skipped, or failed
    under KNOBS_REQUIRE_BROWSER=1, where there is none.

    Why per module and not per session: while Playwright's sync API runs, its event loop counts as
    the thread's running loop, so every ``asyncio.run`` after it — in any later test file — fails.
    Closing it with the module confines that to the browser tests' own file."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def page_log() -> PageLog:
    """What the test's ``page`` did; ``page_log.allow(regex)`` before teardown for an expected error."""
    return PageLog()


@pytest.fixture
def page(chromium: "Browser", page_log: PageLog) -> Iterator["Page"]:
    """A fresh page (its own context: no cookies or storage shared between tests), 1280 x 800,
    offline; the test fails at teardown on any console or page error it did not allow."""
    context = chromium.new_context(viewport=VIEWPORT)
    new = context.new_page()
    page_log.watch(new)
    yield new
    context.close()
    unexpected = page_log.unexpected()
    if unexpected:
        pytest.fail(f"{len(unexpected)} error(s) in the browser:\n  " + "\n  ".join(unexpected), pytrace=False)


# --- helpers ---------------------------------------------------------------------------------

def open_file(page: "Page", path: str | Path) -> "Page":
    """Load a local HTML file and wait for its ``load`` event (scripts run, plotly figures drawn)."""
    page.goto(Path(path).resolve().as_uri(), wait_until="load")
    return page


def set_width(page: "Page", px: int) -> None:
    """Make the viewport ``px`` wide (a phone is about 420), keeping its height."""
    height = (page.viewport_size or VIEWPORT)["height"]
    page.set_viewport_size({"width": px, "height": height})


# An element counts as sticking out when its box, clipped by every ancestor that scrolls (overflow
# auto / scroll: the reader can reach what is inside), ends right of the viewport. Why not clipped
# by `hidden`: content cut off out of reach is the bug this looks for, not a pass.
_OVERFLOW_JS = """(tolerance) => {
  const width = document.documentElement.clientWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
      [...e.classList].slice(0, 3).map(c => '.' + c).join('');
  const visible = (e, r) => r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden';
  const clippedRight = (e, right) => {
    for (let a = e.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if (o === 'auto' || o === 'scroll') right = Math.min(right, a.getBoundingClientRect().right);
    }
    return right;
  };
  const out = [];
  const sticking = new Set();
  for (const e of document.body.querySelectorAll('*')) {
    const r = e.getBoundingClientRect();
    if (!visible(e, r)) continue;
    const right = clippedRight(e, r.right);
    if (right <= width + tolerance) continue;
    sticking.add(e);
    if (e.parentElement && sticking.has(e.parentElement)) continue;  // its parent names it already
    out.push(`${name(e)} (right edge ${Math.round(right)} px)`);
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: width, elements: out};
}"""


def overflowing_elements(page: "Page", tolerance: int = 1) -> dict:
    """``{"scrollWidth", "width", "elements"}``: the document's width against the viewport's, and the
    outermost visible elements that stick out to the right (``tag#id.class (right edge N px)``)."""
    return page.evaluate(_OVERFLOW_JS, tolerance)


def assert_no_horizontal_overflow(page: "Page", tolerance: int = 1) -> None:
    """Nothing makes the page scroll sideways: the document is no wider than the viewport, and no
    visible element ends right of it (unless inside a box that scrolls). The failure names them."""
    found = overflowing_elements(page, tolerance)
    problems = []
    if found["scrollWidth"] > found["width"] + tolerance:
        problems.append(f"the document is {found['scrollWidth']} px wide in a {found['width']} px viewport")
    if found["elements"]:
        shown = found["elements"][:12]
        more = len(found["elements"]) - len(shown)
        problems.append("sticking out to the right: " + ", ".join(shown) + (f" and {more} more" if more else ""))
    assert not problems, "horizontal overflow at " + str(found["width"]) + " px: " + "; ".join(problems)


def plotly_plot(page: "Page", title: str) -> "Locator":
    """The plotly figure whose title is ``title`` (the layout title plotly draws as ``.gtitle``)."""
    return page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=title))


def hover_text(page: "Page", target: "str | Locator", timeout_ms: float = 5000) -> str:
    """The tooltip plotly shows over ``target`` (a selector or locator: its first match, e.g. a
    ``.point``), its lines joined by newlines. Why the mouse and not ``locator.hover()``: plotly listens on a drag layer drawn
    over the points, so the point itself never receives the event."""
    element = page.locator(target) if isinstance(target, str) else target
    element = element.first
    element.scroll_into_view_if_needed(timeout=timeout_ms)
    box = element.bounding_box(timeout=timeout_ms)
    assert box is not None, f"{target} is not visible, so it cannot be hovered"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = page.locator(".hoverlayer .hovertext").first
    tip.wait_for(state="visible", timeout=timeout_ms)
    return tip.evaluate(_TOOLTIP_JS)


# A tooltip's text, one line per line shown (plotly draws each <br>-separated line as a tspan.line),
# then the trace's name when plotly shows it beside the box.
_TOOLTIP_JS = """(tip) => {
  const part = (el) => {
    if (!el) return [];
    const lines = [...el.querySelectorAll('tspan.line')].map(t => t.textContent);
    return lines.length ? lines : [el.textContent];
  };
  return [...part(tip.querySelector('text.nums')), ...part(tip.querySelector('text.name'))]
      .filter(line => line).join('\\n');
}"""


def screenshot(page: "Page", name: str, full_page: bool = False) -> Path | None:
    """Write ``docs/img/<name>.png`` — only when KNOBS_SCREENSHOTS=1, so tests never dirty the tree;
    the path written, else None."""
    if os.environ.get("KNOBS_SCREENSHOTS") != "1":
        return None
    path = SCREENSHOT_DIR / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
