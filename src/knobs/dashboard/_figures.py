"""The dashboard's own views, computed on the server because a study may be large.

Why these and not the report's: a report draws each trial's curve and every point once; the
dashboard must open a study of 10,000 trials in under two seconds and keep redrawing it while the
run works. So the search history draws at most ``MAX_MARKERS`` points per state (the best trials and an
even sample of the rest: the page ships the report's partial plotly.js, which has no WebGL), and the learning
curves show the running trials and the best ones as lines (each at most ``MAX_POINTS`` points) plus
the spread of every trial's validation curve per epoch (median and 10–90 %), never every epoch of
every trial. Figures are plain plotly JSON (``{"data", "layout"}``) built without plotly.py, which
would validate every point.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from knobs.dashboard._runs import LoadedRun, trial_curve
from knobs.report import View
from knobs.trial import FrozenTrial, TrialState

__all__ = ["history", "curves", "timeline", "dashboard_views", "base_layout", "integer_axis", "MAX_POINTS", "MAX_MARKERS", "MAX_SEGMENTS"]

MAX_POINTS = 200  # points per drawn line
MAX_MARKERS = 1000  # markers per state in the history (SVG: 2,000 took a 10,000-trial page 0.6 s)
MAX_SEGMENTS = 500  # trials per state drawn in the timeline (failed and running ones: all)
_SEGMENTS_ONLY_FROM = 500  # the timeline drops its markers from this many trials of a state on
LEGEND_ABOVE = {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}
"""A legend above the plot, across it: beside it, it took a 420 px figure's width; below it, its rows
sat on the x axis' title."""
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")  # plotly's own colourway, fixed per trial
_COLOURS = {"complete": "#3182ce", "pruned": "#a0aec0", "failed": "#e53e3e", "running": "#dd6b20"}
_LABELS = {"train_loss": "training loss", "val_loss": "validation loss", "val_accuracy": "validation accuracy",
           "val_balanced_accuracy": "validation balanced accuracy", "val_macro_f1": "validation macro-F1",
           "val_roc_auc": "validation ROC AUC",
           "lr": "learning rate"}


def dashboard_views(run: LoadedRun, *, lines: int = 10) -> list[View]:
    """The views the dashboard computes itself, in page order."""
    if not run.trials:
        return []
    return [history(run), curves(run, lines=lines), timeline(run)]


def timeline(run: LoadedRun) -> View:
    """When each trial ran, by state (one trace of segments per state, whatever the count):
    failures and long trials stand out; hover names the trial and a failure's reason. At most
    ``MAX_SEGMENTS`` segments per state (the best and an even sample, as the history): 10,000 SVG
    segments took the page 1.3 s to draw, and a 400 px tall axis shows 25 trials per pixel row
    anyway. Failed and running trials are always all drawn."""
    now = max((t.finished_at or 0.0 for t in run.trials), default=0.0)
    now = max(now, max((b for b in run.heartbeats.values()), default=0.0))
    origin = min((t.started_at for t in run.trials if t.started_at is not None), default=0.0)
    data, hidden = [], 0
    for state in ("complete", "pruned", "failed", "running"):
        timed = [t for t in run.trials if t.state.value == state and t.started_at is not None]
        shown = timed if state in ("failed", "running") else _some(timed, run.direction, MAX_SEGMENTS)
        hidden += len(timed) - len(shown)
        xs: list = []
        ys: list = []
        texts: list = []
        for t in shown:
            end = t.finished_at if t.finished_at is not None else max(now, t.started_at)
            xs += [round(t.started_at - origin, 3), round(end - origin, 3), None]
            ys += [t.number, t.number, None]
            if state == "failed":  # NOTE: text only where it says more than the axes (few points, long strings)
                text = f"trial #{t.number}: {end - t.started_at:.1f} s — {str(t.attrs.get('fail_reason') or '')[:120]}"
                texts += [text, text, None]
        if xs:
            trace = {"type": "scatter", "mode": "lines" if len(xs) >= 3 * _SEGMENTS_ONLY_FROM else "lines+markers",
                     "x": xs, "y": ys, "name": state, "line": {"color": _COLOURS[state], "width": 3},
                     "marker": {"size": 3, "color": _COLOURS[state]},
                     "hovertemplate": "trial #%{y}: %{x:.1f} s after the first start<extra>" + state + "</extra>"}
            if texts:
                trace.update(text=texts, hovertemplate="%{text}<extra></extra>")
            data.append(trace)
    failed = sum(t.state is TrialState.FAILED for t in run.trials)
    note = "each line is one trial, from its start to its end" + (f"; {failed} failed" if failed else "")
    if hidden:
        note += (f"; {hidden} complete or pruned trials not drawn (the best and an even sample of the rest are; "
                 "the table has all)")
    return View("dash:timeline", "Trial timeline", "search", figure={"data": data, "layout": base_layout(
        {"xaxis": {"title": {"text": "seconds since the first trial started"}}, "legend": LEGEND_ABOVE,
         "yaxis": integer_axis("trial", max((t.number for t in run.trials), default=0))})}, note=note)


