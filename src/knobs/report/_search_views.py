"""Views of the search: the run's findings, parameter importance, parallel coordinates, the two
most important parameters together, the trials' timeline and a sortable trials table.

Why these: they are what optuna-dashboard and W&B sweeps show a practitioner deciding the next
search — which knobs matter (importance), where the good trials sit in the space (parallel
coordinates, contour), how the time went (timeline: durations, failures and their reasons), and
every trial to sort by any column (the table).

Every figure is drawn with ``scatter``, ``bar`` and ``heatmap`` traces only, because the report
embeds a partial plotly bundle (no ``parcoords``): parallel coordinates are lines over
normalized axes. Axes are placed by `knobs.report._importance.Axis` (log parameters in log
space, choices as positions) and labelled by `_ticks`: integers get integer ticks, log
parameters exponent labels (3e-4, 1e-2), choices their names. Tooltips name the trial.

The table is an HTML fragment (the dashboard inserts it with innerHTML, so it carries no
script): its ``<table data-sortable>`` is sorted by the one generic sorter `sorter_js` that the
page includes once; each cell carries ``data-value`` to sort numbers as numbers.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any, Iterable, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from knobs.report._findings import Finding, findings, num
from knobs.report._importance import MIN_TRIALS, Axis, axes, importances
from knobs.report._views import RunRecord, View
from knobs.trial import FrozenTrial, TrialState

__all__ = ["views", "findings_view", "importance_view", "parallel_view", "contour_view", "timeline_view",
           "table_view", "sorter_js", "some_trials", "ranked_complete", "sampled_note", "MAX_LINES", "MAX_POINTS", "MAX_ROWS"]

MAX_LINES = 300
"""Parallel coordinates draw at most this many trials (a line per trial: the best quarter of them and
an even sample of the rest, so the lines show the whole search and where its best went); the
contour's dots too. 1,000 lines of 5 points took a 10,000-trial dashboard 0.7 s to draw."""
MAX_POINTS = 500
"""A slice plot draws at most this many trials (the best quarter and an even sample of the rest)."""
MAX_ROWS = 1000
"""The trials table lists at most this many trials, best first."""
_CELLS = 40  # the contour's grid, per axis
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), height=400)
_UNDER_BAR = {**_LAYOUT, "margin": dict(l=60, r=20, t=50, b=120), "height": 480}  # (room for the colour bar below)
_STATE_COLOURS = {"complete": "#2b6cb0", "pruned": "#dd6b20", "failed": "#c53030", "running": "#718096"}
_SEVERITY_CLASS = {"error": "fail", "warning": "warn", "info": "info"}


def _colorbar(title: str) -> dict[str, Any]:
    """A colour bar under the plot, across it: beside it, it took a quarter of a 420 px figure's
    width from the axes (parallel coordinates' labels ran into each other)."""
    return dict(title=dict(text=title, side="top"), orientation="h", thickness=10, len=0.6, x=0.5, xanchor="center",
                y=-0.3, yanchor="top")


def _figure(fig: go.Figure) -> dict:
    return json.loads(fig.to_json())


def _context(run: RunRecord) -> tuple[list[Axis], str, str]:
    search, best = run.summary.get("search") or {}, run.summary.get("best_trial") or {}
    return axes(search.get("space")), search.get("direction", "minimize"), best.get("metric") or "value"


def _complete(run: RunRecord, direction: str) -> list[FrozenTrial]:
    return ranked_complete(run.trials, direction)


def ranked_complete(trials: Iterable[FrozenTrial], direction: str) -> list[FrozenTrial]:
    """The complete trials with a finite value, best first."""
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    return sorted(done, key=lambda t: t.value, reverse=direction == "maximize")


