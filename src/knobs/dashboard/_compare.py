"""Runs next to each other: two runs side by side, and runs that differ only by seed as mean ± spread.

Why group by the logged config: a seed sweep is several runs of one configuration; what the
practitioner wants is the spread those seeds give (is a 0.3 % gain more than the noise?). Two runs
belong together when their ``run_start`` configs are equal once ``seed``, ``name`` and
``runs_dir`` are left out.
"""

from __future__ import annotations

import html
import math
import statistics
from typing import Any, Iterable, Sequence

from knobs.dashboard._figures import LEGEND_ABOVE as _ABOVE
from knobs.dashboard._figures import base_layout, integer_axis
from knobs.dashboard._runs import LoadedRun, trial_curve
from knobs.report import View
from knobs.report._format import fmt
from knobs.trial import TrialState

__all__ = ["compare", "seed_groups", "flat", "IGNORED_FOR_GROUPS"]

IGNORED_FOR_GROUPS = ("seed", "name", "runs_dir")


def flat(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"search": {"sampler": "tpe"}}`` → ``{"search.sampler": "tpe"}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def compare(a: LoadedRun, b: LoadedRun) -> list[View]:
    """Two runs side by side: their figures and their configs' differences, the best so far of both
    and the best trials' learning curves on shared axes."""
    views = [_side_by_side(a, b)]
    history = [trace for run, dash in ((a, "solid"), (b, "dash")) for trace in _best_so_far_trace(run, dash)]
    if history:
        views.append(View("compare:history", "Best so far", "search", figure={"data": history, "layout": base_layout(
            {"xaxis": integer_axis("trial", _largest_x(history)), "yaxis": {"title": {"text": a.metric}},
             "legend": _ABOVE})}))
    curves = [trace for run, dash in ((a, "solid"), (b, "dash")) for trace in _best_curve_traces(run, dash)]
    if curves:
        views.append(View("compare:curves", "Best trials' learning curves", "training", figure={"data": curves,
                          "layout": base_layout({"xaxis": integer_axis("epoch", _largest_x(curves)),
                                                 "yaxis": {"title": {"text": "loss"}}, "legend": _ABOVE})}))
    return views


def _side_by_side(a: LoadedRun, b: LoadedRun) -> View:
    rows = [("state", a.state, b.state), ("trials", len(a.trials), len(b.trials)),
            ("source", a.source, b.source), (f"best {a.metric}", _best_value(a), _best_value(b)),
            ("best trial", _best_number(a), _best_number(b))]
    for key in sorted(set(_test(a)) | set(_test(b))):
        rows.append((f"test {key}", _test(a).get(key), _test(b).get(key)))
    fa, fb = flat(a.config), flat(b.config)
    differing = [k for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k) and k != "name"]
    rows += [(k, fa.get(k, "—"), fb.get(k, "—")) for k in differing]
    note = f"{len(differing)} config key(s) differ" if a.config and b.config else "a run has no logged config"
    return View("compare:table", f"{a.name} and {b.name}", "summary", html=_table(["", a.name, b.name], rows), note=note)


def _best_so_far_trace(run: LoadedRun, dash: str) -> list[dict[str, Any]]:
    xs, ys = _best_so_far(run)
    if not xs:
        return []
    return [{"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": run.name, "line": {"shape": "hv", "dash": dash},
             "hovertemplate": f"{html.escape(run.name)}: best %{{y:.4g}} up to trial #%{{x}}<extra></extra>"}]


def _best_curve_traces(run: LoadedRun, dash: str) -> list[dict[str, Any]]:
    best = run.best
    if best is None:
        return []
    curve = trial_curve(best, run.events, run.metric)
    return [{"type": "scatter", "mode": "lines", "x": curve["epoch"], "y": curve[key],
             "name": f"{run.name} #{best.number} {key.replace('_', ' ')}", "line": {"dash": dash, "width": width},
             "hovertemplate": f"{html.escape(run.name)} trial #{best.number} epoch %{{x}}: {key} %{{y:.4g}}<extra></extra>"}
            for key, width in (("val_loss", 2), ("train_loss", 1)) if any(v is not None for v in curve.get(key) or [])]


def _largest_x(traces: list[dict[str, Any]]) -> float:
    return max((x for trace in traces for x in trace["x"] if isinstance(x, (int, float))), default=1)


def seed_groups(runs: Sequence[LoadedRun]) -> View:
    """Runs that differ only by seed, each group as mean ± sample std of its figures."""
    groups: dict[str, list[LoadedRun]] = {}
    for run in runs:
        if run.config:
            key = repr(sorted((k, repr(v)) for k, v in flat(run.config).items()
                              if k.split(".")[0] not in IGNORED_FOR_GROUPS))
            groups.setdefault(key, []).append(run)
    found = [members for members in groups.values() if len(members) > 1]
    if not found:
        return View("groups", "Runs that differ only by seed", "summary",
                    html="<p>No two runs share a configuration apart from their seed.</p>",
                    note="start runs of one config with different --seed to see their spread here")
    parts = []
    for members in found:
        figures = {f"best {members[0].metric}": [_best_value(r) for r in members]}
        for r in members:
            for key, value in _test(r).items():
                figures.setdefault(f"test {key}", [])
        for key in list(figures):
            if key.startswith("test "):
                figures[key] = [_test(r).get(key[5:]) for r in members]
        rows = [(key, _spread(values), ", ".join(fmt(v) for v in values)) for key, values in figures.items()]
        seeds = ", ".join(f"{r.name} (seed {r.config.get('seed', '?')})" for r in members)
        parts.append(f"<h4>{len(members)} runs: {html.escape(seeds)}</h4>" + _table(["", "mean ± std", "each"], rows))
    return View("groups", "Runs that differ only by seed", "summary", html="".join(parts),
                note=f"{len(found)} group(s); std is the sample standard deviation over the runs")


def _best_so_far(run: LoadedRun) -> tuple[list, list]:
    sign = -1.0 if run.direction == "maximize" else 1.0
    xs, ys, best = [], [], None
    for t in sorted(run.trials, key=lambda t: t.number):
        if t.state is TrialState.COMPLETE and _num(t.value) is not None and (best is None or sign * t.value < sign * best):
            best = t.value
            xs.append(t.number)
            ys.append(best)
    return xs, ys


def _best_value(run: LoadedRun) -> float | None:
    best = run.record.summary.get("best_trial")
    value = best.get("value") if isinstance(best, dict) else None
    return _num(value) if value is not None else (run.best.value if run.best is not None else None)


def _best_number(run: LoadedRun) -> Any:
    return run.best.number if run.best is not None else None


def _test(run: LoadedRun) -> dict[str, float]:
    """The scalar test metrics of a finished run (none while its vault is sealed)."""
    test = run.record.summary.get("test")
    if not isinstance(test, dict):
        return {}
    return {k: v for k, v in test.items() if _num(v) is not None}


def _spread(values: Iterable[Any]) -> str:
    numbers = [v for v in values if _num(v) is not None]
    if not numbers:
        return "—"
    if len(numbers) == 1:
        return fmt(numbers[0])
    return f"{fmt(statistics.fmean(numbers))} ± {fmt(statistics.stdev(numbers))} (n={len(numbers)})"


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<div class='scroll'><table class='grid'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"




def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        else None
