"""What the run says about the next run: findings computed from a finished (or running) run.

Why here, as pure functions of a `RunRecord`: the same advice goes into summary.json
(``advice``), the terminal's last lines, report.html and the dashboard, and it must be testable on
hand-made runs without training anything. Each finding has the shape of `knobs.diagnose.Finding`
(code, severity, message, evidence, action) so one renderer shows both; it is its own type
because knobs.report and knobs.diagnose are independent packages of one layer (pyproject.toml's
import-linter contracts). The thresholds restate the diagnosis' where they mean the same thing
(``OVERFIT_GAP``, ``SWING``: tests/test_report_findings.py checks that they agree).

What is looked at, in the order a practitioner would (Bengio 2012; CS231n's babysitting notes):
- the search space: the best value on or near a bound (the optimum may lie outside; a warning only when the top
  trials sit there more often than the rest do, since a sampler can pile trials on a bound of a parameter that
  barely matters), too few
  trials for the space's dimension, many failures with one reason, most trials pruned;
- training: trials stopped by the epoch cap while still improving, the best trial overfitting
  (validation loss rising while training loss falls) or underfitting (training loss high
  against the chance loss ln C);
- the final model: the ensemble's gain against its prediction cost, the validation-to-test gap
  against its sampling noise (a two-proportion z-test; Wilson intervals as evidence).

Every message carries the run's numbers; every action says what to change in the config.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from knobs.report._importance import Axis, axes
from knobs.report._views import RunRecord
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Finding", "findings", "wilson", "SEVERITIES", "CHECKS",
           "EDGE", "BOUND_P", "OVERFIT_GAP", "SWING", "RISE", "FALL", "MCNEMAR_ROWS", "UNDERFIT_SHARE", "TRIALS_PER_PARAM"]

SEVERITIES = ("info", "warning", "error")
EDGE = 0.05
"""A value within 5% of a parameter's range from a bound (in log space for log axes) sits on it."""
BOUND_P = 0.1
"""The chance, below which a best value on a bound is a warning, that the top trials would hold at least as many of
the trials on that bound if they were a random draw of the complete trials (``enrichment_p``). Without it a
parameter that barely matters warned too: Bayes's acquisition runs into the bounds of a flat axis, and on a search
of 40 trials 21-28 of the 30 model-guided ones sat on one, so the best did as well."""
OVERFIT_GAP = 0.10
"""Validation minus training loss at the best epoch, in chance losses, that counts as high
variance (knobs.diagnose's, the autopilot's ``generalization_gap``)."""
SWING = 0.03
"""A rise of the validation loss, in chance losses, that is more than a wobble (knobs.diagnose's)."""
UNDERFIT_SHARE = 0.2
"""Training loss at the best epoch above this share of the chance loss: the model fits its own
training rows poorly (for 10 classes: above 0.46, i.e. the true class gets under 63% on average)."""
RISE, FALL = 0.05, 0.2
"""Overfitting after the best epoch: the later validation losses average 5% above the best (or
one rises by ``SWING`` chance losses) while the training loss falls by another 20%: the model
keeps memorizing its training rows and the validation rows stop following."""
TRIALS_PER_PARAM = 10
"""Loeppky, Sacks & Welch (2009): about 10 evaluations per dimension to model a response surface."""
MCNEMAR_ROWS = 4
"""The smallest net gain in rows that a paired test (McNemar's, 95%) can call real: with g rows
gained and none lost, chi² = g² / g = g > 3.84 needs g ≥ 4. A smaller gain is noise whatever
the rows were."""
_WINDOW = 5  # the last epochs whose validation slope says "still improving"
_Z = 1.959963984540054  # two-sided 95%


@dataclass(frozen=True)
class Finding:
    """One conclusion about the run: a stable ``code``, ``severity`` (info, warning, error), a
    ``message`` with the run's numbers, the ``evidence`` (JSON-able numbers) and the ``action``:
    what to change in the next run."""

    code: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    action: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """One line for the terminal."""
        return f"{self.severity}: {self.message} → {self.action}" if self.action else f"{self.severity}: {self.message}"


# -- numbers ---------------------------------------------------------------------------------

def wilson(successes: int, n: int, z: float = _Z) -> tuple[float, float]:
    """Wilson score interval of a proportion (good at small n and near 0 or 1, unlike p ± z·se).

    >>> [round(v, 3) for v in wilson(264, 270)]
    [0.952, 0.99]
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def num(x: Any) -> str:
    """A number as a person writes it in a config: 0.01, 3e-4, 512, 0.978."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e5:
        return str(int(x))
    if x != 0 and (abs(x) < 1e-2 or abs(x) >= 1e5):
        mantissa, exponent = f"{x:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{x:.3g}"


def _slope(values: Sequence[float]) -> float:
    """Least-squares change per epoch."""
    y = np.asarray(values, dtype=float)
    return float(np.polyfit(np.arange(len(y)), y, 1)[0]) if len(y) > 1 else 0.0


# -- what the run holds ----------------------------------------------------------------------

def _direction(run: RunRecord) -> str:
    return (run.summary.get("search") or {}).get("direction", "minimize")


