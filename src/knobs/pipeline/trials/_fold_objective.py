"""One trial in fold mode: the configuration trained once per fold, judged by the mean.

The value a study sees is the mean of the folds' validation metric (each at its fold's best
epoch, early stopping restoring those weights); the trial's attrs keep every fold's figures, the
mean and the sample standard deviation (``attrs["cv"]``, ``knobs.data.aggregate``).

Pruning acts between folds: after fold i the trial reports, at step i, the running mean of the
folds done so far. NOTE: not per epoch. Every trial is dealt the same folds, so at step i all
trials are compared on the mean over the same i folds — the quantity their final value
estimates, more reliable at each step. A per-epoch rule would judge a trial on one fold's
learning curve, the single-split judgement fold mode exists to avoid. So the pruner's steps are
folds (ASHA and Hyperband get ``max_resource = k``), and within a fold early stopping is the
only stop.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable

import numpy as np

from knobs.data import aggregate
from knobs.pipeline.trials._objective import TrialObjective, curve, trial_seed
from knobs.train import Callback
from knobs.trial import Trial

__all__ = ["FoldObjective", "refit_epochs"]


def refit_epochs(fold_best_epochs: list[int]) -> int:
    """Epochs of the refit on every non-test row: the median of the folds' best epochs.

    NOTE: the median, not the mean, so one fold that stopped very early or ran to the limit does
    not drag the refit's length; at least one epoch.
    """
    return max(1, int(round(float(np.median(fold_best_epochs)))))


class FoldObjective:
    """``objective(config, trial) -> float`` for fold mode.

    Args:
        inner: the single-split objective, used to build and fit a model on each fold's data.
        folds: the ``FoldData`` of ``knobs.pipeline.inputs._folds`` (each prepared for its fit).
    """

    def __init__(self, inner: TrialObjective, folds: list) -> None:
        self.inner, self.folds = inner, folds
        self.on_epoch: Callable[[dict], None] = inner.on_epoch

    def __call__(self, config: dict[str, Any], trial: Trial) -> float:
        inner, metric = self.inner, self.inner.metric
        params = {**inner.fixed, **config}
        rows, values, curves = [], [], []
        for fold in self.folds:
            log = _LogEpochs(trial.number, fold.number, inner.events, self.on_epoch)
            history = self._fit_fold(fold, params, trial_seed(inner.cfg.seed, trial), log, trial.number)
            best = history.best
            values.append(float(best[metric]))
            rows.append({**{k: float(best[k]) for k in ("val_loss", "val_accuracy", metric) if best.get(k) is not None},
                         "best_epoch": best["epoch"], "epochs_run": len(history.records)})
            curves.append(curve(history.records))
            if fold.number == 0:
                trial.set_attr("curve", curves[0])  # what one-split views (all trials' curves) show
            trial.set_attr("fold_curves", curves)
            trial.set_attr("fold_values", values)
            trial.set_attr("epochs_run", sum(r["epochs_run"] for r in rows))  # kept by a pruned trial too
            trial.report(fold.number + 1, statistics.fmean(values))
        if not all(math.isfinite(v) for row in rows for v in row.values()):
            return float("nan")  # the study records the trial FAILED
        cv = aggregate(rows)
        trial.set_attr("cv", cv.to_dict())
        trial.set_attr("best_epoch", refit_epochs([r["best_epoch"] for r in rows]))
        trial.set_attr("val_loss", cv.mean["val_loss"])
        trial.set_attr("val_accuracy", cv.mean.get("val_accuracy"))
        return statistics.fmean(values)

    def _fit_fold(self, fold: Any, params: dict[str, Any], seed: int, log: Callback, number: int) -> Any:
        """Train on one fold; return the history. NOTE: the fold's data is prepared here and lives
        only as long as this fit — the next fold's is made after it is gone, so a run holds one."""
        data = fold.prepare().data
        _, history = self.inner.fit({**params, **data.model_args}, data, seed, [log], number=number)
        return history


class _LogEpochs(Callback):
    """The event log and the progress display, once per epoch of each fold (no pruning here)."""

    def __init__(self, number: int, fold: int, events: Any, on_epoch: Callable[[dict], None]):
        self.number, self.fold, self.events, self.on_epoch = number, fold, events, on_epoch

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        self.events("epoch", trial=self.number, fold=self.fold, **record)
        self.on_epoch(record)
