"""The report's autopilot section: what the walk asked, what it changed, what it kept.

Why a table rather than a figure: each step is one decision with a reason — the problem it
answered, the knob, the values before and after, the validation metric before and after, and
the paired gain against its margin — and a person reads those as rows.
"""

from __future__ import annotations

import html
from typing import Any

from knobs.report._format import fmt

__all__ = ["autopilot_section", "autopilot_card"]

_CLASS = {"kept": "pass", "rejected": "warn", "failed": "fail"}


def autopilot_card(autopilot: dict | None) -> tuple[str, str] | None:
    """(title, value) of the headline card: the metric from the start to the end of the walk."""
    if not autopilot:
        return None
    start, end = autopilot["start"]["value"], autopilot["end"]["value"]
    return (f"autopilot {autopilot['metric']}",
            f"{start:.4f} → {end:.4f} <small>({autopilot['n_kept']}/{autopilot['n_steps']} kept)</small>")


def autopilot_section(autopilot: dict | None) -> str:
    """The section's body, an HTML fragment ('' when the run had no autopilot); the page gives it its heading."""
    if not autopilot:
        return ""
    start, end = autopilot["start"], autopilot["end"]
    head = "".join(f"<th>{h}</th>" for h in ("step", "trial", "question", "problem", "what was found", "change",
                                             f"{autopilot['metric']} before → after", "gain ± se (margin)", "verdict"))
    rows = "".join(_row(s) for s in autopilot["steps"])
    table = f"<div class='scroll'><table><tr>{head}</tr>{rows}</table></div>" if rows else "<p>No change was tried.</p>"
    return (f"<p>Starting from trial #{start['trial']} ({fmt(start['value'])}), the "
            f"autopilot asked of each configuration: does it fit the training data, does it generalize? It trained "
            f"one recommended change at a time (same seed) and kept it only when the validation metric improved by "
            f"more than {_rule(autopilot)}. It ended on trial #{end['trial']} ({fmt(end['value'])}) with "
            f"{autopilot['n_kept']} of {autopilot['n_steps']} changes kept; stopped: "
            f"<b>{html.escape(autopilot['stopped'])}</b>. All decisions were made on validation; the test split "
            f"stayed sealed.</p>{table}{_rounds(autopilot.get('rounds') or [])}{_kept_config(autopilot)}")


def _row(s: dict[str, Any]) -> str:
    cls = _CLASS.get(s["outcome"], "fail")
    gain = (f"{s['gain']:+.4g} ± {s['se']:.2g} ({s['margin']:.2g})" if s.get("gain") is not None
            else html.escape(s.get("why", "")))
    # NOTE: the change with its reason (a measured remedy says what it follows: the noise scale's batch, 2/λ)
    change = html.escape(s["change"]) + (f"<br><small>{html.escape(s['reason'])}</small>" if s.get("reason") else "")
    cells = (str(s["step"]), f"#{s['trial']}", s["question"], s["code"], s.get("found", ""), change,
             f"{fmt(s['value_before'])} → {fmt(s['value_after'])}", gain)
    return ("<tr>" + "".join(f"<td>{html.escape(c) if i not in (5, 7) else c}</td>" for i, c in enumerate(cells))
            + f"<td class='{cls}'>{html.escape(s['outcome'])}</td></tr>")


def _rounds(rounds: list[dict]) -> str:
    """The questions of this invocation's rounds, with the problems the table has no remedy for."""
    if not rounds:
        return ""
    items = []
    for r in rounds:
        other = "; ".join(f"{p['code']}: {p.get('action', '')}" for p in r["not_actionable"])
        items.append(f"<li>trial #{r['trial']}: fits? <b>{_yes(r['fits'], r['fit_problems'])}</b>; generalizes? "
                     f"<b>{_yes(r['generalizes'], r['generalize_problems'])}</b>"
                     + (f" — not for the autopilot to change: {html.escape(other)}" if other else "") + "</li>")
    return f"<p>The questions asked:</p><ul>{''.join(items)}</ul>"


def _kept_config(autopilot: dict) -> str:
    start, end = autopilot["start"]["config"], autopilot["end"]["config"]
    changed = {k: v for k, v in end.items() if start.get(k) != v}
    if not changed:
        return "<p>The configuration is unchanged.</p>"
    return "<p>Kept changes: " + html.escape(", ".join(f"{k} = {fmt(v)}" for k, v in changed.items())) + "</p>"


def _yes(ok: bool, problems: list[dict]) -> str:
    return "yes" if ok else "no (" + html.escape(", ".join(p["code"] for p in problems)) + ")"


def _rule(autopilot: dict) -> str:
    return (f"the larger of min_gain = {autopilot['min_gain']:g} and {autopilot['margin_se']:g} standard errors "
            f"of the paired per-row validation difference")
