"""The run's tables and notes as views: headline cards, the best trial, preflight, the ensemble,
cross-validation, the vault (the autopilot's section is ``_autopilot``).

Why views and not page code: the dashboard shows exactly what report.html shows, so everything on
the page comes from a producer over a ``RunRecord``. Each producer reads a summary that may be
partial (a run still searching has no test result, no ensemble): it yields nothing for what is
not there yet. Fragments escape every string from the run, hold no script and no external URL,
and wrap wide tables in ``<div class="scroll">`` so a phone scrolls the table, not the page.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from knobs.metrics import HEADLINE
from knobs.report._autopilot import autopilot_card, autopilot_section
from knobs.report._format import fmt, fmt_metric
from knobs.report._views import RunRecord, View

__all__ = ["headline", "best_trial", "preflight", "autopilot", "ensemble", "cross_validation", "vault",
           "test_metrics", "metric_text"]

def metric_text(metrics: dict[str, Any], key: str) -> str:
    """One metric of a split as the page shows it: with n and its 95% interval when it has one
    (accuracy also with rows right over rows: ``0.978 (264/270; 95% CI 0.95–0.99)``)."""
    value, n = metrics.get(key), metrics.get("n")
    interval = (metrics.get("intervals") or {}).get(key)
    # NOTE: a multi-label split's accuracy is over its row-and-label entries, not rows right of n
    right = (round(value * n) if key == "accuracy" and isinstance(value, (int, float)) and n
             and "n_labels" not in metrics and "n_pixels" not in metrics else None)  # labels, pixels: not rows
    if interval is None:
        return fmt(value)
    return fmt_metric(value, interval, n=n, successes=right)


def headline(run: RunRecord) -> Iterable[View]:
    """The cards at the top: test metrics (with intervals), CV or the best validation score,
    the autopilot's walk, trials by state, time."""
    summary = run.summary
    if not summary:
        return
    test, best = summary.get("test") or {}, summary.get("best_trial") or {}
    final = summary.get("final_model") or "single"
    items: list[tuple[str, str]] = []
    if "mean_iou" in test:  # a class per pixel
        items.append((f"test mean IoU ({final})", _card_metric(test, "mean_iou")))
        items.append(("test pixel accuracy", _card_metric(test, "accuracy")))
        items.append(("test balanced accuracy", _card_metric(test, "balanced_accuracy")))
    elif "subset_accuracy" in test:  # several labels per row
        items.append((f"test macro-F1 ({final})", _card_metric(test, "macro_f1")))
        items.append(("test subset accuracy", _card_metric(test, "subset_accuracy")))
        items.append(("test log loss", _card_metric(test, "log_loss")))
    elif "accuracy" in test:
        items.append((f"test accuracy ({final})", _card_metric(test, "accuracy")))
        items.append(("test balanced accuracy", _card_metric(test, "balanced_accuracy")))
        items.append(("test log loss", _card_metric(test, "log_loss")))
    elif "per_target" in test:  # several targets, each in its own units: R² is the one comparable figure
        k = len(test["per_target"]["rmse"])
        items.append((f"test R², mean of {k} targets ({final})", _card_metric(test, "r2")))
        items.append(("test R², worst target", html.escape(fmt(min((v for v in test["per_target"]["r2"]
                                                                         if v is not None), default=None)))))
    elif "rmse" in test:
        items.append((f"test RMSE ({final})", _card_metric(test, "rmse")))
        items.append(("test R²", _card_metric(test, "r2")))
    elif "test" in summary and summary["test"] is None:
        items.append(("test split", "sealed"))
    cv = summary.get("cv")
    if cv:
        metric = cv["metric"]
        items.append((f"CV {metric} ({cv['k']} folds)",
                      f"{cv['mean'][metric]:.4f} <small>± {cv['std'][metric]:.4f}</small>"))
    elif isinstance(best.get("value"), (int, float)):
        items.append((f"best {best.get('metric', 'value')}", f"{best['value']:.4f}"))
    card = autopilot_card(summary.get("autopilot"))
    if card:
        items.append(card)
    states = summary.get("states") or _count_states(run.trials)  # a summary still being written has none
    n_trials = summary.get("n_trials", len(run.trials))
    items.append(("trials", f"{n_trials} <small>({states.get('pruned', 0)} pruned, "
                            f"{states.get('failed', 0)} failed)</small>"))
    if isinstance(summary.get("seconds"), (int, float)):
        items.append(("time", f"{summary['seconds']:.0f} s"))
    cards = "".join(f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{v}</div></div>'
                    for k, v in items)
    yield View("headline", "At a glance", "summary", html=f'<div class="cards">{cards}</div>')


