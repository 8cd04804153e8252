"""Recording what the report's data, diagnosis and test views show, into ``<run>/views/``.

Four records, each made where the cycle already holds what it needs (``rundir/_views.py`` says
the layout; ``knobs.report._data_views`` draws them):
- ``record_samples`` (after the preflight): a few training rows as a trial's model sees them —
  standardized, through the trial's own augmentation (``inputs/_augment.py``), pixels un-normalized
  for the eye; never a validation or test row;
- ``record_worst`` (inside the final stage, after the vault's one opening): the test rows of
  highest loss under the final model (``test_once`` hands over the outputs it measured);
- ``record_watch`` (after the final stage): the best trial's layers under ``knobs.watch`` — kept
  when the autopilot's diagnosis or the fold mode's refit watched it already (``trials/_watched.py``),
  else a short replay of its first epochs, done only when it costs at most ``WATCH_SHARE`` of the
  search's training time (it reads no test row);
- ``record_filters`` (after the final stage, when ``checkpoints/best.pt`` is the final model's
  best member, or the refit): the first 2-D convolution's kernels as one image;
- ``record_spectral`` (after the final stage, from ``checkpoints/best.pt``): each weight matrix's
  heavy-tailed spectral exponent α (``knobs.diagnose._spectral``; data-free, one SVD per layer).

Why guarded: these records are for looking at; one that fails (an unusual builder model, a full
disk) is logged as a ``views_skipped`` event and the run goes on to its result.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import numpy as np
import torch

from knobs.diagnose._spectral import layer_spectra
from knobs.pipeline.inputs._target import TargetScale
from knobs.errors import KnobsError
from knobs.metrics import label_row_losses, pixel_row_scores
from knobs.pipeline.inputs._augment import augment_options, data_kind, image_augment
from knobs.pipeline.inputs._row_looks import RowLooks
from knobs.pipeline.inputs._streamed import read_rows
from knobs.pipeline.rundir._members import load_member, top_trials
from knobs.pipeline.rundir._views import rounded, write_view
from knobs.pipeline.stages._open import OpenRun
from knobs.pipeline.stages._study import direction
from knobs.pipeline.trials._evaluate import TestOutputs
from knobs.pipeline.trials._objective import trial_seed
from knobs.pipeline.trials._watched import recorded_trial, watch_record, watched_replay

__all__ = ["record_samples", "record_watch", "record_worst", "record_filters", "record_spectral", "WATCH_SHARE"]

#: training rows shown: image thumbnails, table rows, texts (each with its EDA sentences)
IMAGES, ROWS, TEXTS, SENTENCES = 16, 5, 4, 3
#: worst test rows shown
WORST = 12
#: the watched replay may cost at most this share of the search's training time (sum of trial durations)
WATCH_SHARE = 0.02
#: and at most this many epochs (as a diagnosis: enough for the layers' trends to show)
WATCH_EPOCHS = 20
#: the most filters in the grid image
FILTERS = 64
TEXT_CHARS = 300


def _guarded(view: str) -> Callable:
    """Run a recorder; a failure becomes a ``views_skipped`` event (bad input still stops the run)."""
    def wrap(record: Callable) -> Callable:
        @functools.wraps(record)
        def guarded(run: OpenRun, *args: Any) -> None:
            try:
                record(run, *args)
            except KnobsError:
                raise
            except Exception as error:  # noqa: BLE001 - a view must not cost the run its result
                run.events("views_skipped", view=view, reason=f"{type(error).__name__}: {error}")
        return guarded
    return wrap


# ---- the data as the model sees it -----------------------------------------------------------------

@_guarded("samples")
def record_samples(run: OpenRun) -> None:
    """``views/samples``: training rows after the trials' preprocessing and augmentation (the
    reference configuration's ``augment.*`` values, as the preflight's)."""
    data, _, params = run.inputs.view()
    looks = RowLooks.of(run.inputs.dataset, data)
    seed = run.cfg.seed
    options = augment_options(run.cfg, params)
    rng = np.random.default_rng(seed)
    n = len(data.train[1])
    if looks.kind == "text":
        rows = np.sort(rng.choice(n, size=min(TEXTS, n), replace=False))
        items = _text_samples(looks, data, rows, options, seed)
        write_view(run.rundir.path, "samples", _samples(looks, rows, options, items))
        return
    rows = np.sort(rng.choice(n, size=min(IMAGES if looks.kind == "image" else ROWS, n), replace=False))
    rows, X, y = read_rows(data.train[0], data.train[1], rows)  # streamed: these rows read (unreadable ones left out)
    augmented = bool(options) and data_kind(data) == "image"
    if augmented:
        X, y = image_augment(options, data, seed)(X, y)
    targets = data.raw_targets(y) if data.task == "regression" else y.numpy()
    items = [{"label": looks.label(t)} for t in targets]
    if looks.kind == "image":
        images = looks.images(looks.raw(X))
        if looks.task == "segmentation":  # each image beside its mask, as augmented together: the masks must follow
            images = looks.with_masks(images, np.asarray(targets, dtype=np.int64))
        write_view(run.rundir.path, "samples", _samples(looks, rows, options if augmented else {}, items),
                   images=images)
        return
    items = [{**item, **looks.row(x)} for item, x in zip(items, X.numpy())]
    write_view(run.rundir.path, "samples", _samples(looks, rows, {}, items))


def _samples(looks: RowLooks, rows: np.ndarray, options: dict, items: list[dict]) -> dict:
    return {"format": 1, "kind": looks.kind, "task": looks.task, "split": "train", "rows": rows.tolist(),
            "augment": dict(options) or None, "items": items}


def _text_samples(looks: RowLooks, data: Any, rows: np.ndarray, options: dict, seed: int) -> list[dict]:
    """Each text as read, as the model reads it (the encoded words), and its EDA sentences."""
    texts = [str(t) for t in np.asarray(data.texts).reshape(-1)[rows]]
    made: list[list[str]] = [[] for _ in texts]
    if options:
        from knobs.augment import TextAugment

        out, owner = TextAugment(options, seed=seed).augment_dataset(texts, np.arange(len(texts)))
        for sentence, i in zip(out[len(texts):], owner[len(texts):]):
            made[int(i)].append(str(sentence))
    labels = data.train[1][torch.as_tensor(rows)].numpy()
    return [{"label": looks.label(label), "text": text[:TEXT_CHARS],
             "seen": (looks.sentence(data.train[0][int(row)].tolist()) or "")[:TEXT_CHARS] or None,
             "augmented": [s[:TEXT_CHARS] for s in sentences[:SENTENCES]]}
            for text, label, row, sentences in zip(texts, labels, rows, made)]


# ---- the best trial's layers under watch -----------------------------------------------------------

@_guarded("watch")
def record_watch(run: OpenRun, objective: Any) -> None:
    """``views/watch.json`` for the study's best trial: kept when the autopilot's diagnosis or the
    refit watched that trial, else a replay of its first epochs when that is cheap (``WATCH_SHARE``)."""
    trials = run.study.trials
    best = top_trials(trials, 1, direction(run.cfg))
    if not best or recorded_trial(run.rundir.path) == best[0].number:
        return
    best = best[0]
    spent = sum(t.duration or 0.0 for t in trials)
    epochs_run = int(best.attrs.get("epochs_run") or 0)
    if not best.duration or not epochs_run:
        return
    per_epoch = best.duration / epochs_run
    affordable = int(WATCH_SHARE * spent / per_epoch)
    epochs = min(int(best.attrs.get("best_epoch") or epochs_run), WATCH_EPOCHS, affordable)
    if epochs < 1:
        run.events("views_skipped", view="watch", reason=f"a watched epoch of trial {best.number} would take about "
                   f"{per_epoch:.2g} s, over {WATCH_SHARE:.0%} of the search's {spent:.3g} s of training")
        return
    inner = getattr(objective, "inner", objective)  # fold mode: the one-split objective, on the first fold
    data, _, _ = run.inputs.view()
    params = {**inner.fixed, **best.config, **data.model_args}
    batch = int(params.get("batch_size", run.cfg.train.batch_size))
    watch, seconds = watched_replay(inner, params, data, trial_seed(run.cfg.seed, best), epochs,
                                    math.ceil(len(data.train[1]) / batch))
    record = watch_record(watch, best.number, "replay", epochs=epochs, seconds=rounded(seconds, 3),
                          budget=rounded(WATCH_SHARE * spent, 3))
    write_view(run.rundir.path, "watch", record)
    run.events("views_watch", trial=best.number, epochs=epochs, seconds=round(seconds, 3))


# ---- the worst test rows (after the vault opened) --------------------------------------------------

@_guarded("worst")
def record_worst(run: OpenRun, final_model: str, measured: TestOutputs) -> None:
    """``views/worst``: the ``WORST`` test rows of highest loss (classification: −log p(true class); multilabel:
    the mean binary cross-entropy of its labels; segmentation: its labelled pixels' mean −log p(true class)) or
    largest absolute error (regression; several targets: the mean over them in training standard deviations)
    under the final model. Called by the final stage only,
    with what the vault's one opening measured."""
    looks = RowLooks.of(run.inputs.dataset, run.inputs.data)
    X_test, y, out = measured.rows, np.asarray(measured.targets), np.asarray(measured.outputs, dtype=np.float64)
    ids = _test_ids(run, len(y))
    if looks.task == "segmentation":  # an image's loss: the mean −log p(true class) of its labelled pixels
        loss, right = pixel_row_scores(y, out)
        order = np.argsort(-loss, kind="stable")[:WORST]
        items = [{"row": int(i), "true": looks.label(y[i]), "predicted": looks.label(out[i].argmax(axis=0)),
                  "p_true": rounded(right[i], 3), "loss": rounded(loss[i], 3)} for i in order]
    elif looks.task == "classification":
        labels = y.astype(np.int64)
        p_true = out[np.arange(len(labels)), labels]
        loss = -np.log(np.clip(p_true, 1e-12, 1.0))
        order = np.argsort(-loss, kind="stable")[:WORST]
        predicted = out.argmax(axis=1)
        items = [{"row": int(i), "true": looks.class_name(int(labels[i])),
                  "predicted": looks.class_name(int(predicted[i])),
                  "p_predicted": rounded(out[i, predicted[i]], 3), "p_true": rounded(p_true[i], 3),
                  "loss": rounded(loss[i], 3)} for i in order]
    elif looks.task == "multilabel":  # a row's loss: its mean binary cross-entropy over the labels
        loss = label_row_losses(y, out)
        order = np.argsort(-loss, kind="stable")[:WORST]
        items = [{"row": int(i), "true": looks.label(y[i]), "predicted": looks.label(out[i] >= 0.5),
                  "loss": rounded(loss[i], 3)} for i in order]
    elif y.ndim == 2:  # several targets, each in its own units: a row's mean absolute error in training stds
        y = y.astype(np.float64)
        gap = (np.abs(out - y) / np.asarray((run.inputs.data.target or {}).get("std", 1.0))).mean(axis=1)
        order = np.argsort(-gap, kind="stable")[:WORST]
        items = [{"row": int(i), "true": looks.label(y[i]), "predicted": looks.label(out[i]),
                  "error": rounded(gap[i], 3)} for i in order]
    else:
        y = y.astype(np.float64)
        order = np.argsort(-np.abs(out - y), kind="stable")[:WORST]
        items = [{"row": int(i), "true": rounded(y[i]), "predicted": rounded(out[i]),
                  "error": rounded(out[i] - y[i])} for i in order]
    for item in items:
        if ids is not None:
            item["id"] = str(ids[item["row"]])
    images = None
    if looks.kind == "image":
        images = looks.images(X_test[order])
        if looks.task == "segmentation":  # the image, its true classes, its predicted ones
            images = looks.with_masks(images, y[order].astype(np.int64), out[order].argmax(axis=1))
    for item, i in zip(items, order):
        if looks.kind == "text":
            item["text"] = (looks.sentence(X_test[i]) or "")[:TEXT_CHARS] or None
        elif looks.kind == "table":
            item.update(looks.row(X_test[i]))
    record = {"format": 1, "kind": looks.kind, "task": looks.task, "final_model": final_model, "n": int(len(y)),
              "ranked_by": {"classification": "log loss", "multilabel": "binary cross-entropy",
                            "segmentation": "mean pixel log loss"}.get(
                  looks.task, "mean absolute error in training standard deviations" if y.ndim == 2 else "absolute error"),
              "class_names": ([looks.class_name(c) for c in range(out.shape[1])]
                              if out.ndim in (2, 4) and looks.task != "regression" else None),
              "items": items}
    write_view(run.rundir.path, "worst", record, images=images)


def _test_ids(run: OpenRun, n: int) -> list | None:
    """The test rows' names from splits.json (a file's line, an image's path), when they line up."""
    test = (run.inputs.split_record or {}).get("test")
    ids = test.get("rows") if isinstance(test, dict) else test
    return list(ids) if ids is not None and len(ids) == n else None


# ---- the first layer's filters ---------------------------------------------------------------------

def _best_model(run: OpenRun) -> tuple[torch.nn.Module, dict] | None:
    """The model of ``checkpoints/best.pt`` and its extras; None before any trial finished."""
    path = run.rundir.best_checkpoint
    if not path.exists():
        return None
    data = run.inputs.data
    return load_member(path, data.input_shape, data.n_classes, run.cfg.model.family)


@_guarded("filters")
def record_filters(run: OpenRun) -> None:
    """``views/filters``: the first ``Conv2d`` of ``checkpoints/best.pt`` (none: nothing recorded)."""
    best = _best_model(run)
    if best is None:
        return
    model, extra = best
    name, conv = next(((n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)), (None, None))
    if conv is None:
        return
    weights = conv.weight.detach().float().cpu().numpy()
    grid, columns = filter_grid(weights[:FILTERS])
    write_view(run.rundir.path, "filters", {"format": 1, "layer": name, "shape": list(weights.shape),
                                            "shown": int(min(len(weights), FILTERS)), "columns": columns,
                                            "trial": extra.get("trial")},
               images=[grid], longest=None)


@_guarded("spectral")
def record_spectral(run: OpenRun) -> None:
    """``views/spectral``: α per weight layer of ``checkpoints/best.pt`` (by module name)."""
    best = _best_model(run)
    if best is None:
        return
    model, extra = best
    # NOTE: a regression's member answers through TargetScale; its layers are named as the trial trained them
    # ("body.1", not "model.body.1"), so the per-layer table joins them with the watched rows
    inner = model.model if isinstance(model, TargetScale) else model
    write_view(run.rundir.path, "spectral", {"format": 1, "trial": extra.get("trial"), "layers": layer_spectra(inner)})


def filter_grid(weights: np.ndarray) -> tuple[np.ndarray, int]:
    """Kernels ``(out, in, kh, kw)`` → one uint8 image, each kernel scaled to its own min..max
    (RGB when it reads three channels, else the mean over its input channels), 1-pixel white gaps."""
    out, channels, kh, kw = weights.shape
    columns = math.ceil(math.sqrt(out))
    rows = math.ceil(out / columns)
    rgb = channels == 3
    grid = np.full((rows * (kh + 1) + 1, columns * (kw + 1) + 1, *((3,) if rgb else ())), 255, dtype=np.uint8)
    for k in range(out):
        kernel = weights[k].transpose(1, 2, 0) if rgb else weights[k].mean(axis=0)
        low, high = float(kernel.min()), float(kernel.max())
        scaled = np.zeros_like(kernel) if high <= low else (kernel - low) / (high - low)
        r, c = divmod(k, columns)
        grid[1 + r * (kh + 1):1 + r * (kh + 1) + kh, 1 + c * (kw + 1):1 + c * (kw + 1) + kw] = np.rint(scaled * 255)
    return grid, columns