def _ranked(run: RunRecord) -> list[FrozenTrial]:
    """Complete trials with a finite value, best first."""
    done = [t for t in run.trials if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    return sorted(done, key=lambda t: t.value, reverse=_direction(run) == "maximize")


def _top(ranked: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The top trials a pattern is judged on: the best quarter, at least 5."""
    return list(ranked[:max(5, math.ceil(0.25 * len(ranked)))])


def _best(run: RunRecord, ranked: Sequence[FrozenTrial]) -> FrozenTrial | None:
    number = (run.summary.get("best_trial") or {}).get("number")
    return next((t for t in run.trials if t.number == number), ranked[0] if ranked else None)


def _chance_loss(run: RunRecord) -> float:
    """The loss of a model that learned nothing: ln C, or 1 for regression (the validation loss
    is the mean squared error of the standardized target); for multi-label data the mean binary
    entropy of the labels' training frequencies (the preflight's ``label_frequency`` counted them), else ln 2."""
    data = run.summary.get("data") or {}
    n_classes = data.get("n_classes")
    if data.get("task") == "multilabel":
        return _label_entropy(_label_counts(run.summary))
    return math.log(n_classes) if data.get("task") != "regression" and n_classes and n_classes > 1 else 1.0


def _label_counts(summary: dict[str, Any]) -> dict[str, Any]:
    """What the preflight's ``label_frequency`` check counted on the training rows: ``positives`` per label and
    ``rows`` (empty when it did not run)."""
    return next((r.get("measured") or {} for r in summary.get("preflight") or [] if r.get("name") == "label_frequency"),
                {})


def _label_entropy(counted: dict[str, Any]) -> float:
    if not counted.get("positives") or not counted.get("rows"):
        return math.log(2)
    shares = [min(max(p / counted["rows"], 1e-12), 1 - 1e-12) for p in counted["positives"]]
    return sum(-q * math.log(q) - (1 - q) * math.log(1 - q) for q in shares) / len(shares)


def _train_config(run: RunRecord) -> dict[str, Any]:
    """``[train]`` of the run's config, from events.jsonl's run_start (empty when not recorded)."""
    start = next((e for e in run.events if e.get("event") == "run_start"), None)
    return ((start or {}).get("config") or {}).get("train") or {}


def _epoch_cap(run: RunRecord, ranked: Sequence[FrozenTrial]) -> Callable[[FrozenTrial], int | None]:
    """The most epochs a trial could train: its own ``epochs`` (searched), ``train.epochs``, or —
    when neither is recorded — the most any trial ran."""
    cap = _train_config(run).get("epochs")
    if not cap:
        runs = [t.attrs.get("epochs_run") for t in ranked if t.attrs.get("epochs_run")]
        cap = max(runs) if runs else None
    return lambda trial: int(trial.config["epochs"]) if "epochs" in trial.config else (int(cap) if cap else None)


# -- the search space ------------------------------------------------------------------------

def bounds(run: RunRecord) -> list[Finding]:
    """The best value on or within ``EDGE`` of a bound: the optimum may lie beyond it."""
    ranked = _ranked(run)
    best = _best(run, ranked)
    if best is None:
        return []
    top, out = _top(ranked), []
    for axis in axes((run.summary.get("search") or {}).get("space")):
        edge = _edge(axis, best.config.get(axis.name))
        if edge is None:
            continue
        side, bound, distance = edge
        there = {t.number for t in ranked if (_edge(axis, t.config.get(axis.name)) or ("",))[0] == side}
        n_top, n_all = sum(t.number in there for t in top), len(there)
        p = enrichment_p(n_top, len(top), n_all, len(ranked))
        value = best.config[axis.name]
        evidence = {"param": axis.name, "bound": side, "bound_value": bound, "best_value": value,
                    "distance": round(distance, 4), "scale": "log" if axis.log else "linear",
                    "top_at_bound": n_top, "top": len(top), "complete_at_bound": n_all, "complete": len(ranked),
                    "enrichment_p": round(p, 4)}
        where = "on" if distance == 0 else f"{distance:.0%} of the range from"
        piled = n_top >= 2 and p >= BOUND_P
        message = (f"best {axis.name} = {num(value)} is {where} its {side} bound {num(bound)} "
                   f"({n_top} of the top {len(top)} trials there, {n_all} of {len(ranked)} in all"
                   + ("; the top no more often than the rest, so the search piled trials there rather than found "
                      "the bound better" if piled else "") + ")")
        widened = _widened(axis, side)
        if widened is None:
            action = f"fix {axis.name} = {num(bound)} (a natural limit) and drop it from [search.space]"
        elif axis.kind == "choice":
            action = f"add {num(widened)} to {axis.name}'s options"
        else:
            action = f"widen {axis.name}'s {side} bound from {num(bound)} to {num(widened)}"
            evidence["suggested_bound"] = widened
        out.append(Finding("best_at_bound", "warning" if n_top >= 2 and not piled else "info", message, evidence,
                           action))
    return out


def enrichment_p(top_at: int, top: int, at: int, n: int) -> float:
    """P(X >= top_at) for X hypergeometric: ``top`` trials drawn at random from ``n``, of which ``at`` sit on the bound.

    >>> round(enrichment_p(2, 5, 2, 20), 4)   # the only two trials on the bound are both in the top 5
    0.0526
    >>> round(enrichment_p(8, 10, 28, 40), 2)  # 28 of 40 trials there, 8 of the top 10: what a random draw gives
    0.36
    """
    total = math.comb(n, top)
    return sum(math.comb(at, x) * math.comb(n - at, top - x) for x in range(top_at, min(top, at) + 1)) / total


def _edge(axis: Axis, value: Any) -> tuple[str, Any, float] | None:
    """``(side, bound value, distance as a fraction of the range)`` when ``value`` sits on a
    bound; None otherwise (and for choices that have no order: strings, booleans)."""
    if axis.kind == "choice":
        numeric = [o for o in axis.options if isinstance(o, (int, float)) and not isinstance(o, bool)]
        if len(numeric) != len(axis.options) or len(numeric) < 3 or value not in numeric:
            return None
        ordered = sorted(numeric)
        return ("lower", ordered[0], 0.0) if value == ordered[0] else \
            ("upper", ordered[-1], 0.0) if value == ordered[-1] else None
    position = axis.position(value)
    if not math.isfinite(position):
        return None
    low = int(axis.low) if axis.kind == "int" else axis.low
    high = int(axis.high) if axis.kind == "int" else axis.high
    if position <= EDGE:
        return ("lower", low, max(0.0, position))
    if position >= 1 - EDGE:
        return ("upper", high, max(0.0, 1 - position))
    return None


def _widened(axis: Axis, side: str) -> Any:
    """The bound one step further out: ×/÷10 on a log float axis, ×/÷2 on a log integer axis,
    half the range on a linear one, the next term of a numeric choice's progression; None where
    the bound is a natural limit (0 for a linear float, 1 for an integer count)."""
    if axis.kind == "choice":
        ordered = sorted(axis.options) if side == "upper" else sorted(axis.options, reverse=True)
        a, b = ordered[-2], ordered[-1]
        geometric = all(o > 0 for o in ordered) and math.isclose(ordered[-1] / ordered[-2], ordered[1] / ordered[0])
        grown = b * (b / a) if geometric else b + (b - a)
        return int(grown) if all(isinstance(o, int) for o in ordered) else grown
    low, high, span = axis.low, axis.high, axis.high - axis.low
    if axis.kind == "int":
        step = 2 if axis.log else max(1, round(span / 2))
        if side == "upper":
            return int(high * step) if axis.log else int(high + step)
        if low <= 1:
            return None
        return max(1, int(low // step)) if axis.log else max(1, int(low - step))
    if axis.log:
        return high * 10 if side == "upper" else low / 10
    if side == "upper":
        return high + span / 2
    if low == 0:
        return None
    return max(low - span / 2, 0.0) if low > 0 else low - span / 2


def coverage(run: RunRecord) -> list[Finding]:
    """Too few complete trials to learn a space of this many dimensions."""
    dims = len(axes((run.summary.get("search") or {}).get("space")))
    ranked = _ranked(run)
    wanted = TRIALS_PER_PARAM * dims
    if dims == 0 or len(ranked) >= wanted or not run.summary.get("n_trials"):
        return []
    requested = run.summary.get("n_trials")
    return [Finding("few_trials", "warning" if len(ranked) < 2 * dims else "info",
                    f"{len(ranked)} complete trials for {dims} searched parameters ({TRIALS_PER_PARAM} per parameter "
                    f"are wanted)",
                    {"complete": len(ranked), "params": dims, "wanted": wanted, "n_trials": requested},
                    f"raise search.n_trials to {wanted + (requested - len(ranked))}, or fix the least important "
                    f"parameters")]


def failures(run: RunRecord) -> list[Finding]:
    """Many trials failed, or several for one reason."""
    failed = [t for t in run.trials if t.state is TrialState.FAILED]
    if not failed:
        return []
    groups: dict[str, list[FrozenTrial]] = {}
    for t in failed:
        reason = str(t.attrs.get("fail_reason") or "no reason recorded").splitlines()[0]
        groups.setdefault(re.sub(r"[-+]?\d[\d.e+-]*", "#", reason)[:120], []).append(t)
    share = len(failed) / max(1, len(run.trials))
    out = []
    for pattern, trials in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        if len(trials) < 2 and share < 0.1:
            continue
        reason = str(trials[0].attrs.get("fail_reason") or "no reason recorded").splitlines()[0]
        evidence = {"failed": len(failed), "trials": len(run.trials), "reason": reason[:300],
                    "with_this_reason": len(trials), "numbers": [t.number for t in trials][:20]}
        lrs = [t.config["lr"] for t in trials if isinstance(t.config.get("lr"), (int, float))]
        if re.search(r"diverg|nan|inf", reason, re.IGNORECASE):
            action = "lower lr's upper bound" + (f" below {num(min(lrs))} (the smallest rate that diverged)"
                                                 if lrs else "") + ", or set clip_grad_norm"
            if lrs:
                evidence["lrs"] = lrs[:20]
        elif "abandoned" in reason:
            action = "check the workers that ran these trials (their machines or processes died)"
        else:
            action = f"read trial {trials[0].number}'s traceback (the trials table) and fix its cause"
        out.append(Finding("failures", "warning" if share >= 0.1 or len(trials) >= 3 else "info",
                           f"{len(trials)} of {len(run.trials)} trials failed with: {reason[:160]}", evidence, action))
    return out


def pruning(run: RunRecord) -> list[Finding]:
    """Most trials pruned: the pruner may be discarding slow starters (low learning rates)."""
    pruned = [t for t in run.trials if t.state is TrialState.PRUNED]
    if len(run.trials) < 10 or len(pruned) < 0.7 * len(run.trials):
        return []
    steps = [t.last_step for t in pruned if t.last_step is not None]
    median = float(np.median(steps)) if steps else None
    return [Finding("most_pruned", "info",
                    f"the pruner stopped {len(pruned)} of {len(run.trials)} trials"
                    + (f", at a median of epoch {num(median)}" if median is not None else ""),
                    {"pruned": len(pruned), "trials": len(run.trials), "median_step": median},
                    "if the best trials start slowly (low lr), give the pruner more warm-up epochs "
                    "(search.pruner_options) or use search.pruner = \"none\"")]


# -- training --------------------------------------------------------------------------------

def capped(run: RunRecord) -> list[Finding]:
    """Trials stopped by the epoch cap while the validation metric was still improving."""
    ranked = _ranked(run)
    metric = (run.summary.get("best_trial") or {}).get("metric") or "val_loss"
    sign = -1.0 if _direction(run) == "minimize" else 1.0
    hits, cap_of = [], _epoch_cap(run, ranked)
    for t in ranked:
        curve, cap = t.attrs.get("curve") or {}, cap_of(t)
        values = [v for v in (curve.get(metric) or []) if v is not None]
        run_epochs, best_epoch = t.attrs.get("epochs_run"), t.attrs.get("best_epoch")
        if cap is None or run_epochs is None or run_epochs < cap or best_epoch is None or len(values) < 2:
            continue
        slope = _slope(values[-_WINDOW:])
        if sign * slope > 0 and best_epoch > run_epochs - _WINDOW:
            hits.append((t, slope, cap))
    if not hits:
        return []
    cap = hits[0][2]
    top = {t.number for t in _top(ranked)}
    lrs = [t.config.get("lr") for t, _, _ in hits]
    evidence = {"trials": [t.number for t, _, _ in hits], "cap": cap, "metric": metric,
                "slopes": [round(s, 6) for _, s, _ in hits], "lrs": lrs, "window": min(_WINDOW, cap),
                "in_top": sum(t.number in top for t, _, _ in hits)}
    message = (f"{len(hits)} trial{'s' if len(hits) > 1 else ''} ({', '.join('#' + str(t.number) for t, _, _ in hits[:6])}) "
               f"hit the {cap}-epoch cap still improving ({metric} {', '.join(f'{s:+.2g}' for _, s, _ in hits[:3])}"
               f"/epoch over the last {min(_WINDOW, cap)} epochs)")
    searched = (run.summary.get("search") or {}).get("space", {}).get("params", {})
    action = (f"widen epochs' upper bound beyond {cap}" if "epochs" in searched else
              f"raise train.epochs from {cap} to {2 * cap}")
    lr_axis = next((a for a in axes((run.summary.get("search") or {}).get("space")) if a.name == "lr"), None)
    if lr_axis is not None and lr_axis.kind != "choice" and all(isinstance(v, (int, float)) for v in lrs):
        positions = [lr_axis.position(v) for v in lrs]
        if max(positions) <= 1 / 3:
            message += f", all at lr ≤ {num(max(lrs))}"
            raised = lr_axis.low * (lr_axis.high / lr_axis.low) ** (1 / 3) if lr_axis.log else \
                lr_axis.low + (lr_axis.high - lr_axis.low) / 3
            action += f", or raise lr's lower bound from {num(lr_axis.low)} to {num(float(f'{raised:.1g}'))}"
    return [Finding("capped_while_improving", "warning" if evidence["in_top"] else "info", message, evidence, action)]


def fit(run: RunRecord) -> list[Finding]:
    """The best trial overfit after its best epoch, or fit its training rows poorly."""
    ranked = _ranked(run)
    best = _best(run, ranked)
    curve = (best.attrs.get("curve") or {}) if best is not None else {}
    epochs, train, val = curve.get("epoch") or [], curve.get("train_loss") or [], curve.get("val_loss") or []
    k = best.attrs.get("best_epoch") if best is not None else None
    if k not in epochs or not val or not train:
        return []
    i, chance = epochs.index(k), _chance_loss(run)
    if train[i] is None or val[i] is None:
        return []
    gap = val[i] - train[i]
    out = []
    after = [(e, tr, v) for e, tr, v in zip(epochs[i + 1:], train[i + 1:], val[i + 1:]) if tr is not None and v is not None]
    later = float(np.mean([v for _, _, v in after])) if after else None
    rise = _rise_beyond_noise(val, i)
    if after and after[-1][1] < (1 - FALL) * train[i] and rise is not None and rise["beyond_noise"] and \
            (later - val[i] >= RISE * val[i] or max(v for _, _, v in after) - val[i] >= SWING * chance):
        last_epoch, last_train, last_val = after[-1]
        evidence = {"trial": best.number, "best_epoch": k, "epochs_run": last_epoch,
                    "val_loss_at_best": val[i], "val_loss_after_mean": later, "val_loss_last": last_val,
                    "train_loss_at_best": train[i], "train_loss_last": last_train, "gap_at_best": gap,
                    "gap_last": last_val - last_train, "chance_loss": chance, "gap_in_chance_losses": gap / chance,
                    "val_noise": rise["noise"], "val_rise": rise["rise"], "rise_needed": rise["needed"]}
        severity = "warning" if gap >= OVERFIT_GAP * chance else "info"
        message = (f"the best trial #{best.number} overfit after epoch {k}: validation loss {num(val[i])} → "
                   f"{num(later)} (mean of the {len(after)} epochs after; a rise of {num(rise['rise'])} against its "
                   f"epoch-to-epoch noise ±{num(rise['noise'])}) while training loss fell {num(train[i])} → "
                   f"{num(last_train)}")
        out.append(Finding("best_overfit", severity, message, evidence, _regularize(run, best, k)))
    if train[i] >= UNDERFIT_SHARE * chance:
        evidence = {"trial": best.number, "best_epoch": k, "train_loss_at_best": train[i], "val_loss_at_best": val[i],
                    "chance_loss": chance, "share_of_chance": train[i] / chance}
        out.append(Finding("best_underfit", "warning",
                           f"the best trial #{best.number} underfits: training loss {num(train[i])} at epoch {k} is "
                           f"{train[i] / chance:.0%} of the chance loss {num(chance)}",
                           evidence, "more capacity (widen width's or depth's upper bound), less regularization "
                                     "(weight_decay, dropout), or more epochs"))
    return out


def _rise_beyond_noise(val: Sequence[float | None], i: int) -> dict[str, Any] | None:
    """Whether the validation loss after epoch index ``i`` (the best) rose beyond its noise.

    The noise is the curve's epoch-to-epoch scatter, read from its second differences (a smooth
    trend has nearly none; white noise of σ gives differences of σ√6): σ = median |Δ²v| / (0.6745 √6),
    robust to the steep first epochs. The rise compares the mean of the m epochs after the best with
    the level around it (the mean of the best epoch and its neighbours, not the minimum alone: the
    lowest of many noisy epochs sits below the curve by chance); it must exceed
    ``_Z`` · σ · √(1/m + 1/w). So a flat, noisy curve whose best epoch was a lucky dip is not called
    overfitting, while a steady rise is, however small the noise. None with fewer than 2 epochs after.

    >>> _rise_beyond_noise([1.0, 0.6, 0.4, 0.35, 0.4, 0.5, 0.6, 0.7], 3)["beyond_noise"]
    True
    >>> _rise_beyond_noise([0.5, 0.56, 0.46, 0.52, 0.44, 0.55, 0.49, 0.53, 0.47, 0.54], 4)["beyond_noise"]
    False
    """
    values = np.array([np.nan if v is None else v for v in val], dtype=float)
    after = values[i + 1:][np.isfinite(values[i + 1:])]
    if len(after) < 2:
        return None
    finite = values[np.isfinite(values)]
    second = np.diff(finite, n=2)
    noise = float(np.median(np.abs(second)) / (0.6745 * math.sqrt(6))) if len(second) else 0.0
    around = values[max(0, i - 1):i + 2]
    around = around[np.isfinite(around)]
    rise = float(after.mean() - around.mean())
    needed = _Z * noise * math.sqrt(1 / len(after) + 1 / len(around))
    return {"noise": noise, "rise": rise, "needed": needed, "beyond_noise": rise > needed}


def _regularize(run: RunRecord, best: FrozenTrial, k: int) -> str:
    """Stronger regularization, named by the run's own searched knobs and where the best sits."""
    space = {a.name: a for a in axes((run.summary.get("search") or {}).get("space"))}
    knobs = []
    for name in ("weight_decay", "dropout", "l1"):
        if name in space and space[name].kind != "choice" and isinstance(best.config.get(name), (int, float)):
            a = space[name]
            knobs.append(f"{name} (best {num(best.config[name])} of ≤ {num(int(a.high) if a.kind == 'int' else a.high)})")
    if knobs:
        return "regularize more: raise " + " or ".join(knobs) + f", or augment (early stopping kept epoch {k})"
    return f"regularize: search weight_decay or dropout, or augment (early stopping kept epoch {k})"