def history(run: LoadedRun) -> View:
    """Every trial's value by trial number, by state, with the best so far."""
    trials, metric = run.trials, run.metric
    data, hidden = [], 0
    for state in ("complete", "pruned", "running"):
        chosen = [t for t in trials if t.state.value == state and _finite(_shown_value(t)) is not None]
        shown = _some(chosen, run.direction)
        hidden += len(chosen) - len(shown)
        if shown:
            data.append(_markers([t.number for t in shown], [_shown_value(t) for t in shown], state,
                                 f"trial #%{{x}}: {metric} %{{y:.4g}}<extra>{state}</extra>"))
    xs, ys, best = [], [], None
    sign = -1.0 if run.direction == "maximize" else 1.0
    for t in sorted((t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value) is not None),
                    key=lambda t: t.number):
        if best is None or sign * t.value < sign * best:
            best = t.value
            xs.append(t.number)
            ys.append(best)
    if xs:
        xs.append(max(t.number for t in trials))
        ys.append(best)
        data.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": "best so far",
                     "line": {"shape": "hv", "color": "#38a169"}, "hovertemplate": f"best {metric} so far "
                     "%{y:.4g} (up to trial #%{x})<extra></extra>"})
    failed = sum(t.state is TrialState.FAILED for t in trials)
    note = f"{len(trials)} trials" + (f"; {failed} failed (no value: see the trials table)" if failed else "")
    if hidden:
        note += f"; {hidden} points not drawn (the best and an even sample of the rest are; the table has all)"
    return View("dash:history", "Optimization history", "search", figure={"data": data, "layout": base_layout(
        {"xaxis": integer_axis("trial", max((t.number for t in trials), default=0)),
         "yaxis": {"title": {"text": metric}}, "legend": LEGEND_ABOVE})}, note=note)


