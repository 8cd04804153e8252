"""Plotly figures of a run: pure functions from run records to ``go.Figure``.

Why plotly: interactive plots (hover a trial, zoom a curve, toggle a group in the legend) in a
page that opens offline and in the dashboard, from the same figure JSON; the figures take plain
dicts and trials so they are testable without a run.

Layout rules every figure follows (issue 16): no figure title (the view's title is the page's
heading, which wraps on a phone where a plotly title would be cut off), no fixed width (the page
sizes figures to their box), the legend above the plot area (never over a subplot's axis title),
every axis titled, ticks from ``_axes.value_axis``, and the trial number in every tooltip.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from knobs.report._axes import value_axis
from knobs.trial import FrozenTrial, TrialState

__all__ = ["learning_curves", "fold_curves", "search_history", "all_curves", "parameter_slice", "confusion",
           "space_params"]

_STATE_COLOURS = {"complete": "#2b6cb0", "pruned": "#dd6b20", "failed": "#c53030", "running": "#718096"}
_FOLD_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")
_BEST = "#38a169"
_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, font=dict(size=11))


def _layout(height: int, legend: bool = True, **extra: Any) -> dict[str, Any]:
    """Room above the plot only for a legend (it sits there, clear of every axis title)."""
    return dict(template="plotly_white", autosize=True, height=height, legend=_LEGEND,
                margin=dict(l=8, r=8, t=36 if legend else 12, b=8), hovermode="closest", **extra)


#: the search metrics a run's curves hold besides accuracy (``search.metric``), drawn beside it
_SEARCHED = {"val_balanced_accuracy": "validation balanced accuracy", "val_macro_f1": "validation macro-F1",
             "val_roc_auc": "validation ROC AUC"}


def learning_curves(curve: dict[str, list], best_epoch: int | None, trial_number: int) -> go.Figure:
    """One trial's training and validation loss (top), validation accuracy and learning rate
    (bottom), on one epoch axis; the best epoch (whose weights were kept) marked."""
    epochs = curve.get("epoch", [])
    searched = {key: name for key, name in _SEARCHED.items() if any(v is not None for v in curve.get(key) or [])}
    accuracy = [v for key in ("val_accuracy", *searched) for v in curve.get(key) or [] if v is not None]
    lr = curve.get("lr") or []
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4],
                        specs=[[{}], [{"secondary_y": True}]])
    hover = f"trial #{trial_number}<br>epoch %{{x}}<br>%{{fullData.name}} %{{y:.4g}}<extra></extra>"
    fig.add_trace(go.Scatter(x=epochs, y=curve.get("train_loss"), name="training loss", mode="lines",
                             line=dict(color="#dd6b20"), hovertemplate=hover), 1, 1)
    fig.add_trace(go.Scatter(x=epochs, y=curve.get("val_loss"), name="validation loss", mode="lines",
                             line=dict(color="#2b6cb0"), hovertemplate=hover), 1, 1)
    if accuracy:
        fig.add_trace(go.Scatter(x=epochs, y=curve["val_accuracy"], name="validation accuracy", mode="lines",
                                 line=dict(color="#805ad5"), hovertemplate=hover), 2, 1)
    for key, name in searched.items():
        fig.add_trace(go.Scatter(x=epochs, y=curve[key], name=name, mode="lines", line=dict(color="#38a169"),
                                 hovertemplate=hover), 2, 1)
    if any(v is not None for v in lr):
        fig.add_trace(go.Scatter(x=epochs, y=lr, name="learning rate", mode="lines",
                                 line=dict(color="#4a5568", dash="dot"),
                                 hovertemplate=f"trial #{trial_number}<br>epoch %{{x}}<br>learning rate %{{y:.3g}}"
                                               f"<extra></extra>"), 2, 1, secondary_y=True)
    losses = [*(curve.get("train_loss") or []), *(curve.get("val_loss") or [])]
    fig.update_layout(_layout(460))
    fig.update_layout(yaxis=value_axis(losses, "loss", log=True),
                      yaxis2=value_axis(accuracy, "validation accuracy" if accuracy else "(no accuracy)"),
                      yaxis3={**value_axis(lr, "learning rate", log=True), "showgrid": False},
                      xaxis2=value_axis(epochs, "epoch", integer=True))
    if best_epoch is not None:
        _mark_best_epoch(fig, best_epoch, rows=2)
    return fig


def fold_curves(curves: Sequence[dict[str, list]], trial_number: int) -> go.Figure:
    """One trial's learning curves on every fold (k-fold mode): loss on top (validation solid,
    training dotted), validation accuracy below, a colour per fold, each fold's best epoch starred.

    Why all folds: the folds' spread is what a k-fold run reports (mean ± std); one fold's curve
    would hide a fold that overfits early or trains slowly."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    losses, accuracies, all_epochs = [], [], []
    for i, curve in enumerate(curves):
        colour = _FOLD_COLOURS[i % len(_FOLD_COLOURS)]
        epochs, val = curve.get("epoch", []), curve.get("val_loss", [])
        name, group = f"fold {i + 1}", f"fold{i}"
        hover = f"trial #{trial_number}, {name}<br>epoch %{{x}}<br>%{{meta}} %{{y:.4g}}<extra></extra>"
        fig.add_trace(go.Scatter(x=epochs, y=val, name=name, legendgroup=group, mode="lines", meta="validation loss",
                                 line=dict(color=colour), hovertemplate=hover), 1, 1)
        fig.add_trace(go.Scatter(x=epochs, y=curve.get("train_loss"), name=f"{name} training", legendgroup=group,
                                 mode="lines", meta="training loss", line=dict(color=colour, dash="dot"),
                                 showlegend=False, hovertemplate=hover), 1, 1)
        losses += [*val, *(curve.get("train_loss") or [])]
        all_epochs += list(epochs)
        if any(v is not None for v in curve.get("val_accuracy", []) or []):
            accuracies += curve["val_accuracy"]
            fig.add_trace(go.Scatter(x=epochs, y=curve["val_accuracy"], name=name, legendgroup=group, mode="lines",
                                     meta="validation accuracy", line=dict(color=colour), showlegend=False,
                                     hovertemplate=hover), 2, 1)
        finite = [(e, v) for e, v in zip(epochs, val) if _finite(v)]
        if finite:
            best_epoch, best_value = min(finite, key=lambda ev: ev[1])
            fig.add_trace(go.Scatter(x=[best_epoch], y=[best_value], mode="markers", legendgroup=group,
                                     marker=dict(color=colour, size=9, symbol="star"), showlegend=False,
                                     hovertemplate=f"trial #{trial_number}, {name}: best epoch %{{x}}<br>"
                                                   f"validation loss %{{y:.4f}}<extra></extra>"), 1, 1)
    fig.update_layout(_layout(460))
    fig.update_layout(yaxis=value_axis(losses, "loss (training dotted)", log=True),
                      yaxis2=value_axis(accuracies, "validation accuracy" if accuracies else "(no accuracy)"),
                      xaxis2=value_axis(all_epochs, "epoch", integer=True))
    return fig


