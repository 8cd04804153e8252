"""``Curve``: stop a trial whose learning curve, extrapolated to the last step, is unlikely to beat
the incumbent.

Why read curves: ASHA, Hyperband and the median rule compare values at the same step, so a trial
run one at a time is judged against whatever came first, and a slow starter that would cross the
leaders is stopped as readily as a hopeless one. Extrapolating each trial's own curve with its
uncertainty (``knobs.prune._curve_fit``: an ensemble of parametric curve families, Domhan et al.
2015) asks the question that matters — can this trial still end better than the k-th best
completed one? — and answers "no" early for curves stuck at chance level or flattening far above
the incumbent, "maybe" for steep ones.

Calibrated on the study's own curves: parametric families miss what a schedule does late (a cosine
learning rate's final drop), so when the model says "prune", the completed trials are asked too —
each one's forecast from its first n points against where it really ended — and the trial is kept
if the forecast, shifted by those errors, still gives it a chance. This only ever keeps more
(on LCBench's development tasks, threshold 0.05: regret 0.67 -> 0.28 points for 19% -> 23% of
the epochs; docs/benchmarks.md).

With parallel workers the incumbent is not only the completed trials: a running trial's best value
so far bounds from above what it will end at (the running best only falls), so the leaders still
running count as candidates too. Without them, the trials started before the first one completes,
and every trial judged while the eventual leaders are still running, were measured against a stale
incumbent: on LCBench with four workers 22% of the epochs against 19% one at a time. A running
leader is a bet (it may itself be stopped later), so it is used only when the calibration can check
the forecast — on completed curves, and on running ones already past half the budget (their
forecast errors at their own last step) — and never with ``calibrate=False``
(bench/prune_lcbench.py: 22% -> 20% of the epochs with four workers, regret unchanged; one at a
time nothing changes, as no other trial runs).

The trial's running best is fitted (what early stopping keeps, and what a trial's value is in
``knobs run``), oriented so lower is better; non-finite reports are left out of the fit and a
non-finite latest report prunes (a diverged trial does not come back). Fits are cached by the
points themselves, so a repeated call or a new incumbent costs only the probability, and a cached
fit can never make one worker decide differently from another.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from knobs.errors import ConfigError
from knobs.prune._base import Pruner, check_direction, check_int
from knobs.prune._curve_fit import Forecast, forecast, probability_below
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Curve"]

_CACHE_SIZE = 4096


class Curve(Pruner):
    """Prune when P(final value better than the ``rank``-th best trial) < ``threshold``; a running
    trial counts with its best value so far (see the module's docstring).

    Args:
        threshold: the smallest probability of beating the incumbent that keeps a trial going.
            Lower prunes less. 0.2 was chosen on LCBench curves (bench/prune_lcbench.py).
        min_points: finite reports a trial makes before it is judged (at least 3: two linear
            parameters and one degree of freedom for the noise).
        max_resource: the step every trial would reach when not stopped (e.g. the epochs); the
            curve is extrapolated to it. None: the furthest step a completed trial reached.
        rank: compare with the ``rank``-th best trial, so a top-k ensemble still gets members
            (rank = k); nothing is pruned until ``rank`` trials have completed or, with
            ``calibrate``, are running with at least ``min_points`` reports.
        noise_floor: the smallest noise believed, as a fraction of the trial's own improvement
            so far, so a nearly flat curve does not claim certainty.
        calibrate: before pruning, check the forecast against the errors the same model made on
            the completed trials' curves (at least two, longer than this one), and keep the trial
            if those errors leave it a chance.

    Example:
        >>> import knobs
        >>> pruner = knobs.prune.Curve(threshold=0.1, min_points=4, max_resource=50)
    """

    def __init__(self, threshold: float = 0.2, min_points: int = 4, max_resource: int | None = None,
                 rank: int = 1, noise_floor: float = 0.01, calibrate: bool = True) -> None:
        self.threshold = threshold
        self.min_points = min_points
        self.max_resource = max_resource
        self.rank = rank
        self.noise_floor = noise_floor
        self.calibrate = calibrate
        self._fits: dict[tuple, Forecast] = {}

    def validate(self) -> "Curve":
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"Curve(threshold=...) must be a probability in (0, 1); got {self.threshold!r}")
        check_int("Curve", "min_points", self.min_points, 3)
        check_int("Curve", "rank", self.rank, 1)
        if self.max_resource is not None:
            check_int("Curve", "max_resource", self.max_resource, 2)
        if isinstance(self.noise_floor, bool) or not isinstance(self.noise_floor, (int, float)) \
                or not 0.0 <= self.noise_floor < 1.0:
            raise ConfigError(f"Curve(noise_floor=...) must be a fraction in [0, 1); got {self.noise_floor!r}")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"Curve(calibrate=...) must be true or false; got {self.calibrate!r}")
        return self

    def prune(self, trial: FrozenTrial, trials: Sequence[FrozenTrial], *, direction: str) -> bool:
        self.validate()
        check_direction(direction)
        step = trial.last_step
        if step is None:
            return False
        if not math.isfinite(trial.intermediate[step]):
            return True
        sign = 1.0 if direction == "minimize" else -1.0
        others = [t for t in trials if t.number != trial.number]
        complete = [t for t in others if t.state is TrialState.COMPLETE]
        running = [t for t in others if t.state is TrialState.RUNNING] if self.calibrate else []
        finals = sorted(sign * v for v in map(_final, complete) if v is not None)
        leaders = sorted(finals + [b for b in (self._best_so_far(t, sign) for t in running) if b is not None])
        if len(leaders) < self.rank:
            return False
        target = self.max_resource
        if target is None:
            if not complete:
                return False  # no budget given and none seen yet: nothing to extrapolate to
            target = max(t.last_step for t in complete if t.last_step is not None)
        if step >= target:
            return False  # the work is done: a finished curve is the trial's own value
        points = _points(trial, sign)
        if len(points) < self.min_points:
            return False
        fit = self._forecast(points, target)
        incumbent = leaders[self.rank - 1]
        p = float(probability_below(fit, incumbent))
        if self.calibrate and p < self.threshold:
            half_way = [t for t in running if t.last_step is not None and 2 * t.last_step >= target]
            residuals = self._residuals(complete + half_way, sign, len(points))
            if len(residuals) >= 2:
                p = max(p, float(np.mean(probability_below(fit, incumbent - np.array(residuals)))))
            elif len(finals) < self.rank or finals[self.rank - 1] > incumbent:
                return False  # a running leader is trusted only once the forecasts can be checked
        return p < self.threshold

    def _best_so_far(self, t: FrozenTrial, sign: float) -> float | None:
        """A running trial's best finite report (an upper bound on where its running best ends),
        once it has made ``min_points`` of them; else None."""
        points = _points(t, sign)
        return min(v for _, v in points) if len(points) >= self.min_points else None

    def _residuals(self, complete: Sequence[FrozenTrial], sign: float, n: int) -> list[float]:
        """How far each curve ended (a running one: is now) below (negative) or above its own
        forecast made from its first ``n`` points: the model's error on this study's curves."""
        out = []
        for t in complete:
            points = _points(t, sign)
            if len(points) <= n:
                continue
            fit = self._forecast(points[:n], points[-1][0])
            out.append(min(v for _, v in points) - fit.mean)
        return out

    def _forecast(self, points: list[tuple[int, float]], target: int) -> Forecast:
        """The forecast at ``target`` of the running best of ``points``, cached by the points
        themselves (a pure function: a cached fit never changes a decision)."""
        key = (tuple(points), target)
        if key not in self._fits:
            if len(self._fits) >= _CACHE_SIZE:
                self._fits.clear()
            steps = np.array([s for s, _ in points], dtype=float)
            best = np.minimum.accumulate(np.array([v for _, v in points]))
            # NOTE: a noise floor from the curve's own range keeps a flat curve's fit from zero variance
            floor = self.noise_floor * max(best[0] - best[-1], abs(best[-1]) * 1e-3, 1e-12)
            offset = 1.0 - steps[0]  # steps from 0 (or negative) shift to start at 1
            self._fits[key] = forecast(steps + offset, best, target + offset, floor)
        return self._fits[key]


def _points(trial: FrozenTrial, sign: float) -> list[tuple[int, float]]:
    """The finite reports, by step, oriented so lower is better."""
    return sorted((s, sign * v) for s, v in trial.intermediate.items() if math.isfinite(v))


def _final(t: FrozenTrial) -> float | None:
    """A completed trial's value, else its last finite report."""
    if t.value is not None and math.isfinite(t.value):
        return t.value
    finite = [v for _, v in sorted(t.intermediate.items()) if math.isfinite(v)]
    return finite[-1] if finite else None
