"""``knobs dashboard``: a local, read-only web app over every run in a runs folder, live.

It reads run directories (``summary.json``, ``events.jsonl``, ``study.db`` read-only) into
``knobs.report.RunRecord``s and shows ``knobs.report.run_views`` of each — the views report.html
shows, so every producer added there appears here — plus its own server-side views where a large
study needs them (a paged trials table, the history, aggregated learning curves), a comparison of
two runs and seed groups. See docs/architecture.md, "The dashboard".
"""

from knobs.dashboard._app import create_app
from knobs.dashboard._runs import LoadedRun, RunsFolder, UnknownRun
from knobs.dashboard._serve import Server, serve

__all__ = ["create_app", "serve", "Server", "RunsFolder", "LoadedRun", "UnknownRun"]