def search_history(trials: Sequence[FrozenTrial], direction: str, metric: str) -> go.Figure:
    """Each trial's score by trial number, coloured by state, with the best-so-far line."""
    fig = go.Figure()
    scores = []
    for state, colour in _STATE_COLOURS.items():
        chosen = [t for t in trials if t.state.value == state and _finite(_score(t))]
        if chosen:
            scores += [_score(t) for t in chosen]
            fig.add_trace(go.Scatter(
                x=[t.number for t in chosen], y=[_score(t) for t in chosen], mode="markers", name=state,
                marker=dict(color=colour, size=8), text=[_config_text(t.config) for t in chosen],
                hovertemplate="trial #%{x} (" + state + ")<br>" + metric + " %{y:.4f}<br>%{text}<extra></extra>"))
    complete = sorted((t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value)), key=lambda t: t.number)
    best, xs, ys, holders = None, [], [], []
    for t in complete:
        if best is None or (t.value > best[1] if direction == "maximize" else t.value < best[1]):
            best = (t.number, t.value)
        xs.append(t.number)
        ys.append(best[1])
        holders.append(best[0])
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(shape="hv", color=_BEST), name="best so far",
                             customdata=holders,
                             hovertemplate="after trial #%{x}: best " + metric + " %{y:.4f} (trial #%{customdata})"
                                           "<extra></extra>"))
    fig.update_layout(_layout(360, xaxis=value_axis([t.number for t in trials], "trial", integer=True),
                              yaxis=value_axis(scores, metric, log=metric.endswith("loss"))))
    return fig