# -- the final model -------------------------------------------------------------------------

def ensemble(run: RunRecord) -> list[Finding]:
    """The ensemble's accuracy gain over the single best against its prediction cost (members with
    a weight: each prediction runs every one of them). A gain under ``MCNEMAR_ROWS`` rows on a
    split is no gain."""
    single, ens = run.summary.get("single"), run.summary.get("ensemble")
    if not single or not ens or "test" not in ens or "accuracy" not in (single.get("test") or {}):
        return []
    used = sum(w > 0 for w in ens.get("weights") or [])
    rows = {split: round((ens[split]["accuracy"] - single[split]["accuracy"]) * int(single[split].get("n") or 0))
            for split in ("val", "test")}
    n = {split: int(single[split].get("n") or 0) for split in ("val", "test")}
    loss = {split: (single[split]["log_loss"], ens[split]["log_loss"]) for split in ("val", "test")}
    final = run.summary.get("final_model")
    evidence = {"members": used, "cost": used, "final_model": final, "val_rows_gained": rows["val"], "n_val": n["val"],
                "test_rows_gained": rows["test"], "n_test": n["test"],
                "single_accuracy": {s: single[s]["accuracy"] for s in n}, "ensemble_accuracy": {s: ens[s]["accuracy"] for s in n},
                "single_log_loss": {s: loss[s][0] for s in n}, "ensemble_log_loss": {s: loss[s][1] for s in n},
                "min_rows": MCNEMAR_ROWS}
    if used <= 1:
        return [Finding("ensemble_one_member", "info",
                        "the greedy ensemble chose one member only: it is the single best model", evidence,
                        "nothing to gain from ensembling these trials; set ensemble.enabled = false to save the time")]
    said = f"{rows['test']:+d}/{n['test']} test rows, {rows['val']:+d}/{n['val']} validation rows right"
    if max(rows.values()) < MCNEMAR_ROWS:
        used_as = "the final model" if final == "ensemble" else "not used: the single model was kept"
        calibrated = loss["test"][1] < loss["test"][0] and loss["val"][1] < loss["val"][0]
        return [Finding("ensemble_no_gain", "warning" if final == "ensemble" else "info",
                        f"the ensemble ({used_as}) bought no accuracy for {used}× the prediction cost: {said}", evidence,
                        "set ensemble.enabled = false"
                        + (f" (unless its lower log loss, {num(loss['test'][0])} → {num(loss['test'][1])} on test, "
                           f"is worth {used}×)" if calibrated else ""))]
    return [Finding("ensemble_gain", "info", f"the ensemble gained accuracy for {used}× the prediction cost: {said}",
                    evidence, "keep the ensemble if that gain is worth the cost per prediction")]


