"""Plotly figures of a run: pure functions from run records to ``go.Figure``.

Why plotly: one self-contained HTML file with interactive plots (hover a trial, zoom a curve)
that opens offline; the figures take plain dicts so they are testable without a run.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from knobs.trial import FrozenTrial, TrialState

__all__ = ["learning_curves", "fold_curves", "search_history", "all_curves", "parameter_effects", "confusion"]

_STATE_COLOURS = {"complete": "#2b6cb0", "pruned": "#dd6b20", "failed": "#c53030", "running": "#718096"}
_FOLD_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")
_LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), height=380)


def learning_curves(curve: dict[str, list], best_epoch: int | None, title: str) -> go.Figure:
    """Train/validation loss, validation accuracy and the learning rate of one trial."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "validation accuracy and learning rate"),
                        specs=[[{}, {"secondary_y": True}]])
    epochs = curve.get("epoch", [])
    fig.add_trace(go.Scatter(x=epochs, y=curve.get("train_loss"), name="train loss", mode="lines"), 1, 1)
    fig.add_trace(go.Scatter(x=epochs, y=curve.get("val_loss"), name="validation loss", mode="lines"), 1, 1)
    if any(v is not None for v in curve.get("val_accuracy", [])):
        fig.add_trace(go.Scatter(x=epochs, y=curve["val_accuracy"], name="validation accuracy"), 1, 2)
    fig.add_trace(go.Scatter(x=epochs, y=curve.get("lr"), name="learning rate", line=dict(dash="dot")),
                  1, 2, secondary_y=True)
    if best_epoch is not None:
        for col in (1, 2):
            fig.add_vline(x=best_epoch, line=dict(color="#38a169", dash="dash"), row=1, col=col)
        fig.add_annotation(x=best_epoch, xref="x", y=0.97, yref="paper", xanchor="left", yanchor="top", xshift=4,
                           text=f"best epoch {best_epoch}<br>(weights restored)", showarrow=False,
                           align="left", font=dict(color="#38a169", size=11))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="learning rate", type="log", secondary_y=True, row=1, col=2)
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def fold_curves(curves: Sequence[dict[str, list]], title: str) -> go.Figure:
    """One trial's learning curves on every fold (k-fold mode): loss and validation accuracy, a
    colour per fold (validation solid, training dotted), each fold's best epoch marked.

    Why all folds: the folds' spread is what a k-fold run reports (mean ± std); one fold's curve
    would hide a fold that overfits early or trains slowly."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (training dotted)", "validation accuracy"))
    for i, curve in enumerate(curves):
        colour = _FOLD_COLOURS[i % len(_FOLD_COLOURS)]
        epochs, val = curve.get("epoch", []), curve.get("val_loss", [])
        name, group = f"fold {i + 1}", f"fold{i}"
        fig.add_trace(go.Scatter(x=epochs, y=val, name=name, legendgroup=group, mode="lines",
                                 line=dict(color=colour)), 1, 1)
        fig.add_trace(go.Scatter(x=epochs, y=curve.get("train_loss"), name=f"{name} training", legendgroup=group,
                                 mode="lines", line=dict(color=colour, dash="dot"), showlegend=False), 1, 1)
        if any(v is not None for v in curve.get("val_accuracy", [])):
            fig.add_trace(go.Scatter(x=epochs, y=curve["val_accuracy"], name=name, legendgroup=group, mode="lines",
                                     line=dict(color=colour), showlegend=False), 1, 2)
        finite = [(e, v) for e, v in zip(epochs, val) if _finite(v)]
        if finite:
            best_epoch, best_value = min(finite, key=lambda ev: ev[1])
            fig.add_trace(go.Scatter(x=[best_epoch], y=[best_value], mode="markers", legendgroup=group,
                                     marker=dict(color=colour, size=9, symbol="star"), showlegend=False,
                                     hovertemplate=f"{name}: best epoch %{{x}}<br>val loss %{{y:.4f}}<extra></extra>"),
                          1, 1)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, **_LAYOUT)
    return fig


def search_history(trials: Sequence[FrozenTrial], direction: str, metric: str) -> go.Figure:
    """Each trial's score by trial number, coloured by state, with the best-so-far line."""
    fig = go.Figure()
    for state, colour in _STATE_COLOURS.items():
        chosen = [t for t in trials if t.state.value == state and _finite(_score(t))]
        if chosen:
            fig.add_trace(go.Scatter(
                x=[t.number for t in chosen], y=[_score(t) for t in chosen], mode="markers", name=state,
                marker=dict(color=colour, size=9), text=[_config_text(t.config) for t in chosen],
                hovertemplate="trial %{x}<br>" + metric + " %{y:.4f}<br>%{text}<extra></extra>"))
    complete = sorted((t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value)), key=lambda t: t.number)
    best, xs, ys = None, [], []
    for t in complete:
        if best is None or (t.value > best if direction == "maximize" else t.value < best):
            best = t.value
        xs.append(t.number)
        ys.append(best)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(shape="hv", color="#38a169"), name="best so far"))
    fig.update_layout(title="Search history", xaxis_title="trial", yaxis_title=metric, **_LAYOUT)
    return fig