def all_curves(trials: Sequence[FrozenTrial], best_number: int) -> go.Figure:
    """Validation and training loss of every trial: where pruned trials stopped, how the best one
    compares, which trials overfit. Each kind is one legend group (a click hides all its lines);
    training curves start hidden so the validation curves stay readable."""
    fig = go.Figure()
    shown: set[str] = set()
    values: list[float] = []
    epochs_seen: list[int] = []
    for t in sorted(trials, key=lambda t: t.number == best_number):  # the best drawn last, on top
        curve = t.attrs.get("curve")
        epochs, val = ((curve["epoch"], curve["val_loss"]) if curve
                       else (sorted(t.intermediate), [t.intermediate[k] for k in sorted(t.intermediate)]))
        if not epochs:
            continue
        is_best = t.number == best_number
        for kind, ys in (("validation", val), ("training", (curve or {}).get("train_loss"))):
            if not ys:
                continue
            group = f"best trial #{t.number}" if is_best else f"{kind} loss, every trial"
            colour = _BEST if is_best else _STATE_COLOURS.get(t.state.value, "#718096")
            fig.add_trace(go.Scatter(
                x=epochs, y=ys, mode="lines", name=group, legendgroup=group, showlegend=group not in shown,
                visible=True if (is_best or kind == "validation") else "legendonly",
                line=dict(width=3 if is_best else 1, color=colour, dash="dot" if kind == "training" else None),
                opacity=1.0 if is_best else 0.5,
                hovertemplate=f"trial #{t.number} ({t.state.value})<br>epoch %{{x}}<br>{kind} loss %{{y:.4g}}"
                              f"<extra></extra>"))
            shown.add(group)
            values += [v for v in ys if _finite(v)]
            epochs_seen += list(epochs)
    fig.update_layout(_layout(400, xaxis=value_axis(epochs_seen, "epoch", integer=True),
                              yaxis=value_axis(values, "loss", log=True)))
    return fig


def parameter_slice(trials: Sequence[FrozenTrial], name: str, spec: dict[str, Any], metric: str) -> go.Figure:
    """One hyperparameter's value against each finished trial's score (a slice plot)."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value) and name in t.config]
    xs = [t.config[name] for t in complete]
    ys = [t.value for t in complete]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers", marker=dict(color="#2b6cb0", size=7), showlegend=False,
                               customdata=[t.number for t in complete],
                               hovertemplate="trial #%{customdata}<br>" + name + " %{x}<br>" + metric
                                             + " %{y:.4f}<extra></extra>"))
    kind = spec.get("type")
    if kind == "choice" or any(isinstance(x, (str, bool)) for x in xs):
        options = [str(o) for o in spec.get("options", [])] or sorted({str(x) for x in xs})
        xaxis = {"title": {"text": name}, "type": "category", "categoryorder": "array",
                 "categoryarray": options, "automargin": True}
        fig.update_traces(x=[str(x) for x in xs])
    else:
        low, high = spec.get("low"), spec.get("high")
        bounds = (low, high) if _finite(low) and _finite(high) and high > low else None
        xaxis = value_axis(xs, name, log=bool(spec.get("log")), integer=kind == "int", bounds=bounds)
    fig.update_layout(_layout(260, legend=False, xaxis=xaxis,
                              yaxis=value_axis(ys, metric, log=metric.endswith("loss"))))
    return fig


def confusion(matrix: list[list[int]], class_names: Sequence[str] | None = None) -> go.Figure:
    """The test confusion matrix (rows: truth, columns: prediction), square cells, any width."""
    names = list(class_names) if class_names else [str(i) for i in range(len(matrix))]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", text=matrix, texttemplate="%{text}",
                               showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{z} rows<extra></extra>"))
    height = min(640, 140 + 32 * len(names))
    fig.update_layout(_layout(height, legend=False), xaxis=dict(title={"text": "predicted class"}, type="category", side="bottom",
                                                  automargin=True),
                      yaxis=dict(title={"text": "true class"}, type="category", autorange="reversed",
                                 automargin=True))
    return fig


def space_params(space_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{name: spec}`` of a space as ``Space.to_json`` writes it (or the bare params mapping)."""
    params = space_json.get("params", space_json) if isinstance(space_json, dict) else {}
    return {name: spec if isinstance(spec, dict) else {} for name, spec in params.items()}


def _mark_best_epoch(fig: go.Figure, best_epoch: int, rows: int) -> None:
    for row in range(1, rows + 1):
        fig.add_vline(x=best_epoch, line=dict(color=_BEST, dash="dash"), row=row, col=1)
    fig.add_annotation(x=best_epoch, xref="x", y=1, yref="y domain", xanchor="left", yanchor="top", xshift=4,
                       text=f"best epoch {best_epoch}<br>(weights kept)", showarrow=False, align="left",
                       font=dict(color=_BEST, size=11), bgcolor="rgba(255,255,255,0.7)")


def _score(t: FrozenTrial) -> float | None:
    if t.value is not None:
        return t.value
    return t.intermediate[t.last_step] if t.intermediate else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _config_text(config: dict[str, Any]) -> str:
    return "<br>".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())