@dataclass(frozen=True)
class _Estimate:
    """A metric on one split: its value, standard error, 95% interval and how they were had."""

    value: float
    se: float
    interval: tuple[float, float]
    n: int | None
    how: str


@dataclass(frozen=True)
class _Gap:
    """The final model's validation estimate against its test score, on one metric."""

    metric: str
    higher_is_better: bool
    val: _Estimate
    test: _Estimate
    source: str  # "hold-out" or "k-fold"


def generalization(run: RunRecord) -> list[Finding]:
    """The final model's validation estimate against its test score, beyond their sampling noise
    (z = difference / √(se_val² + se_test²) ≥ 1.96): classification by accuracy, regression by RMSE
    on a hold-out split and by R² over folds (a fold's loss is the MSE of the target standardized
    with that fold's training statistics, so 1 − loss is its R²); k-fold runs compare the folds'
    mean with the refit's test score."""
    gap = _gap(run)
    if gap is None:
        return []
    worse = (gap.val.value - gap.test.value) if gap.higher_is_better else (gap.test.value - gap.val.value)
    z = worse / math.sqrt(gap.val.se ** 2 + gap.test.se ** 2)
    if not math.isfinite(z) or abs(z) < _Z:
        return []
    final = run.summary.get("final_model") or "single"
    evidence = {"final_model": final, "metric": gap.metric, "source": gap.source,
                f"val_{gap.metric}": gap.val.value, "n_val": gap.val.n, "val_interval": list(gap.val.interval),
                "val_interval_method": gap.val.how,
                f"test_{gap.metric}": gap.test.value, "n_test": gap.test.n, "test_interval": list(gap.test.interval),
                "test_interval_method": gap.test.how, "z": z}
    digits = ".4f" if gap.metric in ("accuracy", "r2") else ".4g"
    lo_v, hi_v = gap.val.interval
    lo_t, hi_t = gap.test.interval
    val_name = "validation" if gap.source == "hold-out" else "cross-validated"
    label = {"accuracy": "accuracy", "rmse": "RMSE", "r2": "R²"}.get(gap.metric, gap.metric)
    said = (f"{val_name} {label} {gap.val.value:{digits}} ({lo_v:.3g}–{hi_v:.3g}) vs test {gap.test.value:{digits}} "
            f"({lo_t:.3g}–{hi_t:.3g}), z = {z:+.1f}")
    if z > 0:
        action = ("the search overfit its validation split: more validation rows (data.val) or k folds "
                  "(data.folds = 5)" if gap.source == "hold-out" else
                  "the search overfit its folds (many trials on few rows): more folds or fewer trials, or the refit "
                  "differs from the fold models (check refit.epochs against the folds' best epochs)")
        return [Finding("val_test_gap", "warning", f"test is worse than {val_name} beyond noise: {said}", evidence,
                        action)]
    return [Finding("val_test_gap", "info", f"test is better than {val_name} beyond noise: {said}", evidence,
                    "the splits differ: check how rows were split (data.groups, duplicates, time) before trusting either")]


