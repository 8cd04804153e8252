"""The HTML report of a run (plotly, self-contained)."""

from knobs.report._page import render_report, write_report

__all__ = ["render_report", "write_report"]
