"""The end of a fold-mode run: the best configuration refit on every non-test row, tested once.

Why a refit and not the best trial's k fold models averaged: the cross-validated mean estimates
how well *this configuration, trained on this much data,* generalizes; the refit is exactly that
procedure on all the non-test rows (slightly more data than each fold had, so the estimate is if
anything cautious). It needs one preprocessing — fitted on all those rows, saved as
preprocess.json — where an average of fold models would carry k encodings, k standardizers and,
for text, k vocabularies into ``knobs predict``, at k times the prediction cost. It is what
scikit-learn's ``GridSearchCV(refit=True)`` does.

With no validation rows left, the refit cannot stop early: it trains for the median of the
folds' best epochs (``refit_epochs``), on the same schedule as the search (the schedule still
spans ``train.epochs``, so the learning rate at each epoch matches the folds'), from the same
seed. Then the vault is opened once and the refit model is measured.
"""

from __future__ import annotations

from typing import Any, Sequence

from knobs.data import Vault
from knobs.errors import KnobsError
from knobs.metrics import split_metrics
from knobs.pipeline.trials._evaluate import TestOutputs, outputs
from knobs.pipeline.rundir._members import save_trial_checkpoint, top_trials
from knobs.pipeline.trials._objective import trial_seed
from knobs.pipeline.trials._watched import record_refit, refit_watch
from knobs.pipeline.rundir._rundir import RunDir
from knobs.pipeline.inputs._target import with_target
from knobs.trial import FrozenTrial

__all__ = ["refit_evaluation"]


def refit_evaluation(cfg: Any, rundir: RunDir, vault: Vault, objective: Any, trials: Sequence[FrozenTrial],
                     direction: str) -> dict:
    """Refit the best trial's configuration on every non-test row, save it as checkpoints/best.pt,
    open the vault once and return ``{"test", "final_model": "refit", "refit", "test_outputs"}`` (the last a
    ``TestOutputs``, for the worst-predicted rows view).

    Args:
        objective: the run's ``TrialObjective`` (its data holds every non-test row as training rows).

    Raises:
        KnobsError: no trial finished with a finite value.
    """
    best = top_trials(trials, 1, direction)
    if not best:
        raise KnobsError("no trial finished with a finite cross-validated score, so there is no configuration "
                         "to refit; see events.jsonl for the failures")
    best = best[0]
    fold_epochs = [int(row["best_epoch"]) for row in best.attrs["cv"]["per_fold"]]
    epochs = int(best.attrs["best_epoch"])
    data = objective.data
    params = {**objective.fixed, **best.config}
    watch = refit_watch(epochs, len(data.train[1]), int(params.get("batch_size", cfg.train.batch_size)))
    model, history = objective.fit(params, data, trial_seed(cfg.seed, best), [watch], until=epochs, number=best.number)
    record_refit(rundir.path, best.number, watch)  # views/watch.json: this retraining happens anyway
    save_trial_checkpoint(rundir.best_checkpoint, model, params, best.number, best.value, cfg.model, data)
    X_test, y_test = vault.open(reason=f"final evaluation (trial {best.number} refit on every non-test row)")
    model = with_target(model, data.target)  # regression: answers in the target's own units
    test_out = outputs(model, data.to_model_input(X_test), data.task)
    test = split_metrics(data.task, y_test, test_out, intervals=True)
    refit = {"trial": best.number, "epochs": epochs, "epochs_run": len(history.records),
             "rows": int(len(data.train[1])), "fold_best_epochs": fold_epochs,
             "train_loss": history.records[-1]["train_loss"]}
    return {"test": test, "final_model": "refit", "refit": refit, "test_outputs": TestOutputs(X_test, y_test, test_out)}