def _gap(run: RunRecord) -> _Gap | None:
    """What the run can compare, or None (no test yet, an older run, a metric without its noise)."""
    summary = run.summary
    test = summary.get("test") or {}
    if not test.get("n"):
        return None
    cv = summary.get("cv") or {}
    if summary.get("final_model") == "refit" or cv.get("per_fold"):
        return _fold_gap(run, cv, test)
    part = summary.get("ensemble") if summary.get("final_model") == "ensemble" else summary.get("single")
    val = (part or {}).get("val") or {}
    if not val.get("n"):
        return None
    if "accuracy" in test and "accuracy" in val:
        return _Gap("accuracy", True, _proportion(val["accuracy"], int(val["n"])),
                    _proportion(test["accuracy"], int(test["n"])), "hold-out")
    if _finite(test.get("rmse")) and _finite(val.get("rmse")):
        tested = _from_interval(test, "rmse")
        if tested is None:
            return None
        # NOTE: the validation split has no interval of its own (only test rows are bootstrapped):
        # its standard error is the test's scaled by √(n_test / n_val), the rows' errors taken alike
        se = tested.se * math.sqrt(int(test["n"]) / int(val["n"]))
        return _Gap("rmse", False, _Estimate(val["rmse"], se, (val["rmse"] - _Z * se, val["rmse"] + _Z * se),
                                             int(val["n"]), "the test's bootstrap standard error × √(n_test / n_val)"),
                    tested, "hold-out")
    return None


