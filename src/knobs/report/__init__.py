"""The HTML report of a run (plotly, self-contained) and the views it shares with the dashboard."""

from knobs.report._findings import Finding, findings
from knobs.report._page import render_report, write_report
from knobs.report._run_views import run_views
from knobs.report._search_views import sorter_js
from knobs.report._views import RunRecord, View

__all__ = ["findings", "Finding", "render_report", "write_report", "run_views", "sorter_js", "RunRecord", "View"]