def some_trials(ranked: Sequence[FrozenTrial], limit: int) -> list[FrozenTrial]:
    """At most ``limit`` of ``ranked`` (best first), best first: the best quarter of the allowance, then
    an even sample over trial numbers of the others — a large study's figures stay light and still
    show where the search went, not only its top.

    >>> trials = [FrozenTrial(number=n, config={}, state=TrialState.COMPLETE, value=float(n)) for n in range(100)]
    >>> [t.number for t in some_trials(trials, 8)]
    [0, 1, 2, 21, 41, 60, 80, 99]
    """
    if len(ranked) <= limit:
        return list(ranked)
    best, rest = list(ranked[:limit // 4]), sorted(ranked[limit // 4:], key=lambda t: t.number)
    picks = np.unique(np.linspace(0, len(rest) - 1, limit - len(best)).round().astype(int))
    sampled = {rest[i].number for i in picks}
    return best + [t for t in ranked[limit // 4:] if t.number in sampled]


def sampled_note(shown: int, total: int) -> str:
    """The sentence a thinned figure carries."""
    return (f"{shown} of {total} trials drawn: the best {shown // 4 if shown >= 4 else shown} and an even sample of "
            "the rest" if shown < total else "")


# -- ticks -----------------------------------------------------------------------------------

def _nice(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values inside [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    if integer:
        step = max(1, round(step))
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _ticks(axis: Axis) -> tuple[list[float], list[str]]:
    """Tick positions on the axis' unit scale and their labels."""
    if axis.kind == "choice" or axis.discrete:
        levels = axis.levels
        if len(levels) > 9:
            levels = levels[::math.ceil(len(levels) / 8)]
        return [axis.position(v) for v in levels], [_label(axis, v) for v in levels]
    if axis.log:
        base = 2 if axis.kind == "int" else 10
        lo, hi = math.floor(math.log(axis.low, base) + 1e-9), math.ceil(math.log(axis.high, base) - 1e-9)
        values = [base ** k for k in range(lo, hi + 1) if axis.low * (1 - 1e-9) <= base ** k <= axis.high * (1 + 1e-9)]
        if len(values) < 2:
            values = sorted({axis.low, *values, axis.high})
        if len(values) > 8:
            values = values[::math.ceil(len(values) / 6)]
    else:
        values = _nice(axis.low, axis.high, integer=axis.kind == "int")
    return [axis.position(v) for v in values], [_label(axis, v) for v in values]


def _label(axis: Axis, value: Any) -> str:
    if axis.kind == "choice":
        return str(value)
    if axis.kind == "int":
        return str(int(round(value)))
    if axis.log:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.3g}"


def _hover(t: FrozenTrial, names: Sequence[str], metric: str) -> str:
    params = "<br>".join(f"{html.escape(n)} = {html.escape(num(t.config[n]))}" for n in names if n in t.config)
    value = "–" if t.value is None else f"{t.value:.4g}"
    return f"trial #{t.number}<br>{html.escape(metric)} = {value}<br>{params}"


# -- the views -------------------------------------------------------------------------------

def findings_view(run: RunRecord) -> Iterable[View]:
    """The run's advice: each finding's message, the action, its evidence."""
    found = findings(run)
    if not found and not run.trials:
        return
    yield View("findings", "What to change in the next run", "summary", html=findings_html(found),
               note="Computed from the trials and the final evaluation: each finding names its numbers and an action.")


def findings_html(found: Sequence[Finding]) -> str:
    """Findings as an HTML fragment (escaped; no script)."""
    if not found:
        return "<p>Nothing to change: no bound was hit, no trial was capped while improving, the best trial " \
               "neither overfit nor underfit, and the test agreed with validation.</p>"
    items = []
    for f in found:
        evidence = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_evidence(v))}</td></tr>"
                           for k, v in f.evidence.items())
        items.append(f"<li data-code='{html.escape(f.code)}'><span class='{_SEVERITY_CLASS.get(f.severity, 'info')}'>"
                     f"{html.escape(f.severity)}</span> {html.escape(f.message)}"
                     f"<br><b>→ {html.escape(f.action)}</b>"
                     f"<details><summary>evidence ({html.escape(f.code)})</summary>"
                     f"<div style='overflow-x:auto'><table>{evidence}</table></div></details></li>")
    return f"<ul class='findings'>{''.join(items)}</ul>"


def _evidence(value: Any) -> str:
    if isinstance(value, float):
        return num(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_evidence(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_evidence(v)}" for k, v in value.items())
    return str(value)


def importance_view(run: RunRecord) -> Iterable[View]:
    """PED-ANOVA importance of each parameter (`knobs.report._importance`)."""
    params, direction, metric = _context(run)
    if not params:
        return
    done = _complete(run, direction)
    imp = importances([t.config for t in done], [t.value for t in done], run.summary["search"]["space"], direction)
    title = "Parameter importance"
    if not imp:
        yield View("importance", title, "search",
                   html=f"<p>Importance needs at least {MIN_TRIALS} complete trials ({len(done)} so far).</p>")
        return
    names = list(imp)[::-1]
    fig = go.Figure(go.Bar(x=[imp[n] for n in names], y=names, orientation="h", marker_color="#2b6cb0",
                           hovertemplate="%{y}: %{x:.1%} of the importance<extra></extra>"))
    fig.update_layout(title=f"Importance (PED-ANOVA, {len(done)} trials)",
                      xaxis=dict(title="share of importance", tickformat=".0%", rangemode="tozero"),
                      yaxis=dict(title="parameter"), **{**_LAYOUT, "height": max(250, 60 + 36 * len(names))})
    yield View("importance", title, "search", figure=_figure(fig),
               note="PED-ANOVA: how far each parameter's distribution among the best 10% of trials departs from "
                    "all trials'; interactions are in the contour plot.")


def parallel_view(run: RunRecord) -> Iterable[View]:
    """A line per complete trial across normalized parameter axes, coloured by its value."""
    params, direction, metric = _context(run)
    done = _complete(run, direction)
    if not params or len(done) < 2:
        return
    shown = some_trials(done, MAX_LINES)
    values = np.array([t.value for t in shown], dtype=float)
    vmin, vmax = float(values.min()), float(values.max())
    span = (vmax - vmin) or 1.0
    xs = list(range(len(params) + 1))
    bands = min(10, len(shown))
    # NOTE: one trace per value band (lines separated by None), not one per trial: 10,000 trials
    # stay 10 traces; each point still names its trial in the tooltip.
    order = np.argsort(np.argsort(values if direction == "maximize" else -values))  # 0 = worst
    band_of = (order * bands // len(shown)).astype(int)
    colours = sample_colorscale("Viridis", [b / max(1, bands - 1) for b in range(bands)])
    names = [a.name for a in params]
    fig = go.Figure()
    for band in range(bands):
        x, y, text = [], [], []
        for t, value, b in zip(shown, values, band_of):
            if b != band:
                continue
            positions = [a.position(t.config.get(a.name)) for a in params] + [(value - vmin) / span]
            x += xs + [None]
            y += [p if math.isfinite(p) else None for p in positions] + [None]
            text += [_hover(t, names, metric)] * len(xs) + [None]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", line=dict(color=colours[band], width=1.5),
                                 marker=dict(size=4, color=colours[band]), text=text, showlegend=False,
                                 hovertemplate="%{text}<extra></extra>", connectgaps=False))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                             marker=dict(colorscale="Viridis", cmin=vmin, cmax=vmax, color=[vmin],
                                         reversescale=direction == "minimize",
                                         colorbar=_colorbar(metric))))
    annotations = []
    for i, axis in enumerate(params):
        for pos, label in zip(*_ticks(axis)):
            annotations.append(dict(x=i, y=pos, text=label, xanchor="right", xshift=-3, showarrow=False,
                                    font=dict(size=10, color="#4a5568"), bgcolor="rgba(255,255,255,0.75)"))
    for v in _nice(vmin, vmax, 4):
        annotations.append(dict(x=len(params), y=(v - vmin) / span, text=f"{v:.3g}", xanchor="right", xshift=-3,
                                showarrow=False, font=dict(size=10, color="#4a5568"), bgcolor="rgba(255,255,255,0.75)"))
    shapes = [dict(type="line", x0=i, x1=i, y0=0, y1=1, line=dict(color="#a0aec0", width=1)) for i in xs]
    count = f"{len(shown)} of {len(done)}" if len(shown) < len(done) else str(len(done))
    fig.update_layout(title=f"Parallel coordinates: {count} trials",
                      xaxis=dict(title="parameter, then the value", tickvals=xs,
                                 ticktext=names + [metric], range=[-0.6, len(params) + 0.3], showgrid=False),
                      yaxis=dict(title="position in its range", showticklabels=False,
                                 range=[-0.05, 1.05], showgrid=False, zeroline=False),
                      annotations=annotations, shapes=shapes, hovermode="closest", **_UNDER_BAR)
    yield View("parallel", "Parallel coordinates", "search", figure=_figure(fig),
               note="Each line is a complete trial across its parameters' ranges (log parameters on log scales); "
                    "where the best-coloured lines bunch on an axis, that range is good."
                    + (f" {sampled_note(len(shown), len(done))}." if len(shown) < len(done) else ""))