def all_curves(trials: Sequence[FrozenTrial], best_number: int) -> go.Figure:
    """Validation loss of every trial: where pruned trials stopped, how the best one compares."""
    fig = go.Figure()
    for t in trials:
        curve = t.attrs.get("curve")
        xs, ys = (curve["epoch"], curve["val_loss"]) if curve else (sorted(t.intermediate), [t.intermediate[k] for k in sorted(t.intermediate)])
        if not xs:
            continue
        is_best = t.number == best_number
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=f"trial {t.number} ({t.state.value})", showlegend=is_best,
            line=dict(width=3 if is_best else 1, color="#38a169" if is_best else _STATE_COLOURS[t.state.value]),
            opacity=1.0 if is_best else 0.45))
    fig.update_layout(title="Validation curves of all trials (best in green)", xaxis_title="epoch",
                      yaxis_title="validation loss", yaxis_type="log", **_LAYOUT)
    return fig


def parameter_effects(trials: Sequence[FrozenTrial], space_json: dict[str, Any], metric: str) -> go.Figure:
    """One small panel per hyperparameter: its value against the trial's score."""
    params = list(space_json.get("params", space_json))
    complete = [t for t in trials if t.state is TrialState.COMPLETE and _finite(t.value)]
    cols = min(3, max(1, len(params)))
    rows = math.ceil(len(params) / cols) or 1
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=params)
    for i, name in enumerate(params):
        row, col = divmod(i, cols)
        chosen = [t for t in complete if name in t.config]
        fig.add_trace(go.Scatter(x=[t.config[name] for t in chosen], y=[t.value for t in chosen], mode="markers",
                                 marker=dict(color="#2b6cb0", size=7), showlegend=False,
                                 hovertemplate=name + " %{x}<br>" + metric + " %{y:.4f}<extra></extra>"),
                      row + 1, col + 1)
        if _is_log(space_json, name):
            fig.update_xaxes(type="log", row=row + 1, col=col + 1)
    fig.update_layout(title="Hyperparameters against the score", template="plotly_white",
                      height=260 * rows + 60, margin=dict(l=60, r=20, t=70, b=40))
    return fig


def confusion(matrix: list[list[int]], class_names: Sequence[str] | None = None) -> go.Figure:
    """The test confusion matrix (rows: truth, columns: prediction)."""
    names = list(class_names) if class_names else [str(i) for i in range(len(matrix))]
    fig = go.Figure(go.Heatmap(z=matrix, x=names, y=names, colorscale="Blues", text=matrix,
                               texttemplate="%{text}", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(title="Test confusion matrix", xaxis_title="predicted", yaxis_title="true",
                      yaxis_autorange="reversed", template="plotly_white", height=420, width=480,
                      margin=dict(l=60, r=20, t=50, b=50))
    return fig


def _score(t: FrozenTrial) -> float | None:
    if t.value is not None:
        return t.value
    return t.intermediate[t.last_step] if t.intermediate else None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _config_text(config: dict[str, Any]) -> str:
    return "<br>".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items())


def _is_log(space_json: dict[str, Any], name: str) -> bool:
    params = space_json.get("params", space_json)
    entry = params.get(name, {}) if isinstance(params, dict) else {}
    return bool(entry.get("log")) if isinstance(entry, dict) else False
