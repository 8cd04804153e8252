"""Validation metrics of the user's choosing, and one pass of evaluation (the losses by task: ``_losses``).

Why sums on the device: each batch adds its loss sum and correct count to device tensors, and the
host reads them once at the end: no per-batch synchronization with the accelerator. Only when the
trainer has custom ``metrics`` are the outputs kept (on the device, concatenated once) so each
metric sees the whole validation set: F1 or AUC of a mean of batches is not the F1 of the set.

A metric is ``fn(outputs, y) -> float`` on the model's raw outputs (logits for classification)
and the targets, as CPU tensors, or the name of a ``knobs.metrics`` function (``METRICS``), which
is given what it takes (labels, probabilities or values) and knows its direction.

Example:
    >>> fns = resolve_metrics({"f1": "macro_f1"}, "classification")
    >>> fns["f1"].mode
    'max'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from knobs.errors import ConfigError, DataError
from knobs.train._losses import (IGNORE_INDEX, LOSSES, class_probabilities, dense_targets, label_probabilities,
                                 labelled_positions, per_example, predicted_classes, predicted_labels)

__all__ = ["TASKS", "LOSSES", "METRICS", "MULTILABEL_METRICS", "RECORD_KEYS", "Metric", "monitor_hint", "resolve_metrics", "measure",
           "metric_mode"]

TASKS = ("classification", "regression", "multilabel")
#: The keys every epoch record has; a custom metric may not take one of these names.
RECORD_KEYS = ("epoch", "train_loss", "val_loss", "val_accuracy", "lr", "lr_steps", "seconds")

# (task, name) -> (the knobs.metrics function, what it takes, direction); a multi-label model's labels: logit > 0
_NAMED: dict[tuple[str, str], tuple[str, str, str]] = {
    **{("classification", name): (name, takes, mode) for name, takes, mode in (
        ("accuracy", "labels", "max"), ("balanced_accuracy", "labels", "max"), ("macro_f1", "labels", "max"),
        ("mean_iou", "labels", "max"), ("log_loss", "proba", "min"), ("roc_auc", "proba", "max"))},
    **{("regression", name): (name, "values", mode) for name, mode in (("rmse", "min"), ("mae", "min"), ("r2", "max"))},
    **{("multilabel", name): (function, takes, mode) for name, function, takes, mode in (
        ("macro_f1", "label_macro_f1", "labels", "max"), ("micro_f1", "label_micro_f1", "labels", "max"),
        ("subset_accuracy", "subset_accuracy", "labels", "max"),
        ("average_precision", "label_average_precision", "proba", "max"),
        ("roc_auc", "label_roc_auc", "proba", "max"))},
}
#: name -> (task, what the knobs.metrics function takes, direction), for classification and regression
METRICS: dict[str, tuple[str, str, str]] = {name: (task, takes, mode) for (task, name), (_, takes, mode) in
                                            _NAMED.items() if task != "multilabel"}
#: ``task="multilabel"``: name -> (the knobs.metrics function, what it takes, direction)
MULTILABEL_METRICS: dict[str, tuple[str, str, str]] = {name: spec for (task, name), spec in _NAMED.items()
                                                       if task == "multilabel"}


def monitor_hint(name: Any, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a monitored key the epoch record lacks: a metric named with Keras' ``val_``
    prefix (``val_f1`` for the metric ``f1``: its record key is its own name), another tool's name
    (``val_acc``), or the closest spelling; "" when nothing is close."""
    from knobs._validation import did_you_mean

    known = list(known)
    if isinstance(name, str) and name.startswith("val_") and name[4:] in known:
        return f" (did you mean {name[4:]!r}? a metric of Trainer(metrics=...) is recorded under its own name)"
    return did_you_mean(name, known)


@dataclass(frozen=True)
class Metric:
    """One validation metric: ``fn(x, y) -> float`` and its direction (None: unknown); ``reads`` says what ``x`` is —
    the model's raw ``"outputs"`` (a callable of the user's), or for a ``knobs.metrics`` name the predicted
    ``"labels"`` or the ``"proba"``, with ``y`` the matching targets (``_readings``)."""

    fn: Callable[[torch.Tensor, torch.Tensor], float]
    mode: str | None
    reads: str = "outputs"


def metric_mode(name: str, metrics: dict[str, Metric] | None = None) -> str | None:
    """"min"/"max" for a record key or metric name, None when it cannot be told."""
    if metrics and name in metrics and metrics[name].mode is not None:
        return metrics[name].mode
    if name in ("val_loss", "train_loss"):
        return "min"
    if name.endswith("accuracy"):
        return "max"
    bare = name[4:] if name.startswith("val_") else name
    return METRICS[bare][2] if bare in METRICS else MULTILABEL_METRICS[bare][2] if bare in MULTILABEL_METRICS else None


def resolve_metrics(metrics: Any, task: str) -> dict[str, Metric]:
    """``{name: Metric}`` from ``{name: callable | knobs.metrics name}``, a list of names, or one name.

    Raises:
        ConfigError: not a mapping or list, a name clashing with the record's own keys, an unknown
            ``knobs.metrics`` name or one of the other task, or a value that is not callable.
    """
    if metrics is None:
        return {}
    if isinstance(metrics, str):  # one name, as Keras' metrics="accuracy" reads
        metrics = [metrics]
    if isinstance(metrics, (list, tuple)):
        metrics = {m: m for m in metrics} if all(isinstance(m, str) for m in metrics) else metrics
    if not isinstance(metrics, dict):
        raise ConfigError(f"metrics: expected a mapping {{name: fn(outputs, y) -> float or a knobs.metrics name}} "
                          f"or a list of names, got {metrics!r}")
    out = {}
    for name, fn in metrics.items():
        if not isinstance(name, str) or name in RECORD_KEYS:
            raise ConfigError(f"metrics: {name!r} cannot name a metric (the record has it already: "
                              f"{', '.join(RECORD_KEYS)})")
        if isinstance(fn, str):
            out[name] = _named(name, fn, task)
        elif callable(fn):
            out[name] = Metric(fn, metric_mode(name))
        else:
            raise ConfigError(f"metrics.{name}: expected fn(outputs, y) -> float or one of {', '.join(METRICS)}, "
                              f"got {fn!r}")
    return out


