"""The self-contained report page: headline numbers first, then the figures, then the details.

Why one file with plotly.js inside: a run directory is copied, mailed and opened offline; a
report that needs a CDN shows nothing on a machine without internet.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any, Sequence

import plotly.graph_objects as go

from knobs.metrics import HEADLINE
from knobs.report import _figures as figures
from knobs.report._autopilot import autopilot_card, autopilot_section
from knobs.report._format import fmt
from knobs.trial import FrozenTrial

__all__ = ["write_report", "render_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f7fafc;color:#1a202c}
header{background:#1a365d;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.8}main{padding:20px 32px;max-width:1300px}
.cards{display:flex;gap:14px;flex-wrap:wrap;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:12px 18px;box-shadow:0 1px 3px rgba(0,0,0,.12);min-width:150px}
.card .v{font-size:26px;font-weight:600}.card .k{font-size:12px;color:#4a5568;text-transform:uppercase}
section{background:#fff;border-radius:8px;padding:10px 16px;margin-bottom:18px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
table{border-collapse:collapse;font-size:14px}td,th{padding:4px 10px;border-bottom:1px solid #e2e8f0;text-align:left}
.pass{color:#2f855a;font-weight:600}.fail{color:#c53030;font-weight:600}.warn{color:#b7791f;font-weight:600}
.row{display:flex;gap:18px;flex-wrap:wrap}
"""


def write_report(path: str | Path, *, summary: dict, trials: Sequence[FrozenTrial], events_path: Any = None) -> Path:
    """Render the report and write it atomically to ``path``."""
    path = Path(path)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_report(summary, trials), encoding="utf-8")
    os.replace(tmp, path)
    return path


def render_report(summary: dict, trials: Sequence[FrozenTrial]) -> str:
    """The whole page as one HTML string."""
    best = summary["best_trial"]
    best_trial = next((t for t in trials if t.number == best["number"]), None)
    search = summary["search"]
    figs: list[go.Figure] = []
    if best_trial is not None and len(best_trial.attrs.get("fold_curves") or []) > 1:
        curves = best_trial.attrs["fold_curves"]
        figs.append(figures.fold_curves(curves, f"Learning curves of the best trial (#{best['number']}) "
                                                f"on each of its {len(curves)} folds"))
    elif best_trial is not None and best_trial.attrs.get("curve"):
        figs.append(figures.learning_curves(best_trial.attrs["curve"], best.get("best_epoch"),
                                            f"Learning curves of the best trial (#{best['number']})"))
    figs.append(figures.search_history(trials, search["direction"], best["metric"]))
    figs.append(figures.all_curves(trials, best["number"]))
    figs.append(figures.parameter_effects(trials, search["space"], best["metric"]))
    plots = [_figure_html(fig, first=(i == 0)) for i, fig in enumerate(figs)]
    matrix = (summary["test"] or {}).get("confusion_matrix")
    side = _figure_html(figures.confusion(matrix), first=False) if matrix else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>knobs — {html.escape(summary['name'])}</title>
