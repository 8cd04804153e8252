"""Views of a run: the one description that both report.html and `knobs dashboard` render.

Why one seam: the static report and the live dashboard must show the same thing the same way. A
view is data (a plotly figure as JSON, or a small HTML fragment), computed from a `RunRecord`
by a *producer*; the report embeds the views once, the dashboard fetches them as JSON and
re-fetches while a run works. A producer that fails gives a view that says so — one broken
view never takes down the page.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from knobs.trial import FrozenTrial

__all__ = ["View", "RunRecord", "Producer", "SECTIONS", "collect_views"]

SECTIONS = ("summary", "search", "training", "diagnosis", "data", "test", "ensemble")
"""The page's sections, in order; a view names the one it belongs to."""


@dataclass(frozen=True)
class View:
    """One panel: a plotly figure (``{"data": [...], "layout": {...}}``, JSON-able) or an HTML
    fragment whose text is escaped (images as ``data:`` URIs), with a one-sentence ``note``
    saying what to look at."""

    key: str
    title: str
    section: str
    figure: dict[str, Any] | None = None
    html: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "section": self.section, "figure": self.figure,
                "html": self.html, "note": self.note}


@dataclass(frozen=True)
class RunRecord:
    """What views read. ``summary`` is summary.json's content; for a run still working it is
    partial (keys may be missing: producers check). ``events`` are events.jsonl's records (the
    per-epoch curves of running trials live there); ``path`` is the run directory, for files
    the pipeline writes beside the summary (None when rendering from memory only)."""

    summary: dict[str, Any]
    trials: Sequence[FrozenTrial]
    path: Path | None = None
    events: Sequence[dict[str, Any]] = field(default_factory=tuple)


Producer = Callable[[RunRecord], Iterable[View]]


def collect_views(run: RunRecord, producers: Sequence[Producer]) -> list[View]:
    """Every producer's views in order; a producer that raises becomes one view naming the error."""
    views: list[View] = []
    for producer in producers:
        try:
            views.extend(producer(run))
        except Exception as e:  # noqa: BLE001 - a broken view must not hide the others
            name = getattr(producer, "__module__", "?") + "." + getattr(producer, "__name__", "?")
            views.append(View(key=f"error:{name}", title="A view could not be drawn", section="summary",
                              html=f"<p class='fail'>{html.escape(name)}: {html.escape(type(e).__name__)}: "
                                   f"{html.escape(str(e))}</p>"))
    return views