def _count_states(trials) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in trials:
        name = getattr(trial.state, "name", str(trial.state)).lower()
        counts[name] = counts.get(name, 0) + 1
    return counts


def _card_metric(metrics: dict[str, Any], key: str) -> str:
    """The value big, its count and interval small underneath."""
    value = metrics.get(key)
    if not isinstance(value, (int, float)):
        return html.escape(fmt(value))
    text = metric_text(metrics, key)
    number, _, rest = text.partition(" (")
    return html.escape(number) + (f"<small>{html.escape('(' + rest)}</small>" if rest else "")


def best_trial(run: RunRecord) -> Iterable[View]:
    best = run.summary.get("best_trial")
    if not best or best.get("number") is None:
        return
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(fmt(v))}</td></tr>"
                   for k, v in (best.get("config") or {}).items())
    extra = "".join(f"<tr><td><i>{html.escape(k)}</i></td><td>{html.escape(fmt(best.get(k)))}</td></tr>"
                    for k in ("value", "val_accuracy", "best_epoch", "epochs_run") if k in best)
    yield View("best_trial", f"Best trial #{best['number']}", "search",
               html=f'<div class="scroll"><table>{rows}{extra}</table></div>',
               note=f"value is validation {html.escape(str(best.get('metric', '')))}, at the best epoch.")


def preflight(run: RunRecord) -> Iterable[View]:
    results = run.summary.get("preflight")
    if not results:
        return
    rows = []
    for r in results:
        cls = "pass" if r.get("passed") else ("fail" if r.get("severity") == "error" else "warn")
        word = "pass" if r.get("passed") else ("FAIL" if cls == "fail" else "warning")
        rows.append(f"<tr><td>{html.escape(str(r.get('name', '')))}</td><td class='{cls}'>{word}</td>"
                    f"<td>{html.escape(str(r.get('message', '')))}</td></tr>")
    yield View("preflight", "Preflight checks", "diagnosis",
               html=f"<div class='scroll'><table>{''.join(rows)}</table></div>")


def autopilot(run: RunRecord) -> Iterable[View]:
    section = autopilot_section(run.summary.get("autopilot"))
    if section:
        yield View("autopilot", "Autopilot", "search", html=section)


def test_metrics(run: RunRecord) -> Iterable[View]:
    """Every headline metric of the final model on test, each with n and its 95% interval."""
    test = run.summary.get("test")
    keys = [k for k in HEADLINE if k in (test or {})]
    if not keys:
        return
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(metric_text(test, k))}</td></tr>"
                   for k in keys)
    several = "n_labels" in test
    recalls = (_label_rows(test, (run.summary.get("data") or {}).get("class_names"), run.summary.get("threshold"))
               if several else _target_rows(test, run.summary) if "per_target" in test else
               _iou_rows(test, (run.summary.get("data") or {}).get("class_names")) if "per_class_iou" in test else
               _recall_rows(test))
    final = run.summary.get("final_model") or "single"
    how = ("a percentile bootstrap over rows for each (accuracy: the share of row-and-label entries right; subset "
           f"accuracy: rows with all {test['n_labels']} labels right; a label is set where its probability is at least "
           f"{fmt(test.get('threshold'))})" if several else
           f"a percentile bootstrap over images for each (the metrics count the {test['n_pixels']} labelled pixels; "
           f"resampling images, not pixels, since a mask's pixels are not independent)" if "n_pixels" in test else
           "Wilson score for accuracy and recall, a percentile bootstrap over rows for the rest")
    yield View("test_metrics", f"Test metrics of the final model ({final})", "test",
               html=f"<div class='scroll'><table>{rows}</table>{recalls}{_tuned_cut(run.summary)}</div>",
               note=f"One opening of the vault, n = {test.get('n')} rows. 95% intervals: {how}.")


def _tuned_cut(summary: dict[str, Any]) -> str:
    """A binary run's decision threshold tuned on validation (``balance.threshold``) and what it gave on test, beside
    the metrics at 0.5 (a multi-label run's cuts are in its label table)."""
    tuned = summary.get("threshold") or {}
    if tuned.get("threshold") is None or not tuned.get("test"):
        return ""
    measured = ", ".join(f"{k} {metric_text(tuned['test'], k)}" for k in ("balanced_accuracy", "macro_f1", "accuracy")
                         if k in tuned["test"])
    return (f"<p>Decision threshold tuned on validation for {html.escape(str(tuned.get('metric')))}: "
            f"{html.escape(fmt(tuned['threshold']))} (validation {html.escape(fmt(tuned.get('val_score')))}); on "
            f"test at that threshold: {html.escape(measured)}.</p>")