def curves(run: LoadedRun, *, lines: int = 10) -> View:
    """Learning curves: running trials and the ``lines`` best as lines (training dotted, validation
    solid, learning rate), and the per-epoch median and 10–90 % band of every trial's validation loss."""
    trials = run.trials
    running = [t for t in trials if t.state is TrialState.RUNNING][:lines]
    ranked = _ranked(trials, run.direction)
    shown = running + [t for t in ranked if t not in running][:lines]
    data: list[dict[str, Any]] = []
    accuracy = False
    for index, t in enumerate(shown):
        colour = _PALETTE[index % len(_PALETTE)]  # one colour per trial: its training, validation and LR lines
        curve = trial_curve(t, run.events, run.metric)
        epochs = curve["epoch"]
        group, name = f"t{t.number}", f"trial #{t.number}" + (" (running)" if t.state is TrialState.RUNNING else "")
        for key, axis, dash in (("val_loss", 1, "solid"), ("train_loss", 1, "dot"), ("val_accuracy", 2, "solid"),
                                ("val_balanced_accuracy", 2, "dash"), ("val_macro_f1", 2, "dash"),
                                ("val_roc_auc", 2, "dash"), ("lr", 3, "solid")):
            xs, ys = _thin(epochs, curve.get(key) or [])
            if not any(v is not None for v in ys):
                continue
            accuracy |= key in ("val_accuracy", "val_balanced_accuracy", "val_macro_f1", "val_roc_auc")
            data.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": name, "legendgroup": group,
                         "showlegend": key == "val_loss", "xaxis": "x" if axis == 1 else f"x{axis}",
                         "yaxis": "y" if axis == 1 else f"y{axis}",
                         "line": {"dash": dash, "width": 1.5, "color": colour},
                         "meta": {"trial": t.number, "key": key},
                         "hovertemplate": f"trial #{t.number} epoch %{{x}}: {_LABELS[key]} %{{y:.4g}}<extra></extra>"})
    band = _band(run, trials)
    data = band + data
    last_epoch = max((x for trace in data for x in trace["x"] if isinstance(x, (int, float))), default=1)
    lrs = [v for trace in data if trace.get("meta", {}).get("key") == "lr" for v in trace["y"] if _finite(v)]
    log_lr = bool(lrs) and min(lrs) > 0 and max(lrs) / min(lrs) > 10
    losses = [v for trace in data if trace.get("yaxis", "y") == "y" for v in trace["y"] if _finite(v) is not None]
    # NOTE: a log loss axis when the losses span a decade: else the first epochs' losses squash the rest flat
    log_loss = bool(losses) and min(losses) > 0 and max(losses) / min(losses) > 10
    layout = base_layout({
        "grid": {"rows": 3, "columns": 1, "pattern": "independent", "roworder": "top to bottom"},
        # (the legend below the x title, growing the margin as it wraps: at 420 px it is five rows)
        "height": 760, "legend": {"orientation": "h", "y": -0.1, "yanchor": "top"},
        "xaxis": integer_axis("epoch", last_epoch),
        "yaxis": {"title": {"text": "loss (log)" if log_loss else "loss"}, "type": "log" if log_loss else "linear"},
        # (the three panels share their epochs: one zoom moves all, and epoch 10 is under epoch 10)
        "xaxis2": {**integer_axis("epoch", last_epoch), "matches": "x"},
        "yaxis2": {"title": {"text": "validation accuracy"}},
        "xaxis3": {**integer_axis("epoch", last_epoch), "matches": "x"},
        "yaxis3": {"title": {"text": "learning rate"}, "type": "log" if log_lr else "linear", "exponentformat": "e"},
    })
    if lrs and not log_lr:  # NOTE: from 0, so a constant rate is a flat line at its value, not at an axis' middle
        layout["yaxis3"]["range"] = [0, max(lrs) * 1.15 or 1]
    n_other = len(trials) - len(shown)
    which = (f"{len(running)} running trial{'s' if len(running) > 1 else ''} and " if running else "") + \
        f"the {len(shown) - len(running)} best"
    note = (f"lines: {which} (training dotted, validation solid, one colour per trial); the band is the spread of "
            f"every trial's validation loss per epoch"
            + (f" ({n_other} trials not drawn as lines)" if n_other > 0 else ""))
    if not accuracy:
        layout["yaxis2"]["title"]["text"] = "validation accuracy (none recorded)"
    return View("dash:curves", "Learning curves", "training", figure={"data": data, "layout": layout}, note=note)


def _band(run: LoadedRun, trials: Sequence[FrozenTrial]) -> list[dict[str, Any]]:
    """Median and 10–90 % of the validation loss per epoch over every trial that reached it."""
    # NOTE: read straight from the stored curves and the log's epoch records (not ``trial_curve``'s
    # column dicts): this loop visits every epoch of every trial, 54,000 for a 10,000-trial study.
    by_epoch: dict[int, list[float]] = {}
    for t in trials:
        stored = t.attrs.get("curve")
        if isinstance(stored, dict) and stored.get("epoch"):
            pairs: Iterable = zip(stored["epoch"], stored.get("val_loss") or ())  # (JSON: losses are floats)
        elif t.number in run.events.epochs:
            records = run.events.epochs[t.number]
            fold = records[-1].get("fold")
            pairs = ((r.get("epoch"), r.get("val_loss")) for r in records if r.get("fold") == fold)
        else:
            curve = trial_curve(t, run.events, run.metric)
            pairs = zip(curve["epoch"], curve.get("val_loss") or ())
        for epoch, value in pairs:
            if isinstance(epoch, int) and isinstance(value, float) and math.isfinite(value):
                by_epoch.setdefault(epoch, []).append(value)
    if not by_epoch or len(trials) < 3:
        return []
    epochs = sorted(by_epoch)
    epochs = epochs if len(epochs) <= MAX_POINTS else [epochs[i] for i in
                                                        np.linspace(0, len(epochs) - 1, MAX_POINTS).astype(int)]
    q = np.array([np.percentile(by_epoch[e], [10, 50, 90]) for e in epochs])
    counts = [len(by_epoch[e]) for e in epochs]
    common = {"type": "scatter", "x": epochs, "legendgroup": "band", "hoverinfo": "skip"}
    return [
        {**common, "y": q[:, 2].tolist(), "mode": "lines", "line": {"width": 0}, "showlegend": False, "name": "90 %"},
        {**common, "y": q[:, 0].tolist(), "mode": "lines", "line": {"width": 0}, "fill": "tonexty",
         "fillcolor": "rgba(49,130,206,0.15)", "name": "10–90 % of all trials"},
        {"type": "scatter", "x": epochs, "y": q[:, 1].tolist(), "mode": "lines", "legendgroup": "band",
         "line": {"color": "rgba(49,130,206,0.6)", "dash": "dash"}, "name": "median of all trials",
         "customdata": counts, "hovertemplate": "epoch %{x}: median validation loss %{y:.4g} "
                                                "over %{customdata} trials<extra></extra>"},
    ]


