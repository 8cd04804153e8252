"""The trials table: every trial as a row, sorted, filtered and paged on the server.

Why on the server: a study of 10,000 trials is 10,000 rows with configurations and tracebacks;
the page asks for one page at a time (sorted and filtered over all of them), so it opens at once
whatever the study's size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

from knobs.trial import FrozenTrial, TrialState

__all__ = ["TableQuery", "trial_row", "table_rows", "trials_page", "SORT_KEYS", "MAX_PAGE"]

SORT_KEYS = ("number", "state", "value", "epochs", "seconds")
"""Columns the table sorts by, besides any parameter (``param:<name>``)."""

MAX_PAGE = 500


@dataclass(frozen=True)
class TableQuery:
    """One page of the table: sort key and order, states shown, a text filter, the page."""

    sort: str = "number"
    descending: bool = False
    states: frozenset[str] = frozenset()  # empty: every state
    text: str = ""  # kept if it appears in the configuration, the state or the fail reason
    page: int = 0
    per_page: int = 50


def trial_row(trial: FrozenTrial, now: float | None = None) -> dict[str, Any]:
    """One trial as the table shows it."""
    attrs = trial.attrs
    end = trial.finished_at if trial.finished_at is not None else (now or time.time())
    seconds = None if trial.started_at is None else max(0.0, end - trial.started_at)
    epochs = attrs.get("epochs_run")
    if not isinstance(epochs, int):
        curve = attrs.get("curve")
        epochs = len(curve.get("epoch") or []) if isinstance(curve, dict) and curve.get("epoch") else (
            len(trial.intermediate) or None)
    return {"number": trial.number, "state": trial.state.value, "value": _finite(trial.value),
            "config": trial.config, "epochs": epochs, "seconds": None if seconds is None else round(seconds, 2),
            "best_epoch": attrs.get("best_epoch"),
            "fail_reason": attrs.get("fail_reason") if trial.state is TrialState.FAILED else None,
            "traceback": attrs.get("traceback") if trial.state is TrialState.FAILED else None,
            "pruned_step": trial.last_step if trial.state is TrialState.PRUNED else None,
            "retry_of": attrs.get("retry_of"), "fixed": bool(attrs.get("fixed"))}


def table_rows(trials: Sequence[FrozenTrial]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every trial's row and the parameter names (the table's columns), computed once per state of
    the study by the caller's cache."""
    now = time.time()
    return [trial_row(t, now) for t in trials], sorted({name for t in trials for name in t.config})


def trials_page(table: tuple[list[dict[str, Any]], list[str]], query: TableQuery, direction: str) -> dict[str, Any]:
    """The rows of one page, with how many trials there are and how many the filter kept."""
    rows, params = table
    total = len(rows)
    if query.states:
        rows = [r for r in rows if r["state"] in query.states]
    if query.text:
        needle = query.text.lower()
        rows = [r for r in rows if needle in _searchable(r)]
    rows = sorted(rows, key=_sort_key(query.sort), reverse=query.descending)
    if query.sort not in ("number",):  # NOTE: rows without the key go last, whatever the order
        rows.sort(key=lambda r: _missing(r, query.sort))
    per_page = max(1, min(MAX_PAGE, query.per_page))
    pages = max(1, math.ceil(len(rows) / per_page))
    page = max(0, min(query.page, pages - 1))
    return {"total": total, "matched": len(rows), "page": page, "pages": pages, "per_page": per_page,
            "params": params, "direction": direction, "sort": query.sort, "descending": query.descending,
            "rows": rows[page * per_page:(page + 1) * per_page]}


def _searchable(row: dict[str, Any]) -> str:
    config = " ".join(f"{k}={v}" for k, v in row["config"].items())
    return f"#{row['number']} {row['state']} {config} {row['fail_reason'] or ''}".lower()


def _value_of(row: dict[str, Any], key: str) -> Any:
    if key.startswith("param:"):
        return row["config"].get(key[len("param:"):])
    return row.get(key)


def _missing(row: dict[str, Any], key: str) -> bool:
    return _value_of(row, key) is None


def _sort_key(key: str):
    def of(row: dict[str, Any]) -> tuple:
        value = _value_of(row, key)
        if value is None:
            return (2, 0, "", row["number"])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return (1, 0, str(value), row["number"])
        return (0, value, "", row["number"])

    return of


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