def _iou_rows(test: dict[str, Any], names: list[str] | None) -> str:
    """A segmentation's classes: the test pixels of each and its IoU (intersection over union)."""
    iou, support = test["per_class_iou"], test.get("support") or []
    names = names if names and len(names) == len(iou) else [str(k) for k in range(len(iou))]
    cells = "".join(f"<tr><td>{html.escape(str(name))}</td><td>{html.escape(fmt(n))}</td><td>{html.escape(fmt(v))}</td>"
                    f"</tr>" for name, n, v in zip(names, support, iou))
    return f"<table><tr><th>class</th><th>test pixels</th><th>IoU</th></tr>{cells}</table>"


def _target_rows(test: dict[str, Any], summary: dict[str, Any]) -> str:
    """A regression of several targets: each target's RMSE, MAE (in its own units) and R²."""
    per = test["per_target"]
    named = ((summary.get("data") or {}).get("loading") or {}).get("target")
    names = named if isinstance(named, list) and len(named) == len(per["rmse"]) else range(len(per["rmse"]))
    cells = "".join(f"<tr><td>{html.escape(str(name))}</td>" + "".join(
        f"<td>{html.escape(fmt(per[key][k]))}</td>" for key in ("rmse", "mae", "r2")) + "</tr>"
        for k, name in enumerate(names))
    return f"<table><tr><th>target</th><th>rmse</th><th>mae</th><th>r2</th></tr>{cells}</table>"


def _label_rows(test: dict[str, Any], names: list[str] | None, tuned: dict[str, Any] | None = None) -> str:
    """A multi-label split's labels: how many test rows carry each, and its F1 — beside each label's threshold tuned
    on validation and the F1 it gave on test, when the run tuned them (``balance.threshold``)."""
    f1, support = test.get("per_label_f1") or [], test.get("support") or []
    names = names if names and len(names) == len(f1) else [f"label {k}" for k in range(len(f1))]
    cuts = (tuned or {}).get("thresholds")
    tuned_f1 = ((tuned or {}).get("test") or {}).get("per_label_f1") if cuts else None
    extra = ([f"<td>{html.escape(fmt(c))}</td><td>{html.escape(fmt(v))}</td>" for c, v in zip(cuts, tuned_f1)]
             if tuned_f1 else [""] * len(f1))
    cells = "".join(f"<tr><td>{html.escape(str(name))}</td><td>{html.escape(fmt(n))}</td><td>{html.escape(fmt(v))}</td>"
                    f"{more}</tr>" for name, n, v, more in zip(names, support, f1, extra))
    head = "<th>label</th><th>test rows with it</th><th>F1 (at 0.5)</th>" + (
        f"<th>threshold tuned for {html.escape(str(tuned.get('metric')))}</th><th>F1 at it</th>" if tuned_f1 else "")
    return f"<table><tr>{head}</tr>{cells}</table>" if cells else ""


def _recall_rows(test: dict[str, Any]) -> str:
    recall = test.get("per_class_recall")
    if not recall:
        return ""
    intervals = (test.get("intervals") or {}).get("per_class_recall") or [None] * len(recall)
    support = test.get("support") or [None] * len(recall)
    matrix = test.get("confusion_matrix")
    cells = []
    for c, (value, interval, n) in enumerate(zip(recall, intervals, support)):
        right = matrix[c][c] if matrix else None
        text = fmt_metric(value, interval, n=n, successes=right) if interval else fmt(value)
        cells.append(f"<tr><td>class {c}</td><td>{html.escape(text)}</td></tr>")
    return f"<table><tr><th>recall of</th><th></th></tr>{''.join(cells)}</table>"


