"""The run's views in page order: the producers that report.html and `knobs dashboard` share.

Each producer reads a `RunRecord` and yields `View`s; one that lacks what it needs (a run still
searching has no test result) yields nothing. Add a view by adding a producer to `PRODUCERS`.
The page groups views by section (``SECTIONS``) and keeps this order within a section.
"""

from __future__ import annotations

import json
from typing import Collection, Iterable

import plotly.graph_objects as go

from knobs.report import _data_views as data
from knobs.report import _figures as figures
from knobs.report import _html_views as tables
from knobs.report import _search_views as search
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
        yield View("best_curves", title, "training", figure=_figure(figures.fold_curves(folds, trial.number)),
                   note="Validation loss solid, training dotted; a star marks each fold's best epoch.")
    elif trial.attrs.get("curve"):
        title = f"Learning curves of the best trial (#{trial.number})"
        fig = figures.learning_curves(trial.attrs["curve"], best.get("best_epoch"), trial.number)
        yield View("best_curves", title, "training", figure=_figure(fig),
                   note="A validation loss rising while the training loss falls is overfitting; the weights of "
                        "the best epoch were kept.")


def history(run: RunRecord) -> Iterable[View]:
    search, best = run.summary.get("search") or {}, run.summary.get("best_trial") or {}
    if not run.trials:
        return
    fig = figures.search_history(run.trials, search.get("direction", "minimize"),
                                 best.get("metric") or _metric(run))
    yield View("history", "Search history", "search", figure=_figure(fig),
               note="Each trial's validation score by trial number; the line is the best so far.")


def every_curve(run: RunRecord) -> Iterable[View]:
    best = run.summary.get("best_trial") or {}
    if run.trials:
        yield View("curves", "Loss curves of all trials", "training",
                   figure=_figure(figures.all_curves(run.trials, best.get("number", -1))),
                   note="Validation loss of every trial (best in green); click “training loss, every trial” "
                        "in the legend to show the training curves too.")


def slices(run: RunRecord) -> Iterable[View]:
    """One slice plot per searched hyperparameter: its value against the trial's score."""
    searched, best = run.summary.get("search") or {}, run.summary.get("best_trial") or {}
    if not run.trials or not searched.get("space"):
        return
    metric = best.get("metric") or _metric(run)
    # NOTE: at most MAX_POINTS trials per slice (the best and an even sample): 10,000 SVG points per
    # parameter took a large study's page seconds to draw, and show nothing the sample does not
    ranked = search.ranked_complete(run.trials, searched.get("direction", "minimize"))
    shown = search.some_trials(ranked, search.MAX_POINTS)
    note = search.sampled_note(len(shown), len(ranked))
    for name, spec in figures.space_params(searched["space"]).items():
        yield View(f"slice:{name}", f"{name} against {metric}", "search",
                   figure=_figure(figures.parameter_slice(shown, name, spec, metric)), note=note + "." if note else None)


def confusion(run: RunRecord) -> Iterable[View]:
    test = run.summary.get("test") or {}
    matrix = test.get("confusion_matrix")
    if matrix:
        names = (run.summary.get("data") or {}).get("class_names")
        yield View("confusion", "Test confusion matrix", "test", figure=_figure(figures.confusion(matrix, names)),
                   note="Rows are the true class, columns the predicted one; off the diagonal are the errors.")


def _metric(run: RunRecord) -> str:
    return ((run.summary.get("search") or {}).get("metric")) or "value"


PRODUCERS: list[Producer] = [
    tables.headline, search.findings_view,
    history, tables.best_trial, search.importance_view, slices, search.parallel_view, search.contour_view,
    search.timeline_view, search.table_view, tables.autopilot,
    best_curves, every_curve,
    tables.preflight, data.watch, data.layers, data.filters,
    data.samples, data.class_balance,
    tables.test_metrics, confusion, data.class_recall, data.worst, tables.cross_validation, tables.vault,
    data.vault_log,
    tables.ensemble,
]


#: Producers that yield exactly these view keys: ``run_views(skip=...)`` does not call them when
#: all their keys are skipped (the dashboard draws these itself for large studies, where one trace
#: per trial would cost seconds and megabytes).
_KEYS_OF = {history: {"history"}, every_curve: {"curves"}, search.timeline_view: {"timeline"},
            search.table_view: {"trials"}}


def run_views(run: RunRecord, *, skip: Collection[str] = ()) -> list[View]:
    """Every view of the run, in page order, less the views whose keys ``skip`` names."""
    skip = set(skip)
    producers = [p for p in PRODUCERS if not (p in _KEYS_OF and _KEYS_OF[p] <= skip)]
    return [view for view in collect_views(run, producers) if view.key not in skip]