<style>{_CSS}</style></head><body>
<header><h1>knobs run · {html.escape(summary['name'])}</h1>
<p>{html.escape(str(summary['data']['source']))} · {summary['n_trials']} trials · sampler {html.escape(search['sampler'])} · pruner {html.escape(search['pruner'])}</p></header>
<main>{_cards(summary)}
<section>{plots[0]}</section>
<div class="row"><section style="flex:1">{_best_table(best)}</section><section style="flex:1">{_preflight_table(summary['preflight'])}</section>{f'<section>{side}</section>' if side else ''}</div>
{''.join(f'<section>{p}</section>' for p in plots[1:])}
{autopilot_section(summary.get("autopilot"))}
{_ensemble_section(summary)}
{_cv_section(summary)}
<section>{_vault_note(summary)}</section>
</main></body></html>"""


def _figure_html(fig: go.Figure, first: bool) -> str:
    # NOTE: plotly.js is embedded once (about 3.5 MB) so the page works offline.
    return fig.to_html(full_html=False, include_plotlyjs=True if first else False, config={"displaylogo": False})


def _cards(summary: dict) -> str:
    test, best = summary["test"] or {}, summary["best_trial"]
    items = []
    final = summary.get("final_model") or "single"
    if "accuracy" in test:
        items.append((f"test accuracy ({final})", f"{test['accuracy']:.4f}"))
        items.append(("balanced accuracy", f"{test['balanced_accuracy']:.4f}"))
        items.append(("test log loss", f"{test['log_loss']:.4f}"))
    elif "rmse" in test:
        items.append((f"test RMSE ({final})", f"{test['rmse']:.4g}"))
        items.append(("test R²", fmt(test["r2"])))
    else:
        items.append(("test split", "sealed"))
    cv = summary.get("cv")
    if cv:
        metric = cv["metric"]
        items.append((f"CV {metric} ({cv['k']} folds)", f"{cv['mean'][metric]:.4f} <small>± {cv['std'][metric]:.4f}</small>"))
    else:
        items.append((f"best {best['metric']}", f"{best['value']:.4f}"))
    card = autopilot_card(summary.get("autopilot"))
    if card:
        items.append(card)
    states = summary.get("states", {})
    items.append(("trials", f"{summary['n_trials']} <small>({states.get('pruned', 0)} pruned, {states.get('failed', 0)} failed)</small>"))
    if "seconds" in summary:
        items.append(("time", f"{summary['seconds']:.0f} s"))
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{v}</div></div>' for k, v in items) + "</div>"


def _best_table(best: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(fmt(v))}</td></tr>" for k, v in best["config"].items())
    extra = "".join(f"<tr><td><i>{k}</i></td><td>{html.escape(fmt(best.get(k)))}</td></tr>"
                    for k in ("value", "val_accuracy", "best_epoch", "epochs_run"))
    return f"<h3>Best trial #{best['number']}</h3><table>{rows}{extra}</table>"


def _preflight_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        cls = "pass" if r["passed"] else ("fail" if r["severity"] == "error" else "warn")
        word = "pass" if r["passed"] else ("FAIL" if cls == "fail" else "warning")
        rows.append(f"<tr><td>{html.escape(r['name'])}</td><td class='{cls}'>{word}</td>"
                    f"<td>{html.escape(r['message'])}</td></tr>")
    return f"<h3>Preflight</h3><table>{''.join(rows)}</table>"


def _ensemble_section(summary: dict) -> str:
    """Single best trial vs the ensemble, on validation (where the choice is made) and on test."""
    single, ensemble = summary.get("single"), summary.get("ensemble")
    if not single or not ensemble:
        return ""
    keys = [k for k in HEADLINE if k in single["val"]]
    head = "".join(f"<th>{k}</th>" for k in keys)
    rows = []
    for label, part in ((f"best single trial (#{single['trial']})", single), (f"ensemble of trials {ensemble['members']}", ensemble)):
        for split in ("val", "test"):
            if split in part:
                cells = "".join(f"<td>{fmt(part[split][k])}</td>" for k in keys)
                rows.append(f"<tr><td>{html.escape(label)}</td><td>{split}</td>{cells}</tr>")
    weights = ", ".join(f"#{n}: {w:.2f}" for n, w in zip(ensemble["members"], ensemble["weights"]) if w > 0)
    return (f"<section><h3>Ensemble (final model: {html.escape(str(summary.get('final_model')))})</h3>"
            f"<p>Greedy selection with replacement on validation log loss; weights {html.escape(weights)}. "
            f"The choice between the two was made on validation; test measures both once.</p>{_diversity_note(ensemble)}"
            f"<table><tr><th>model</th><th>split</th>{head}</tr>{''.join(rows)}</table></section>")


def _cv_section(summary: dict) -> str:
    """Fold mode: the best configuration's folds, their mean ± std, and the refit's test result."""
    cv = summary.get("cv")
    if not cv:
        return ""
    keys = [k for k in ("val_loss", "val_accuracy", "best_epoch") if k in cv["mean"]]
    head = "".join(f"<th>{k}</th>" for k in keys)
    rows = [f"<tr><td>fold {i + 1}</td>{''.join(f'<td>{fmt(row[k])}</td>' for k in keys)}</tr>"
            for i, row in enumerate(cv["per_fold"])]
    spread = "".join(f"<td><b>{cv['mean'][k]:.4f} ± {cv['std'][k]:.4f}</b></td>" for k in keys)
    rows.append(f"<tr><td><b>mean ± std</b></td>{spread}</tr>")
    refit, test = summary.get("refit"), summary.get("test")
    after = ""
    if refit and test:
        measured = ", ".join(f"{k} {fmt(test[k])}" for k in HEADLINE if k in test)
        after = (f"<p>Final model: trial #{refit['trial']}'s configuration refit on all {refit['rows']} non-test rows "
                 f"for {refit['epochs']} epochs (the median of the folds' best epochs {refit['fold_best_epochs']}). "
                 f"Test: {html.escape(measured)}.</p>")
    grouped = f" Folds keep the groups of <code>{html.escape(str(cv['groups']))}</code> whole." if cv.get("groups") else ""
    return (f"<section><h3>Cross-validation ({cv['k']} folds, best configuration)</h3>"
            f"<p>Each fold's preprocessing and standardizer were fitted on its training part only; the test split "
            f"took no part.{grouped} Sample standard deviation over folds (ddof = 1).</p>"
            f"<table><tr><th>fold</th>{head}</tr>{''.join(rows)}</table>{after}</section>")


def _diversity_note(ensemble: dict) -> str:
    """The binomial argument next to what the real members did (on validation)."""
    d = ensemble.get("diversity")
    if not d:
        return ""
    return (f"<p>Why ensembles help: {d['n_members']} independent classifiers with error {d['mean_member_error']:.3f} "
            f"would be wrong by majority only {d['independent_majority_error']:.4f} of the time. These members are "
            f"not independent (pairwise disagreement {d['pairwise_disagreement']:.3f}, error correlation "
            f"{fmt(d.get('error_correlation'))}); their majority vote errs {d['majority_vote_error']:.3f}.</p>")


def _vault_note(summary: dict) -> str:
    vault = summary["vault"]
    if summary["test"] is None:
        return (f"<h3>The vault</h3><p>The test split is sealed (fingerprint <code>{vault['fingerprint'][:16]}…</code>) "
                f"and has not been opened: this was a search only (<code>knobs tune</code>).</p>")
    warn = "" if vault["openings"] <= 1 else f" <span class='fail'>Opened {vault['openings']} times: the test score is no longer unbiased.</span>"
    return (f"<h3>The vault</h3><p>The test split was sealed before any training (fingerprint <code>{vault['fingerprint'][:16]}…</code>) "
            f"and opened {vault['openings']}× for the final evaluation of the final model ({html.escape(str(summary.get('final_model') or 'single'))}).{warn}</p>")
