"""What a model-based sampler learns from: complete trials, pruned ones, and an earlier study's.

Why pruned trials count: with a pruner on, most trials end pruned (a real ASHA study: 24 trials,
1 complete, 23 pruned). Fitting on complete trials alone left ``Bayes`` in its random design for
the whole search. What each pruned trial reported says where the bad regions are, so it is used
the way the two reference methods use it:

- **BOHB** (Falkner et al. 2018) fits its model at the largest budget with enough observations.
  Here a budget is a reported step. While fewer than ``needed`` trials completed, the model is
  fitted at the largest step that ``needed`` trials reached (a complete trial has reached every
  step: it finished), on each trial's best value up to that step.
- **Optuna's TPE** ranks pruned trials below complete ones, a trial pruned later above one pruned
  earlier, and trials pruned at the same step by their value there. Trials that stopped before the
  model's step enter that way, below the worst value at the step, so the model still learns that
  their regions are bad instead of proposing them again.

With no pruned trial the history is exactly the complete trials' final values (``completed_losses``).

Warm starts: trials fed from an earlier study carry ``attrs["warm_start"]`` (the source's name).
Each study's losses are then standardized on their own (mean 0, std 1), so an earlier study with
fewer epochs or other data shares the model's shape, not its scale (``Bayes`` then moves this run's
to the sources' level at its points: ``_two_task.match_to_sources``).

Example:
    >>> from knobs.space import Float, Space
    >>> from knobs.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(0.0, 1.0)})
    >>> done = FrozenTrial(0, {"x": 0.2}, TrialState.COMPLETE, 0.1, {1: 0.5, 2: 0.1})
    >>> cut = FrozenTrial(1, {"x": 0.9}, TrialState.PRUNED, 0.8, {1: 0.8})
    >>> [round(loss, 2) for _, loss in model_history([done, cut], "minimize", space, needed=1)]
    [0.1, 0.8]
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from knobs.search._base import _valid
from knobs.space import Space
from knobs.trial import FrozenTrial, TrialState

__all__ = ["WARM_START", "model_history", "study_labels"]

#: the attrs key marking a trial fed from an earlier study (its value names the source).
WARM_START = "warm_start"
#: the step of a pruned trial that reported nothing (only its told value): below every real step,
#: so it is only ever ranked, never measured against the others.
UNREPORTED = -math.inf


def model_history(trials: Sequence[FrozenTrial], direction: str, space: Space,
                  needed: int) -> list[tuple[dict[str, Any], float]]:
    """``(config, loss)`` pairs a model is fitted on; lower loss is better.

    Args:
        trials: the study's trials (any state; running and failed ones are left out) and any
            warm-start trials (``attrs["warm_start"]``).
        direction: ``"minimize"`` or ``"maximize"`` (losses are negated values when maximizing).
        space: configs not valid for it are left out.
        needed: observations the model wants at its step before fitting on complete trials only
            (the sampler's design size).
    """
    own, *sources = _studies(trials)
    if not sources:
        return _study_history(own, direction, space, needed)
    return [pair for group in [own, *sources] for pair in _standardized_history(group, direction, space, needed)]


def study_labels(trials: Sequence[FrozenTrial], direction: str, space: Space, needed: int) -> list[int]:
    """Which study each ``model_history`` pair comes from, in its order: 0 for this run's own
    trials, 1, 2, ... for each warm-start source (the order in which their trials first appear).

    Why: a model may treat the studies as related tasks (``knobs.search._two_task``) instead of one.
    """
    return [label for label, group in enumerate(_studies(trials))
            for _ in _study_history(group, direction, space, needed)]


def _standardized_history(trials: Sequence[FrozenTrial], direction: str, space: Space,
                          needed: int) -> list[tuple[dict[str, Any], float]]:
    history = _study_history(trials, direction, space, needed)
    return list(zip([config for config, _ in history], _standardized([loss for _, loss in history])))


def _studies(trials: Sequence[FrozenTrial]) -> list[list[FrozenTrial]]:
    """This run's own trials, then each warm-start source's."""
    groups: dict[Any, list[FrozenTrial]] = {None: []}
    for t in trials:
        groups.setdefault(t.attrs.get(WARM_START), []).append(t)
    return list(groups.values())


def _study_history(trials: Sequence[FrozenTrial], direction: str, space: Space,
                   needed: int) -> list[tuple[dict[str, Any], float]]:
    """One study's history: BOHB's model step while few trials completed, TPE's ranks below it."""
    sign = 1.0 if direction == "minimize" else -1.0
    complete, pruned = [], []
    for t in trials:
        if not _valid(space, t.config):
            continue
        curve = {s: sign * v for s, v in t.intermediate.items() if _finite(v)}
        if t.state == TrialState.COMPLETE and _finite(t.value):
            complete.append((dict(t.config), sign * float(t.value), curve))
        elif t.state == TrialState.PRUNED and (curve or _finite(t.value)):
            pruned.append((dict(t.config), curve or {UNREPORTED: sign * float(t.value)}))
    step = None if len(complete) >= needed else _model_step([c for _, c in pruned], len(complete), needed)
    if step is None:
        top = [(config, loss) for config, loss, _ in complete]
        below = pruned
    else:
        top = [(config, _best_until(curve, step) if curve else loss) for config, loss, curve in complete]
        top += [(config, _best_until(curve, step)) for config, curve in pruned if max(curve) >= step]
        below = [(config, curve) for config, curve in pruned if max(curve) < step]
    return top + _ranked_below([loss for _, loss in top], below)


def _model_step(curves: list[dict[float, float]], n_complete: int, needed: int) -> float | None:
    """The largest reported step that ``needed`` trials reached (complete ones reached every step);
    the first step when none did; None when no pruned trial reported anything."""
    steps = sorted({s for curve in curves for s in curve if s != UNREPORTED}, reverse=True)
    for step in steps:
        if n_complete + sum(max(curve) >= step for curve in curves) >= needed:
            return step
    return steps[-1] if steps else None


def _ranked_below(top: list[float], below: list[tuple[dict, dict[int, float]]]) -> list[tuple[dict, float]]:
    """Trials that stopped before the model's step, worse than every trial at it: deeper first,
    then by their best value at their last step; spread over one range of ``top`` above its worst
    (of every value seen while ``top`` holds fewer than two distinct ones).

    NOTE: the values are ranks, not measurements (TPE uses only the order); one range keeps the
    step between the worst measured and the best ranked trial on the scale of the measured ones.
    """
    if not below:
        return []
    order = sorted(below, key=lambda item: (-max(item[1]), _best_until(item[1], max(item[1]))))
    seen = top + [_best_until(curve, max(curve)) for _, curve in order]
    worst = max(top) if top else 0.0
    spread = next((r for r in (_range(top), _range(seen)) if r > 0), 1.0)
    return [(config, worst + spread * (k + 1) / len(order)) for k, (config, _) in enumerate(order)]


def _range(values: list[float]) -> float:
    return max(values) - min(values) if values else 0.0


def _best_until(curve: dict[int, float], step: int) -> float:
    """The best (lowest) loss reported at or before ``step``; the first one when none was."""
    values = [v for s, v in curve.items() if s <= step]
    return min(values) if values else curve[min(curve)]


def _standardized(losses: list[float]) -> list[float]:
    """Mean 0, std 1; all zeros for fewer than two distinct values.

    NOTE: not ``_gp.transforms.standardize``: ``knobs.study`` imports this module (the warm-start
    mark), and the transforms module would bring scipy.stats into ``import knobs``."""
    if len(losses) < 2:
        return [0.0] * len(losses)
    mean = sum(losses) / len(losses)
    std = math.sqrt(sum((v - mean) ** 2 for v in losses) / len(losses))
    return [(v - mean) / std if std > 0 else 0.0 for v in losses]


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


