"""Screenshots of a run's report.html (or, given a URL, of a page a server shows, such as the
dashboard) at a desktop width and a phone width, for the README; and of each view of
``knobs dashboard`` over a runs folder, one PNG per view and width, for docs/dashboard.md.

    python bench/screenshots.py runs/<name>              # docs/img/report-1280.png, report-420.png
    python bench/screenshots.py http://127.0.0.1:8000/ --name dashboard
    python bench/screenshots.py --dashboard runs         # docs/img/dashboard/<view>-<width>.png

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


DASHBOARD_VIEWS = {
    # name: (page, what to shoot: a CSS selector of one element)
    "runs": ("#/", "main"),
    "trials": ("#/run/{run}", "#trials-card"),
    "history": ("#/run/{run}", '[data-key="dash:history"]'),
    "curves": ("#/run/{run}", '[data-key="dash:curves"]'),
    "timeline": ("#/run/{run}", '[data-key="dash:timeline"]'),
    "findings": ("#/run/{run}", '[data-key="findings"]'),
    "importance": ("#/run/{run}", '[data-key="importance"]'),
    "slice": ("#/run/{run}", '[data-key^="slice:"]'),
    "parallel": ("#/run/{run}", '[data-key="parallel"]'),
    "contour": ("#/run/{run}", '[data-key="contour"]'),
    "watch": ("#/run/{run}", '[data-key="watch_ratio"]'),
    "watch-gradients": ("#/run/{run}", '[data-key="watch_grad"]'),
    "samples": ("#/run/{run}", '[data-key="samples"]'),
    "confusion": ("#/run/{run}", '[data-key="confusion"]'),
    "worst": ("#/run/{run}", '[data-key="worst"]'),
    "ensemble": ("#/run/{run}", '[data-key="ensemble"]'),
    "vault": ("#/run/{run}", '[data-key^="vault"] >> nth=-1'),  # (the log, after the vault's paragraph if any)
    "compare": ("#/compare/{run}/{other}", "#compare-views"),
    "groups": ("#/groups", "#group-views"),
}
"""Each view of the dashboard that docs/dashboard.md shows (the report's views among them)."""


def shoot_dashboard(runs_dir: Path, out: Path, run: str | None = None, other: str | None = None,
                    widths=WIDTHS, only: set[str] | None = None) -> list[Path]:
    """``out/<view>-<width>.png`` of each of ``DASHBOARD_VIEWS`` — the element alone — on a dashboard
    served here over ``runs_dir``; ``run`` / ``other``: the runs shown and compared (default: the
    first two by name). A view the run does not have is reported and skipped."""
    from playwright.sync_api import sync_playwright

    from knobs.dashboard import Server

    server = Server(runs_dir, port=0).start()
    names = sorted(server._app.state.folder.names())
    run = run or names[0]
    other = other or next((n for n in names if n != run), run)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": HEIGHT})
                log = PageLog()
                log.watch(page)
                shown = None
                for view, (where, selector) in DASHBOARD_VIEWS.items():
                    if only and view not in only:
                        continue
                    address = where.format(run=run, other=other)
                    if address != shown:
                        page.goto("about:blank")
                        page.goto(f"http://127.0.0.1:{server.port}/{address}")
                        page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
                        if address.startswith("#/run/"):
                            page.wait_for_function("document.body.dataset.viewsLoaded === '1'", timeout=120_000)
                        page.wait_for_timeout(300)
                        shown = address
                    element = page.locator(selector).first
                    if element.count() == 0:
                        print(f"screenshots: {width} px: no {view} view ({selector}) on {address}", file=sys.stderr)
                        continue
                    element.scroll_into_view_if_needed()
                    path = out / f"{view}-{width}.png"
                    element.screenshot(path=str(path))
                    _palette(path)
                    written.append(path)
                for problem in log.errors + [f"blocked request: {u}" for u in log.blocked]:
                    print(f"screenshots: {width} px: {problem}", file=sys.stderr)
                page.close()
            browser.close()
    finally:
        server.stop()
    return written


def _palette(path: Path) -> None:
    """The PNG in 256 colours (Pillow's median cut, no dithering): a page's flat colours survive
    and the file is about a third, so a committed image per view stays small."""
    try:
        from PIL import Image
    except ImportError:  # (then the PNG stays as the browser wrote it)
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(256, dither=Image.Dither.NONE)
    small.save(path, optimize=True)


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", help="a run directory, a report.html, or a URL (the dashboard); with "
                                       "--dashboard: a runs folder")
    parser.add_argument("--out", type=Path, default=None, help="default: docs/img (--dashboard: docs/img/dashboard)")
    parser.add_argument("--name", default="report", help="file name prefix (default: report)")
    parser.add_argument("--dashboard", action="store_true", help="each view of knobs dashboard over the runs folder")
    parser.add_argument("--run", default=None, help="--dashboard: the run shown (default: the first by name)")
    parser.add_argument("--other", default=None, help="--dashboard: the run compared with it (default: the next)")
    parser.add_argument("--only", default=None, help="--dashboard: these views only, comma-separated")
    args = parser.parse_args(argv)
    missing = browser_missing()
    if missing:
        sys.exit(f"screenshots: {missing}")
    if args.dashboard:
        folder = Path(args.target)
        if not folder.is_dir():
            sys.exit(f"screenshots: {folder} is not a folder; give the runs folder (runs/)")
        written = shoot_dashboard(folder, args.out or ROOT / "docs" / "img" / "dashboard", args.run, args.other,
                                  only=set(args.only.split(",")) if args.only else None)
    else:
        written = shoot(page_url(args.target), args.out or ROOT / "docs" / "img", args.name)
    for path in written:
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return written


if __name__ == "__main__":
    main()