def ensemble(run: RunRecord) -> Iterable[View]:
    """Single best trial vs the ensemble, on validation (where the choice is made) and on test."""
    summary = run.summary
    single, ens = summary.get("single"), summary.get("ensemble")
    if not single or not ens:
        return
    keys = [k for k in HEADLINE if k in single["val"]]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = []
    for label, part in ((f"best single trial (#{single['trial']})", single),
                        (f"ensemble of trials {ens['members']}", ens)):
        for split in ("val", "test"):
            if split in part:
                cells = "".join(f"<td>{html.escape(metric_text(part[split], k))}</td>" for k in keys)
                rows.append(f"<tr><td>{html.escape(label)}</td><td>{split}</td>{cells}</tr>")
    weights = ", ".join(f"#{n}: {w:.2f}" for n, w in zip(ens["members"], ens["weights"]) if w > 0)
    body = (f"<p>Greedy selection with replacement on validation log loss; weights {html.escape(weights)}. "
            f"The choice between the two was made on validation; test measures both once.</p>{_diversity_note(ens)}"
            f"<div class='scroll'><table><tr><th>model</th><th>split</th>{head}</tr>{''.join(rows)}</table></div>")
    yield View("ensemble", f"Ensemble (final model: {summary.get('final_model')})", "ensemble", html=body)


def _diversity_note(ensemble: dict) -> str:
    """The binomial argument next to what the real members did (on validation)."""
    d = ensemble.get("diversity")
    if not d:
        return ""
    over = f" (errors counted over {d['over']})" if d.get("over") else ""
    return (f"<p>Why ensembles help{over}: {d['n_members']} independent classifiers with error {d['mean_member_error']:.3f} "
            f"would be wrong by majority only {d['independent_majority_error']:.4f} of the time. These members are "
            f"not independent (pairwise disagreement {d['pairwise_disagreement']:.3f}, error correlation "
            f"{html.escape(fmt(d.get('error_correlation')))}); their majority vote errs {d['majority_vote_error']:.3f}.</p>")


def cross_validation(run: RunRecord) -> Iterable[View]:
    """Fold mode: the best configuration's folds, their mean ± std, and the refit's test result."""
    summary = run.summary
    cv = summary.get("cv")
    if not cv:
        return
    keys = [k for k in ("val_loss", "val_accuracy", "best_epoch") if k in cv["mean"]]
    head = "".join(f"<th>{k}</th>" for k in keys)
    rows = [f"<tr><td>fold {i + 1}</td>{''.join(f'<td>{html.escape(fmt(row[k]))}</td>' for k in keys)}</tr>"
            for i, row in enumerate(cv["per_fold"])]
    spread = "".join(f"<td><b>{cv['mean'][k]:.4f} ± {cv['std'][k]:.4f}</b></td>" for k in keys)
    rows.append(f"<tr><td><b>mean ± std</b></td>{spread}</tr>")
    refit, test = summary.get("refit"), summary.get("test")
    after = ""
    if refit and test:
        measured = ", ".join(f"{k} {metric_text(test, k)}" for k in HEADLINE if k in test)
        after = (f"<p>Final model: trial #{refit['trial']}'s configuration refit on all {refit['rows']} non-test rows "
                 f"for {refit['epochs']} epochs (the median of the folds' best epochs {refit['fold_best_epochs']}). "
                 f"Test: {html.escape(measured)}.</p>")
    grouped = f" Folds keep the groups of <code>{html.escape(str(cv['groups']))}</code> whole." if cv.get("groups") else ""
    yield View("cv", f"Cross-validation ({cv['k']} folds, best configuration)", "test",
               html=(f"<p>Each fold's preprocessing and standardizer were fitted on its training part only; the test "
                     f"split took no part.{grouped} Sample standard deviation over folds (ddof = 1).</p>"
                     f"<div class='scroll'><table><tr><th>fold</th>{head}</tr>{''.join(rows)}</table></div>{after}"))


def vault(run: RunRecord) -> Iterable[View]:
    """The vault in a sentence, from summary.json — where the run directory's vault log is not at
    hand (a page rendered from memory); with it, ``_data_views.vault_log`` shows the whole log."""
    summary = run.summary
    sealed = summary.get("vault")
    if not sealed or "test" not in summary:
        return
    if run.path is not None and (run.path / "vault" / "fingerprint.json").is_file():
        return
    fingerprint = html.escape(str(sealed.get("fingerprint", ""))[:16])
    if summary["test"] is None:
        text = (f"<p>The test split is sealed (fingerprint <code>{fingerprint}…</code>) and has not been opened: "
                f"this was a search only (<code>knobs tune</code>).</p>")
    else:
        openings = sealed.get("openings", 0)
        warn = ("" if openings <= 1 else
                f" <span class='fail'>Opened {openings} times: the test score is no longer unbiased.</span>")
        text = (f"<p>The test split was sealed before any training (fingerprint <code>{fingerprint}…</code>) and "
                f"opened {openings}× for the final evaluation of the final model "
                f"({html.escape(str(summary.get('final_model') or 'single'))}).{warn}</p>")
    yield View("vault", "The vault", "test", html=text)
