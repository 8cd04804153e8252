"""The run's views in page order: the producers that report.html and `knobs dashboard` share.

Each producer reads a `RunRecord` and yields `View`s; one that lacks what it needs (a run still
searching has no test result) yields nothing. Add a view by adding a producer to `PRODUCERS`.
"""

from __future__ import annotations

import json
from typing import Iterable

import plotly.graph_objects as go

from knobs.report import _figures as figures
from knobs.report._views import Producer, RunRecord, View, collect_views

__all__ = ["run_views", "PRODUCERS"]


def _figure(fig: go.Figure) -> dict:
    """A figure as plain JSON (numpy arrays and plotly objects become lists and dicts)."""
    return json.loads(fig.to_json())


def best_curves(run: RunRecord) -> Iterable[View]:
    best = run.summary.get("best_trial") or {}
    trial = next((t for t in run.trials if t.number == best.get("number")), None)
    if trial is None:
        return
    folds = trial.attrs.get("fold_curves") or []
    if len(folds) > 1:
        title = f"Learning curves of the best trial (#{trial.number}) on each of its {len(folds)} folds"
        yield View("best_curves", title, "training", figure=_figure(figures.fold_curves(folds, title)))
    elif trial.attrs.get("curve"):
        title = f"Learning curves of the best trial (#{trial.number})"
        fig = figures.learning_curves(trial.attrs["curve"], best.get("best_epoch"), title)
        yield View("best_curves", title, "training", figure=_figure(fig))


def history(run: RunRecord) -> Iterable[View]:
    search, best = run.summary.get("search") or {}, run.summary.get("best_trial") or {}
    if not run.trials:
        return
    fig = figures.search_history(run.trials, search.get("direction", "minimize"), best.get("metric", "value"))
    yield View("history", "Search history", "search", figure=_figure(fig))


def every_curve(run: RunRecord) -> Iterable[View]:
    best = run.summary.get("best_trial") or {}
    if run.trials:
        yield View("curves", "Validation curves of all trials", "training",
                   figure=_figure(figures.all_curves(run.trials, best.get("number", -1))))


def parameters(run: RunRecord) -> Iterable[View]:
    search, best = run.summary.get("search") or {}, run.summary.get("best_trial") or {}
    if run.trials and search.get("space"):
        fig = figures.parameter_effects(run.trials, search["space"], best.get("metric", "value"))
        yield View("slices", "Hyperparameters against the score", "search", figure=_figure(fig))


def confusion(run: RunRecord) -> Iterable[View]:
    matrix = (run.summary.get("test") or {}).get("confusion_matrix")
    if matrix:
        yield View("confusion", "Test confusion matrix", "test", figure=_figure(figures.confusion(matrix)))


PRODUCERS: list[Producer] = [best_curves, history, every_curve, parameters, confusion]


def run_views(run: RunRecord) -> list:
    """Every view of the run, in page order."""
    return collect_views(run, PRODUCERS)