def _fold_gap(run: RunRecord, cv: dict[str, Any], test: dict[str, Any]) -> _Gap | None:
    """The folds' mean against the refit's test score. Its noise: the spread of the folds (std / √k),
    and for accuracy at least the binomial noise of every non-test row, each validated once."""
    folds = [row for row in cv.get("per_fold") or [] if isinstance(row, dict)]
    k = len(folds)
    if k < 2:
        return None
    n_rows = (run.summary.get("data") or {}).get("n")
    n_val = int(n_rows) - int(test["n"]) if isinstance(n_rows, int) and n_rows > test["n"] else None
    accuracies = [r.get("val_accuracy") for r in folds]
    if "accuracy" in test and all(_finite(a) for a in accuracies):
        p = float(np.mean(accuracies))
        se = float(np.std(accuracies, ddof=1)) / math.sqrt(k)
        how = f"the {k} folds' spread (std / √k)"
        if n_val:
            binomial = math.sqrt(max(p * (1 - p), 1 / n_val) / n_val)
            if binomial > se:
                se, how = binomial, f"binomial over the {n_val} validated rows (larger than the folds' spread)"
        val = _Estimate(p, se, (max(0.0, p - _Z * se), min(1.0, p + _Z * se)), n_val, how)
        return _Gap("accuracy", True, val, _proportion(test["accuracy"], int(test["n"])), "k-fold")
    losses = [r.get("val_loss") for r in folds]
    if _finite(test.get("r2")) and all(_finite(v) for v in losses):
        tested = _from_interval(test, "r2")
        if tested is None:
            return None
        r2 = [1.0 - v for v in losses]
        mean, se = float(np.mean(r2)), float(np.std(r2, ddof=1)) / math.sqrt(k)
        val = _Estimate(mean, se, (mean - _Z * se, mean + _Z * se), n_val,
                        f"1 − each fold's standardized MSE; the {k} folds' spread (std / √k)")
        return _Gap("r2", True, val, tested, "k-fold")
    return None


