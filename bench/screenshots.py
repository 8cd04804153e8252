"""Screenshots of a run's report.html (or, given a URL, of a page a server shows, such as the
dashboard) at a desktop width and a phone width, for the README.

    python bench/screenshots.py runs/<name>              # docs/img/report-1280.png, report-420.png
    python bench/screenshots.py http://127.0.0.1:8000/ --name dashboard

Why a script and not a test: the PNGs are committed, so they are written on purpose, after looking
at the page, never as a side effect of `make test`. It drives the same Chromium as the browser
tests (tests/browser_support.py), offline; a console error or page error is printed, and a request
that would leave the machine is blocked and printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser_support import PageLog, browser_missing, launch  # noqa: E402

WIDTHS = (1280, 420)
# One screen and a bit: the header, the cards and the first figure, not the whole page (a full
# page of the report is several MB of PNG).
HEIGHT = 900


def page_url(target: str) -> str:
    """A URL as given; a run directory becomes its report.html, a file its file:// URL."""
    if "://" in target:
        return target
    path = Path(target)
    path = path / "report.html" if path.is_dir() else path
    if not path.is_file():
        sys.exit(f"screenshots: {path} is not a file; give a run directory (runs/<name>), its report.html or a URL")
    return path.resolve().as_uri()


def shoot(url: str, out: Path, name: str, widths=WIDTHS, height: int = HEIGHT) -> list[Path]:
    """``out/<name>-<width>.png`` per width; what went wrong in the page is printed, not fatal."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for width in widths:
            page = browser.new_page(viewport={"width": width, "height": height})
            log = PageLog()
            log.watch(page)
            page.goto(url, wait_until="load")
            # report.html unpacks plotly.js after load and then sets html[data-plots]
            page.wait_for_function("() => !document.querySelector('[data-figure]') || document.documentElement.dataset.plots",
                                   timeout=60_000)
            page.wait_for_timeout(500)  # plotly's resize after load
            path = out / f"{name}-{width}.png"
            page.screenshot(path=str(path))
            written.append(path)
            for problem in log.errors + [f"blocked request: {u}" for u in log.blocked]:
                print(f"screenshots: {width} px: {problem}", file=sys.stderr)
            page.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a run directory, a report.html, or a URL (the dashboard)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--name", default="report", help="file name prefix (default: report)")
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        sys.exit(f"screenshots: {missing}")
    written = shoot(page_url(args.target), args.out, args.name)
    for path in written:
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return written


if __name__ == "__main__":
    main()