def _ranked(trials: Iterable[FrozenTrial], direction: str) -> list[FrozenTrial]:
    sign = -1.0 if direction == "maximize" else 1.0
    done = [t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value) is not None]
    return sorted(done, key=lambda t: (sign * t.value, t.number))


def _markers(xs: list, ys: list, state: str, hover: str) -> dict[str, Any]:
    return {"type": "scatter", "mode": "markers", "x": xs, "y": ys, "name": state,
            "marker": {"color": _COLOURS[state], "size": 5 if len(xs) >= MAX_MARKERS // 2 else 8},
            "hovertemplate": hover}


def _some(trials: list[FrozenTrial], direction: str, limit: int = MAX_MARKERS) -> list[FrozenTrial]:
    """At most ``limit`` of these trials, in trial order: the best quarter of the allowance by their
    shown value, then an even sample over trial numbers of the others (the shape of the cloud)."""
    if len(trials) <= limit:
        return trials
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(trials, key=lambda t: (_rank_value(t, sign), t.number))
    best, rest = ranked[:limit // 4], sorted(ranked[limit // 4:], key=lambda t: t.number)
    picks = np.linspace(0, len(rest) - 1, limit - len(best)).round().astype(int)
    return sorted(best + [rest[i] for i in np.unique(picks)], key=lambda t: t.number)


def _rank_value(trial: FrozenTrial, sign: float) -> float:
    """What ranks a trial among its state's (no value — a failed or new trial — ranks last)."""
    value = _finite(_shown_value(trial))
    return math.inf if value is None else sign * value


def _thin(xs: Sequence, ys: Sequence) -> tuple[list, list]:
    """At most ``MAX_POINTS`` evenly spaced points of a line, its last point kept."""
    n = min(len(xs), len(ys))
    if n <= MAX_POINTS:
        return list(xs[:n]), [_finite(v) for v in ys[:n]]
    keep = np.linspace(0, n - 1, MAX_POINTS).astype(int)
    return [xs[i] for i in keep], [_finite(ys[i]) for i in keep]


def _shown_value(trial: FrozenTrial) -> float | None:
    """A trial's value, or the last value a running / pruned trial reported."""
    if trial.value is not None:
        return trial.value
    return trial.intermediate[trial.last_step] if trial.intermediate else None


def integer_axis(title: str, largest: float | None) -> dict[str, Any]:
    """An axis of whole numbers (epochs, trial numbers): ticks on integers only, about eight of
    them (plotly's own choice puts ticks at 1.5 and 2.5 on a short axis)."""
    step = 1
    for candidate in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000):
        step = candidate
        if (largest or 0) / candidate <= 8:
            break
    return {"title": {"text": title}, "tick0": 0, "dtick": step}


def base_layout(extra: dict[str, Any]) -> dict[str, Any]:
    return {"margin": {"l": 60, "r": 10, "t": 10, "b": 50}, "hovermode": "closest", "autosize": True, **extra}


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        else None