def _proportion(p: float, n: int) -> _Estimate:
    """An accuracy of n rows: binomial standard error (floored at one row), Wilson interval."""
    lo, hi = wilson(round(p * n), n)
    return _Estimate(p, math.sqrt(max(p * (1 - p), 1 / n) / n), (lo, hi), n, "Wilson score")


def _from_interval(split: dict[str, Any], metric: str) -> _Estimate | None:
    """A test metric with the 95% interval the run recorded (``intervals``: a percentile bootstrap
    over rows); its standard error read back as the interval's width / (2 × 1.96)."""
    interval = (split.get("intervals") or {}).get(metric)
    if not isinstance(interval, (list, tuple)) or len(interval) != 2 or not all(_finite(v) for v in interval):
        return None
    lo, hi = float(interval[0]), float(interval[1])
    return _Estimate(float(split[metric]), (hi - lo) / (2 * _Z), (lo, hi), int(split["n"]),
                     "percentile bootstrap over the test rows")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def vault(run: RunRecord) -> list[Finding]:
    """The test split opened more than once: its score is no longer an unbiased estimate."""
    openings = (run.summary.get("vault") or {}).get("openings") or 0
    if openings <= 1:
        return []
    return [Finding("vault_reopened", "error", f"the test split was opened {openings} times", {"openings": openings},
                    "report the test score of the first opening only, or seal a fresh test split (a new run)")]


