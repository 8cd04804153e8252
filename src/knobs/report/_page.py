"""report.html: the run's views (the ones `knobs dashboard` shows) on one self-contained page.

Why one file with plotly.js inside: a run directory is copied, mailed and opened offline; a
report that needs a CDN shows nothing on a machine without internet. Why it stays small: the
partial plotly.js bundle travels gzipped and base64-encoded (``_bundle``) and the page unpacks
it with the browser's ``DecompressionStream``; the figures' shared template is written once.
Tables and notes are plain HTML, so they read even where the charts cannot be drawn.

Layout: sections in ``SECTIONS`` order, each a grid of view boxes that wraps to one column on a
phone (420 px); a figure fills its box (``responsive``), a wide table scrolls inside its box.
"""

from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

from knobs.report._bundle import BUNDLE_VERSION, bundle_base64
from knobs.report._run_views import run_views
from knobs.report._search_views import sorter_js
from knobs.report._views import SECTIONS, RunRecord, View
from knobs.trial import FrozenTrial

__all__ = ["write_report", "render_report", "render_views", "read_events"]

_SECTION_TITLES = {"summary": "Summary", "search": "Search", "training": "Training", "diagnosis": "Diagnosis",
                   "data": "Data", "test": "Test split (the vault, opened once)", "ensemble": "Ensemble"}
# Figure views that read better across the page; html views are wide unless named here.
_WIDE_FIGURES = frozenset({"history", "parallel", "timeline"})
_NARROW_HTML = frozenset({"best_trial", "test_metrics"})

_CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f7fafc;color:#1a202c;
line-height:1.4;overflow-wrap:break-word}
header{background:#1a365d;color:#fff;padding:14px 16px}
header h1{margin:0;font-size:clamp(18px,4.5vw,22px);overflow-wrap:anywhere}
header p{margin:4px 0 0;opacity:.85;overflow-wrap:anywhere}
main{padding:10px 12px 24px;max-width:1300px;margin:0 auto}
.part>h2{font-size:18px;margin:18px 2px 8px;color:#1a365d}
.grid{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(min(100%,460px),1fr))}
.view{background:#fff;border-radius:8px;padding:10px 12px;box-shadow:0 1px 3px rgba(0,0,0,.12);min-width:0}
.view.wide{grid-column:1/-1}
.view h3{margin:0 0 4px;font-size:15px;overflow-wrap:anywhere}
.note{margin:0 0 6px;color:#4a5568;font-size:13px}
.view p:not(.note),.view li{font-size:14px}
.plot{width:100%;min-width:0}
.noplot{display:flex;align-items:center;justify-content:center;color:#718096;font-size:13px;text-align:center}
.scroll{overflow-x:auto;max-width:100%}
.cards{display:flex;gap:10px;flex-wrap:wrap}
figure{min-width:0}figure figcaption{white-space:nowrap}figure:has(figcaption){width:auto!important}
.card{background:#f7fafc;border-radius:8px;padding:8px 12px;flex:1 1 150px;min-width:0}
.card .v{font-size:24px;font-weight:600}.card .v small{display:block;font-size:12px;font-weight:400;color:#4a5568}
.card .k{font-size:12px;color:#4a5568;text-transform:uppercase}
table{border-collapse:collapse;font-size:14px;margin:4px 0}
td,th{padding:4px 10px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
code{overflow-wrap:anywhere}
.pass{color:#2f855a;font-weight:600}.fail{color:#c53030;font-weight:600}.warn{color:#b7791f;font-weight:600}
.info{color:#2b6cb0;font-weight:600}th[data-type]{cursor:pointer}
footer{color:#718096;font-size:12px;padding:0 14px 20px;max-width:1300px;margin:0 auto}
"""

# Unpacks the gzipped plotly.js, then draws every figure into its box. Plain ES2017, no imports.
_LOADER = """
(function () {
  var plots = document.querySelectorAll('.plot[data-figure]');
  function say(text) {
    plots.forEach(function (div) { div.textContent = text; div.classList.add('noplot'); });
    document.documentElement.dataset.plots = 'failed';
  }
  var packed = document.getElementById('knobs-plotly');
  if (!plots.length || !packed) { document.documentElement.dataset.plots = 'ready'; return; }
  if (typeof DecompressionStream === 'undefined') {
    say('This browser cannot unpack the charts (it needs DecompressionStream: Chrome 80, Firefox 113, ' +
        'Safari 16.4 or later). The tables are complete.');
    return;
  }
  var figures = JSON.parse(document.getElementById('knobs-figures').textContent);
  var text = atob(packed.textContent.trim()), bytes = new Uint8Array(text.length);
  for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(function (code) {
    var script = document.createElement('script');
    script.textContent = code;
    document.head.appendChild(script);
    performance.mark('knobs:unpacked');
    plots.forEach(function (div) {
      var figure = figures.figures[Number(div.dataset.figure)], layout = figure.layout;
      if (layout.template && layout.template.shared !== undefined) layout.template = figures.templates[layout.template.shared];
      window.Plotly.newPlot(div, figure.data, layout, {responsive: true, displaylogo: false});
    });
    performance.mark('knobs:drawn');
    document.documentElement.dataset.plots = 'ready';
  }).catch(function (error) { say('The charts could not be drawn: ' + error); });
})();
"""


def write_report(path: str | Path, *, summary: dict, trials: Sequence[FrozenTrial], events_path: Any = None) -> Path:
    """Render the report of the run in ``path``'s directory and write it atomically to ``path``."""
    path = Path(path)
    events = read_events(Path(events_path)) if events_path else ()
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_report(summary, trials, path=path.parent, events=events), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_events(path: Path) -> list[dict]:
    """events.jsonl's records; a line that is not JSON (a run killed mid-write) is skipped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def render_report(summary: dict, trials: Sequence[FrozenTrial], *, path: Path | None = None,
                  events: Sequence[dict] = ()) -> str:
    """The whole page as one HTML string: ``run_views`` of the run, rendered."""
    run = RunRecord(summary=summary, trials=trials, path=path, events=events)
    return render_views(run_views(run), summary)


def render_views(views: Sequence[View], summary: dict) -> str:
    """A page of ``views`` under the run's header."""
    figures: list[dict] = []
    templates: list[Any] = []
    by_section: dict[str, list[str]] = {}
    ids: set[str] = set()
    for view in views:
        by_section.setdefault(view.section, []).append(_view_html(view, figures, templates, _unique(view.key, ids)))
    order = [s for s in SECTIONS if s in by_section] + [s for s in by_section if s not in SECTIONS]
    parts = "".join(f'<section class="part" id="section-{html.escape(s)}"><h2>{html.escape(_SECTION_TITLES.get(s, s))}'
                    f'</h2><div class="grid">{"".join(by_section[s])}</div></section>' for s in order)
    name = html.escape(str(summary.get("name", "run")))
    scripts = f"<script>{sorter_js()}</script>" if any("data-sortable" in (v.html or "") for v in views) else ""
    if figures:
        payload = _script_json({"templates": templates, "figures": figures})
        scripts += (f'<script type="application/json" id="knobs-figures">{payload}</script>'
                   f'<script type="application/octet-stream" id="knobs-plotly">{bundle_base64()}</script>'
                   f"<script>{_LOADER}</script>")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>knobs — {name}</title><style>{_CSS}</style></head><body>"
            f"<header><h1>knobs run · {name}</h1><p>{_subtitle(summary)}</p></header>"
            f"<main>{parts}</main>"
            f"<footer>Charts: plotly.js {BUNDLE_VERSION} (cartesian bundle, MIT licence), embedded.</footer>"
            f"{scripts}</body></html>")


def _unique(key: str, taken: set[str]) -> str:
    """The page id of a view: ``view-KEY``, ``view-KEY-2`` for a second view of that key (two
    producers may share one: the page's ids must not — a link or a script finds the first only)."""
    name, n = f"view-{key}", 1
    while name in taken:
        n += 1
        name = f"view-{key}-{n}"
    taken.add(name)
    return name


def _view_html(view: View, figures: list[dict], templates: list[Any], element_id: str) -> str:
    wide = (view.key in _WIDE_FIGURES) if view.figure is not None else (view.key not in _NARROW_HTML)
    note = f'<p class="note">{html.escape(view.note)}</p>' if view.note else ""
    body = view.html or ""
    if view.figure is not None:
        figure, caption = _without_title(view.figure, view.title)
        note = (f'<p class="note">{html.escape(caption)}</p>' if caption else "") + note
        figure = _share_template(figure, templates)
        height = int((figure.get("layout") or {}).get("height") or 400)
        body += (f'<div class="plot" data-figure="{len(figures)}" style="height:{height}px" '
                 f'aria-label="{html.escape(view.title)}"></div>')
        figures.append(figure)
    return (f'<article class="view{" wide" if wide else ""}" id="{html.escape(element_id)}">'
            f"<h3>{html.escape(view.title)}</h3>{note}{body}</article>")


def _without_title(figure: dict, heading: str) -> tuple[dict, str | None]:
    """The figure without its plotly title, and that title when it says more than the heading.

    Why: a plotly title is one line of SVG, cut off on a phone; the page's heading wraps. A title
    that adds something ("Importance (PED-ANOVA, 40 trials)") becomes a caption under it."""
    layout = figure.get("layout") or {}
    title = layout.get("title")
    text = title.get("text") if isinstance(title, dict) else title
    if not title:
        return figure, None
    layout = {k: v for k, v in layout.items() if k != "title"}
    return {**figure, "layout": layout}, (str(text) if text and str(text) != heading else None)


def _share_template(figure: dict, templates: list[Any]) -> dict:
    """The figure with its template (about 10 kB, the same in every figure) replaced by a reference."""
    layout = dict(figure.get("layout") or {})
    template = layout.get("template")
    if template is None:
        return figure
    if template not in templates:
        templates.append(template)
    layout["template"] = {"shared": templates.index(template)}
    return {**figure, "layout": layout}


def _script_json(value: Any) -> str:
    # NOTE: "<" escaped so a string from the run (a column named "</script>") cannot end the block;
    # NaN and infinities (a diverged trial's loss) become null, which JSON.parse accepts.
    return json.dumps(_finite_json(value), separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _finite_json(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_json(v) for v in value]
    return value


def _subtitle(summary: dict) -> str:
    search = summary.get("search") or {}
    parts = [str((summary.get("data") or {}).get("source", "")),
             f"{summary.get('n_trials', 0)} trials" if "n_trials" in summary else "",
             f"sampler {search['sampler']}" if search.get("sampler") else "",
             f"pruner {search['pruner']}" if search.get("pruner") else ""]
    return html.escape(" · ".join(p for p in parts if p))