def _named(name: str, fn: str, task: str) -> Metric:
    if (task, fn) not in _NAMED:
        from knobs._validation import did_you_mean

        known = [k for t, k in _NAMED if t == task]
        close = {"acc": "accuracy", "f1": "macro_f1", "auc": "roc_auc", "iou": "mean_iou", "jaccard": "mean_iou",
                 "mse": "rmse"}.get(fn)
        hint = f" (did you mean {close!r}?)" if close in known else did_you_mean(fn, known)
        raise ConfigError(f"metrics.{name}: unknown {fn!r} for {task}{hint}; expected one of {', '.join(known)} or "
                          f"a callable")
    from knobs import metrics as km

    function, takes, mode = _NAMED[task, fn]
    return Metric(lambda x, y, f=getattr(km, function): f(y.numpy(), x.numpy()), mode,
                  "outputs" if takes == "values" else takes)


def _readings(out: torch.Tensor, y: torch.Tensor, task: str, reads: set[str]) -> dict[str, tuple[torch.Tensor, ...]]:
    """What the metrics read of one batch, by ``Metric.reads``, with the targets to match: the raw outputs; the
    predicted classes (a multi-label model's labels); the class probabilities (each label's).

    NOTE: with a class per position every labelled token or pixel is a row (as a tagger's or a segmentation's F1 is
    counted), taken batch by batch: the logits (C floats per pixel) are not kept for a set's metrics, and a padded
    batch's length may differ from the next's, which the whole set's concatenation failed on."""
    found: dict[str, tuple[torch.Tensor, ...]] = {}
    if "outputs" in reads:
        found["outputs"] = (out, y)
    if task == "multilabel":
        labels = y.round().long()
        if "labels" in reads:
            found["labels"] = (predicted_labels(out), labels)
        if "proba" in reads:
            found["proba"] = (label_probabilities(out.double()), labels)
        return found
    if task == "classification" and reads & {"labels", "proba"}:
        rows, classes = labelled_positions(out, y)
        if "labels" in reads:
            found["labels"] = (predicted_classes(rows), classes)
        if "proba" in reads:
            found["proba"] = (class_probabilities(rows.double()), classes)
    return found


def measure(model: torch.nn.Module, batches: Iterable[tuple[Any, ...]], task: str, precision: Any,
            metrics: dict[str, Metric] | None = None, weighted: bool = False) -> tuple[float, float | None, dict]:
    """Mean loss, accuracy (classification; multi-label: the share of every row's labels right, Keras' binary
    accuracy) and ``metrics`` of ``model`` in eval mode; its mode is
    restored. ``weighted``: batches carrying sample weights give the weighted mean loss (each
    example's loss times its weight, over the sum of weights); accuracy stays a plain fraction."""
    from knobs.train._batches import forward, model_output

    was_training = model.training
    model.eval()
    sums, dens, hits, rows, count, positions = [], [], [], 0, 0, 0
    reads = {m.reads for m in (metrics or {}).values()}
    kept: dict[str, tuple[list, list]] = {read: ([], []) for read in reads}
    try:
        with torch.no_grad():
            for item in batches:
                xb, yb = item[0], item[1]
                with precision.autocast():
                    out = forward(model, xb)
                out = model_output(out, "validation").float()
                dense = dense_targets(yb)  # a class per position: counted over the labelled ones
                labelled = (yb != IGNORE_INDEX) if dense else None
                if weighted and len(item) > 2:
                    per = LOSSES[task](out, yb, reduction="none")
                    sums.append((per_example(per, yb) * item[2]).sum())
                    dens.append(item[2].sum())
                else:
                    sums.append(LOSSES[task](out, yb, reduction="sum"))
                    count = count + (labelled.sum() if dense else yb.numel())
                if task == "multilabel":  # each row's each label: right when its logit is on the label's side of 0
                    hits.append((predicted_labels(out) == yb.round()).sum())
                    positions = positions + yb.numel()
                elif task == "classification":
                    hit = predicted_classes(out) == yb
                    hits.append((hit & labelled).sum() if dense else hit.sum())
                    positions = positions + (labelled.sum() if dense else len(yb))
                rows += len(yb)
                for read, (x, y) in _readings(out, yb, task, reads).items():
                    kept[read][0].append(x)
                    kept[read][1].append(y)
    finally:
        model.train(was_training)
    if not rows:
        raise DataError("no rows to measure the model on (every batch empty: a DataLoader whose every item was unreadable — "
                        "see its dataset's `unreadable` — or one with no batches)")
    loss = float(torch.stack(sums).sum() / torch.stack(dens).sum()) if dens else float(torch.stack(sums).sum()) / float(count)
    accuracy = float(torch.stack(hits).sum()) / float(positions) if hits else None
    whole = {read: (torch.cat(xs).cpu(), torch.cat(ys).cpu()) for read, (xs, ys) in kept.items()}
    values = {name: _value(name, m.fn(*whole[m.reads])) for name, m in (metrics or {}).items()}
    return loss, accuracy, values


def _value(name: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"metrics.{name}: must return a number, returned {value!r}") from None