def preflight(run: RunRecord) -> list[Finding]:
    """Preflight checks that failed: the run went on, but what they found still holds — except imbalanced
    classes in a run whose [balance] treats them (class weights, a sampler, the focal loss), which get an
    ``info`` naming the treatment instead of a warning advising one."""
    out = []
    treated = _imbalance_treatment(run.summary)
    for check in run.summary.get("preflight") or []:
        if check.get("passed", True) or check.get("severity") not in SEVERITIES:
            continue
        if check.get("name") == "class_balance" and treated:
            counts = (check.get("measured") or {}).get("counts")
            out.append(Finding("preflight", "info", f"preflight check class_balance: imbalanced training classes "
                               f"(counts {counts}), treated by [balance] ({treated})",
                               {"check": "class_balance", **(check.get("measured") or {}), "treated_by": treated},
                               "judge the run by balanced accuracy or per-class recall, as its report does"))
            continue
        found, _, fix = str(check.get("message", "")).rpartition(" — ")
        out.append(Finding("preflight", check["severity"], f"preflight check {check.get('name')}: {found or fix}",
                           {"check": check.get("name"), **(check.get("measured") or {})},
                           fix if found else f"make the {check.get('name')} check pass: {check.get('expected')}"))
    return out


def _imbalance_treatment(summary: dict[str, Any]) -> str:
    """What in the run's [balance] treats imbalanced classes while training (``"sampler = oversample"``,
    ...), or ``""``."""
    balance = (summary.get("practices") or {}).get("balance") or {}
    treatments = [f"class_weight = {balance['class_weight']!r}" if balance.get("class_weight", "none") != "none" else "",
                  f"sampler = {balance['sampler']!r}" if balance.get("sampler", "none") != "none" else "",
                  "loss = 'focal'" if balance.get("loss") == "focal" else ""]
    return ", ".join(t for t in treatments if t)


RARE_SHARE = 0.05
"""A multi-label run's label on fewer than this share of the training rows is rare."""
RARE_LAG = 0.05
"""The rare labels' mean test F1 this far below the others' is worth acting on."""


def rare_labels(run: RunRecord) -> list[Finding]:
    """A multi-label run whose rare labels (< 5% of the training rows) score well below the others on test, trained
    without label weights: weighing each label's positives is the measured remedy (docs/benchmarks.md, "Rare
    labels": macro-F1 0.71 → 0.78 on strips of digits with three labels on 1% of the rows)."""
    summary = run.summary
    if (summary.get("data") or {}).get("task") != "multilabel" or ((summary.get("practices") or {}).get("balance")
                                                                   or {}).get("class_weight", "none") != "none":
        return []
    counted = _label_counts(summary)
    f1 = (summary.get("test") or {}).get("per_label_f1")
    if not counted.get("positives") or not counted.get("rows") or not f1 or len(f1) != len(counted["positives"]):
        return []
    shares = [p / counted["rows"] for p in counted["positives"]]
    rare = [k for k, share in enumerate(shares) if 0 < share < RARE_SHARE]
    common = [k for k in range(len(shares)) if k not in rare]
    if not rare or not common:
        return []
    rare_f1, common_f1 = float(np.mean([f1[k] for k in rare])), float(np.mean([f1[k] for k in common]))
    if common_f1 - rare_f1 < RARE_LAG:
        return []
    names = (summary.get("data") or {}).get("class_names") or [str(k) for k in range(len(shares))]
    shown = ", ".join(f"{names[k]} ({shares[k]:.1%})" for k in rare[:5]) + (" …" if len(rare) > 5 else "")
    return [Finding("rare_labels", "warning",
                    f"{len(rare)} rare label(s) — {shown} of the training rows — reach a test F1 of {rare_f1:.3f} "
                    f"against {common_f1:.3f} for the other labels",
                    {"rare": [names[k] for k in rare], "training_share": [shares[k] for k in rare],
                     "rare_test_f1": rare_f1, "other_test_f1": common_f1},
                    "set balance.class_weight = \"balanced\": each label's positives weighed by its negatives over "
                    "positives in the loss (docs/benchmarks.md, \"Rare labels\")")]


CHECKS: tuple[Callable[[RunRecord], list[Finding]], ...] = (
    vault, preflight, bounds, capped, fit, ensemble, generalization, rare_labels, failures, pruning, coverage)
"""Every check, in the order their findings are listed within one severity."""


def findings(run: RunRecord) -> list[Finding]:
    """Every finding of the run: errors first, then warnings, then information.

    A check that raises (a run shaped in a way it did not foresee) becomes one ``advice_failed``
    finding naming the error: the end of a long run must not be lost to its advice."""
    out = []
    for check in CHECKS:
        try:
            out.extend(check(run))
        except Exception as e:  # noqa: BLE001 - one broken check must not hide the others or end the run
            out.append(Finding("advice_failed", "info", f"the {check.__name__} check failed: {type(e).__name__}: {e}",
                               {"check": check.__name__}, "report it as a knobs bug, with the run's summary.json"))
    return sorted(out, key=lambda f: -SEVERITIES.index(f.severity))
