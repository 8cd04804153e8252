"""The end of the cycle: combine the top trials on validation, then open the vault once.

Every decision — the ensemble's weights, ensemble or single model — is made on the validation
split before the vault is opened; the test split then measures both, in the one opening.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from knobs.data import Vault
from knobs.ensemble import diversity, greedy_selection
from knobs.errors import KnobsError
from knobs.metrics import split_metrics
from knobs.pipeline.trials._evaluate import TestOutputs, average_outputs, outputs_on
from knobs.pipeline.rundir._members import load_member, top_trials, trial_checkpoint
from knobs.pipeline.inputs._prepared import PreparedData
from knobs.pipeline.rundir._rundir import RunDir, checkpoint_lock
from knobs.trial import FrozenTrial

__all__ = ["final_evaluation"]


def final_evaluation(cfg: Any, rundir: RunDir, vault: Vault, data: PreparedData,
                     trials: Sequence[FrozenTrial], direction: str) -> dict:
    """Test metrics of the final model, plus single-best vs ensemble on validation and test; and
    ``test_outputs`` (``TestOutputs``): what the final model answered."""
    with checkpoint_lock(rundir):  # a `knobs worker` still telling trials may prune checkpoints
        members = [t for t in top_trials(trials, cfg.ensemble.top_k, direction)
                   if trial_checkpoint(rundir, t.number).exists()]
        models = [load_member(trial_checkpoint(rundir, t.number), data.input_shape, data.n_classes,
                              cfg.model.family)[0] for t in members]
    if not members:
        raise KnobsError("no trial finished with a finite validation score, so there is no model to test; "
                         "see events.jsonl for the failures")
    # members answer in the target's own units; streamed rows left out when read leave their targets too
    val_out, y_val, _ = outputs_on(models, data.val[0], data.raw_targets(data.val[1]), data.task)
    result: dict[str, Any] = {"single": {"trial": members[0].number, "val": split_metrics(data.task, y_val, val_out[0])}}
    weights = _ensemble_weights(cfg, val_out, y_val, data)
    if weights is not None:
        result["ensemble"] = {"members": [t.number for t in members], "weights": weights.round(4).tolist(),
                              "val": split_metrics(data.task, y_val, average_outputs(val_out, weights, data.task)),
                              "diversity": {**diversity(*_binary(val_out, y_val, data.task)),
                                            **({"over": OVER[data.task]} if data.task in OVER else {})}}
    chosen = ("ensemble" if weights is not None
              and result["ensemble"]["val"]["log_loss"] < result["single"]["val"]["log_loss"] else "single")
    result["final_model"] = chosen

    X_raw, y_test = vault.open(reason=f"final evaluation ({chosen} model)")
    test_out, y_test, read = outputs_on([m if (weights is None or weights[i] > 0 or i == 0) else None
                                         for i, m in enumerate(models)], data.to_model_input(X_raw), y_test, data.task)
    X_raw = X_raw if read is None else X_raw[read]
    result["single"]["test"] = split_metrics(data.task, y_test, test_out[0], intervals=True)
    if weights is not None:
        used = [i for i, w in enumerate(weights) if w > 0]
        ens = average_outputs([test_out[i] for i in used], weights[used], data.task)
        result["ensemble"]["test"] = split_metrics(data.task, y_test, ens, intervals=True)
    result["test"] = result[chosen]["test"]
    # NOTE: for the worst-classified test rows view (stages/_report.test_once records it and drops this key)
    result["test_outputs"] = TestOutputs(X_raw, y_test, test_out[0] if chosen == "single" else ens)
    if cfg.balance.threshold != "none":
        final_val = val_out[0] if chosen == "single" else average_outputs(val_out, weights, data.task)
        final_test = test_out[0] if chosen == "single" else ens
        tune = _tuned_label_thresholds if data.task == "multilabel" else _tuned_threshold
        result["threshold"] = tune(cfg.balance.threshold, final_val, y_val, final_test, y_test)
    return result


def _tuned_threshold(metric: str, val_out: np.ndarray, y_val: np.ndarray, test_out: np.ndarray,
                     y_test: np.ndarray) -> dict:
    """A binary decision threshold chosen on validation, then applied once to the test split."""
    from knobs.balance import Threshold

    threshold = Threshold(metric=metric).fit(y_val, val_out)
    return {**threshold.to_dict(),
            "test": split_metrics("classification", y_test, test_out, threshold=threshold.threshold_, intervals=True)}


def _tuned_label_thresholds(metric: str, val_out: np.ndarray, y_val: np.ndarray, test_out: np.ndarray,
                            y_test: np.ndarray) -> dict:
    """A multi-label run's threshold per label, each chosen on validation, then applied once to the test split."""
    from knobs.balance import LabelThresholds

    tuned = LabelThresholds(metric=metric).fit(y_val, val_out)
    return {**tuned.to_dict(), "test": split_metrics("multilabel", y_test, test_out, threshold=tuned.thresholds_,
                                                     intervals=True)}


def _ensemble_weights(cfg: Any, val_out: list[np.ndarray], y_val: np.ndarray, data: PreparedData) -> np.ndarray | None:
    """Greedy selection with replacement (Caruana et al. 2004) on validation log loss (a multi-label run's: the
    mean binary cross-entropy over its rows and labels)."""
    if not cfg.ensemble.enabled or data.task == "regression" or len(val_out) < 2:
        return None
    selection = greedy_selection(*_binary(val_out, y_val, data.task), size=cfg.ensemble.size, metric="log_loss")
    return np.asarray(selection.weights, dtype=float)


#: what a multi-label or segmentation ensemble's diversity counts as one decision (summary.json's ``over``)
OVER = {"multilabel": "row-and-label entries", "segmentation": "labelled pixels"}


def _binary(outs: list[np.ndarray], y: np.ndarray, task: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Multi-label members as binary ones: each row-and-label entry a sample with probabilities ``[1 - p, p]``; a
    segmentation's as classifiers of its labelled pixels, each pixel a row ``(C,)``.

    Why: the mean binary cross-entropy of averaged label probabilities is the log loss of these averaged binary
    rows (the pixels' mean log loss, of the averaged pixel rows), and a disagreement is a label (a pixel) two members
    set differently — so selection and diversity need no second version. Other tasks pass through."""
    if task == "segmentation":
        labelled = np.asarray(y) != -100
        rows = [np.moveaxis(np.asarray(out), 1, -1)[labelled].astype(np.float64) for out in outs]
        return [r / r.sum(axis=1, keepdims=True) for r in rows], np.asarray(y)[labelled].astype(np.int64)
    if task != "multilabel":
        return outs, y
    flat = [np.asarray(out, np.float64).reshape(-1) for out in outs]
    return [np.stack([1 - p, p], axis=1) for p in flat], np.asarray(y).reshape(-1).astype(np.int64)