def contour_view(run: RunRecord) -> Iterable[View]:
    """The metric over the two most important parameters: a kernel-smoothed surface with the trials on it."""
    params, direction, metric = _context(run)
    done = _complete(run, direction)
    if len(params) < 2 or len(done) < 5:
        return
    imp = importances([t.config for t in done], [t.value for t in done], run.summary["search"]["space"], direction)
    by_name = {a.name: a for a in params}
    pair = [by_name[n] for n in imp if n in by_name][:2] if len(imp) >= 2 else params[:2]
    ax, ay = pair
    pts = np.column_stack([ax.positions([t.config.get(ax.name) for t in done]),
                           ay.positions([t.config.get(ay.name) for t in done])])
    keep = np.isfinite(pts).all(axis=1)
    pts, kept = pts[keep], [t for t, k in zip(done, keep) if k]
    if len(kept) < 5:
        return
    values = np.array([t.value for t in kept])
    xs = np.linspace(min(0.0, pts[:, 0].min()), max(1.0, pts[:, 0].max()), _CELLS)
    ys = np.linspace(min(0.0, pts[:, 1].min()), max(1.0, pts[:, 1].max()), _CELLS)
    z = _smoothed(pts, values, xs, ys, h=max(0.08, 0.5 * len(kept) ** (-1 / 6)))
    scale = "Viridis"
    # NOTE: plain lists, not numpy arrays: plotly would write those as base64 "bdata", which a
    # partial or older plotly.js bundle may not read.
    z_list = [[float(f"{v:.5g}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(x=[round(float(v), 5) for v in xs], y=[round(float(v), 5) for v in ys], z=z_list, colorscale=scale, reversescale=direction == "minimize",
                               colorbar=_colorbar(f"{metric} (smoothed)"),
                               hovertemplate=f"smoothed {metric} %{{z:.4g}}<extra></extra>"))
    names = [a.name for a in params]
    dots = some_trials(kept, MAX_LINES)  # (the surface uses every trial)
    where = {t.number: i for i, t in enumerate(kept)}
    rows = [where[t.number] for t in dots]
    fig.add_trace(go.Scatter(x=pts[rows, 0].tolist(), y=pts[rows, 1].tolist(), mode="markers", showlegend=False,
                             marker=dict(color="white", size=7, line=dict(color="#1a202c", width=1)),
                             text=[_hover(t, names, metric) for t in dots], hovertemplate="%{text}<extra></extra>"))
    best = kept[0]
    fig.add_trace(go.Scatter(x=[float(pts[0, 0])], y=[float(pts[0, 1])], mode="markers", name=f"best (#{best.number})",
                             marker=dict(symbol="star", size=14, color="#e53e3e", line=dict(color="white", width=1)),
                             text=[_hover(best, names, metric)], hovertemplate="%{text}<extra></extra>"))
    (xv, xt), (yv, yt) = _ticks(ax), _ticks(ay)
    fig.update_layout(title=f"{metric} over {ax.name} × {ay.name}",
                      xaxis=dict(title=ax.name + (" (log)" if ax.log else ""), tickvals=xv, ticktext=xt, showgrid=False),
                      yaxis=dict(title=ay.name + (" (log)" if ay.log else ""), tickvals=yv, ticktext=yt, showgrid=False),
                      legend=dict(orientation="h", x=1, xanchor="right", y=1.02, yanchor="bottom"), **_UNDER_BAR)
    yield View("contour", f"{ax.name} × {ay.name}", "search", figure=_figure(fig),
               note="The two most important parameters together; the surface is a kernel-smoothed mean of the "
                    "trials' values (the dots): trust it only near them."
                    + (f" Dots: {sampled_note(len(dots), len(kept))}; the surface uses all." if len(dots) < len(kept) else ""))


def _smoothed(pts: np.ndarray, values: np.ndarray, xs: np.ndarray, ys: np.ndarray, h: float) -> np.ndarray:
    """Nadaraya-Watson kernel regression on the grid ``ys × xs``: at each cell the Gaussian-weighted
    mean of the trials' values (bandwidth ``h`` on the unit axes). A smooth estimate with no model
    fitted that never leaves the range of the values the trials had.

    NOTE: the trials are first summed into the grid's cells; the Gaussian is separable, so the
    smoothing is two small matrix products and 10,000 trials cost what 100 do."""
    ix = np.clip(np.rint((pts[:, 0] - xs[0]) / (xs[1] - xs[0])), 0, len(xs) - 1).astype(int)
    iy = np.clip(np.rint((pts[:, 1] - ys[0]) / (ys[1] - ys[0])), 0, len(ys) - 1).astype(int)
    sums, counts = np.zeros((len(ys), len(xs))), np.zeros((len(ys), len(xs)))
    np.add.at(sums, (iy, ix), values)
    np.add.at(counts, (iy, ix), 1.0)
    kx = np.exp(-0.5 * ((xs[:, None] - xs[None, :]) / h) ** 2)
    ky = np.exp(-0.5 * ((ys[:, None] - ys[None, :]) / h) ** 2)
    return (ky @ sums @ kx.T) / np.maximum(ky @ counts @ kx.T, 1e-300)


def timeline_view(run: RunRecord) -> Iterable[View]:
    """A bar per trial from its start to its end, coloured by state; failures say why."""
    timed = [t for t in run.trials if t.started_at is not None]
    if not timed:
        return
    origin = min(t.started_at for t in timed)
    latest = max([t.finished_at or t.started_at for t in timed] +
                 [e["time"] for e in run.events if isinstance(e.get("time"), (int, float))])
    fig = go.Figure()
    for state, colour in _STATE_COLOURS.items():
        rows = [t for t in timed if t.state.value == state]
        if not rows:
            continue
        ends = [(t.finished_at if t.finished_at is not None else latest) for t in rows]
        text = [_timeline_hover(t, end - t.started_at) for t, end in zip(rows, ends)]
        fig.add_trace(go.Bar(y=[t.number for t in rows], x=[end - t.started_at for t, end in zip(rows, ends)],
                             base=[t.started_at - origin for t in rows], orientation="h", name=state,
                             marker_color=colour, text=text, textposition="none",
                             hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=f"Timeline of {len(timed)} trials", barmode="overlay",
                      xaxis=dict(title="seconds since the first trial started", rangemode="tozero"),
                      yaxis=dict(title="trial", autorange="reversed", tickformat="d"),
                      legend=dict(orientation="h", y=-0.2), **{**_LAYOUT, "height": min(900, max(300, 120 + 12 * len(timed)))})
    yield View("timeline", "Timeline of trials", "search", figure=_figure(fig),
               note="Bars that overlap ran at once; a failed trial's tooltip gives its reason.")


def _timeline_hover(t: FrozenTrial, seconds: float) -> str:
    parts = [f"trial #{t.number}: {t.state.value}", f"{seconds:.1f} s"]
    if t.value is not None:
        parts.append(f"value {t.value:.4g}")
    if t.attrs.get("epochs_run"):
        parts.append(f"{t.attrs['epochs_run']} epochs")
    if t.state is TrialState.PRUNED and t.last_step is not None:
        parts.append(f"pruned at step {t.last_step}")
    if t.attrs.get("fail_reason"):
        parts.append(html.escape(str(t.attrs["fail_reason"]).splitlines()[0][:200]))
    return "<br>".join(parts)


def table_view(run: RunRecord) -> Iterable[View]:
    """Every trial, sortable by any column (the page's `sorter_js`)."""
    if not run.trials:
        return
    params, direction, metric = _context(run)
    names = [a.name for a in params] or sorted({k for t in run.trials for k in t.config})
    done = _complete(run, direction)
    complete = {t.number for t in done}
    rest = sorted((t for t in run.trials if t.number not in complete), key=lambda t: t.number)
    rows = (done + rest)[:MAX_ROWS]
    head = ["#", "state", metric, "epochs", "seconds", *names, "fail reason / pruned at"]
    kinds = {a.name: "text" if a.kind == "choice" else "number" for a in params}
    types = ["number", "text", "number", "number", "number", *(kinds.get(n, "text") for n in names), "text"]
    th = "".join(f"<th data-type='{k}' title='sort by {html.escape(h)}'>{html.escape(h)}</th>" for h, k in zip(head, types))
    body = []
    for t in rows:
        cells = [_cell(t.number), f"<td class='state-{t.state.value}'>{t.state.value}</td>", _cell(t.value),
                 _cell(t.attrs.get("epochs_run") or t.last_step), _cell(t.duration, ".1f"),
                 *(_cell(t.config.get(n)) for n in names), _reason(t)]
        body.append(f"<tr>{''.join(cells)}</tr>")
    more = f"<p>The best {len(rows)} of {len(run.trials)} trials.</p>" if len(rows) < len(run.trials) else ""
    fragment = (f"{more}<div class='table-scroll' style='overflow:auto;max-height:480px'>"
                f"<table data-sortable style='white-space:nowrap'><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    yield View("trials", f"Trials ({len(run.trials)})", "search", html=fragment,
               note="Click a column's header to sort by it; again to reverse.")


def _cell(value: Any, spec: str = ".4g") -> str:
    if value is None:
        return "<td data-value=''>–</td>"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td>{html.escape(str(value))}</td>"
    shown = str(value) if isinstance(value, int) else (num(value) if spec == ".4g" else format(value, spec))
    return f"<td data-value='{value!r}'>{html.escape(shown)}</td>"


def _reason(t: FrozenTrial) -> str:
    if t.state is TrialState.PRUNED:
        return f"<td>pruned at step {t.last_step}</td>" if t.last_step is not None else "<td>pruned</td>"
    reason = t.attrs.get("fail_reason")
    if not reason:
        return "<td></td>"
    first = html.escape(str(reason).splitlines()[0][:200])
    trace = t.attrs.get("traceback")
    if not trace:
        return f"<td>{first}</td>"
    return f"<td><details><summary>{first}</summary><pre>{html.escape(str(trace))}</pre></details></td>"


def sorter_js() -> str:
    """The one sorter for every ``<table data-sortable>`` on a page, present or inserted later.

    The page includes this text once (report.html's script, the dashboard's); a click on a
    header sorts its table's rows by that column — numbers by the cells' ``data-value`` when the
    header says ``data-type='number'`` (missing values last), text otherwise — and a second click
    reverses. Delegated from ``document``, so fragments inserted with innerHTML need nothing.
    """
    return """document.addEventListener("click", function (event) {
  var th = event.target.closest && event.target.closest("table[data-sortable] th");
  if (!th) return;
  var table = th.closest("table"), body = table.tBodies[0], column = th.cellIndex;
  var numeric = th.getAttribute("data-type") === "number";
  var ascending = th.getAttribute("aria-sort") !== "ascending";
  Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  function key(row) {
    var cell = row.cells[column];
    if (!cell) return numeric ? NaN : "";
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    return numeric ? (raw === "" ? NaN : parseFloat(raw)) : raw.trim().toLowerCase();
  }
  var rows = Array.prototype.slice.call(body.rows).map(function (row, i) { return [key(row), i, row]; });
  rows.sort(function (a, b) {
    var x = a[0], y = b[0], order;
    if (numeric) {
      if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y) || a[1] - b[1];
      order = x - y;
    } else {
      order = x < y ? -1 : x > y ? 1 : 0;
    }
    return (ascending ? order : -order) || a[1] - b[1];
  });
  rows.forEach(function (r) { body.appendChild(r[2]); });
});
"""


def views(run: RunRecord) -> Iterable[View]:
    """Every search view, in page order: findings, importance, parallel coordinates, contour,
    timeline, trials table."""
    for producer in (findings_view, importance_view, parallel_view, contour_view, timeline_view, table_view):
        yield from producer(run)
