"""Size and load time of report.html in headless Chromium (issue 16: small enough to mail).

Usage:
    # (re)write a finished run's report.html with the knobs on PYTHONPATH:
    .venv/bin/python bench/report_page.py render runs/<name> /tmp/report.html
    # measure pages: bytes, and the time from navigation until every figure is drawn
    .venv/bin/python bench/report_page.py measure /tmp/before.html /tmp/after.html [--repeats 5]

Load time: a fresh page per repeat (the pages interleaved), timed in the page (``performance.now()``) from navigation
start until every figure box holds a drawn plotly SVG; median over the repeats (for pages that unpack
their plotly.js, also the time at which it was unpacked and run: the page's ``knobs:unpacked`` mark). Needs Chromium
(``/usr/bin/chromium`` or $CHROMIUM) and the playwright package. Prints a table; the last line is
one JSON object; writes bench/results/report_page.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "report_page.json"

# Figure boxes: report.html before issue 16 (plotly's own divs) and after (the views' .plot boxes).
_DRAWN = """() => {
  const boxes = document.querySelectorAll('.plot[data-figure], .plotly-graph-div');
  const drawn = document.querySelectorAll('.js-plotly-plot .main-svg').length;
  return boxes.length > 0 && drawn >= boxes.length ? performance.now() : null;
}"""


def render(run_dir: Path, out: Path) -> None:
    from knobs.report import write_report
    from knobs.study import Study

    summary = json.loads((run_dir / "summary.json").read_text())
    study = Study.load(f"sqlite:///{(run_dir / 'study.db').resolve()}")
    started = time.perf_counter()
    write_report(out, summary=summary, trials=study.trials, events_path=run_dir / "events.jsonl")
    print(f"{out}: {out.stat().st_size} bytes, rendered in {time.perf_counter() - started:.2f} s")


def measure(pages: list[Path], repeats: int, width: int) -> list[dict]:
    from playwright.sync_api import sync_playwright

    times = {page: [] for page in pages}
    unpacked = {page: [] for page in pages}
    errors = {page: [] for page in pages}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                                    args=["--no-sandbox"])
        for _ in range(repeats):
            for page_path in pages:  # interleaved: a change in the machine's load hits every page alike
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.on("pageerror", lambda e, page_path=page_path: errors[page_path].append(str(e)))
                page.goto(page_path.resolve().as_uri())
                handle = page.wait_for_function(_DRAWN, timeout=60_000, polling=20)
                times[page_path].append(handle.json_value() / 1000)
                marks = page.evaluate("Object.fromEntries(performance.getEntriesByType('mark')"
                                      ".map(m => [m.name, m.startTime / 1000]))")
                if "knobs:unpacked" in marks:
                    unpacked[page_path].append(marks["knobs:unpacked"])
                page.close()
        browser.close()
    rows = []
    for page_path in pages:
        rows.append({"page": str(page_path), "bytes": page_path.stat().st_size, "width": width,
                     "load_seconds_median": round(statistics.median(times[page_path]), 3),
                     "load_seconds": [round(t, 3) for t in times[page_path]],
                     "plotly_unpacked_seconds_median": (round(statistics.median(unpacked[page_path]), 3)
                                                        if unpacked[page_path] else None),
                     "page_errors": errors[page_path]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render")
    r.add_argument("run_dir", type=Path)
    r.add_argument("out", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("pages", type=Path, nargs="+")
    m.add_argument("--repeats", type=int, default=5)
    m.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    if args.command == "render":
        render(args.run_dir, args.out)
        return
    rows = measure(args.pages, args.repeats, args.width)
    print(f"{'page':<40} {'MB':>6} {'load s (median)':>16}")
    for row in rows:
        print(f"{row['page'][-40:]:<40} {row['bytes'] / 2**20:>6.2f} {row['load_seconds_median']:>16.2f}")
    result = {"benchmark": "report.html size and load time (headless Chromium)", "cpus": os.cpu_count(),
              "repeats": args.repeats, "pages": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
