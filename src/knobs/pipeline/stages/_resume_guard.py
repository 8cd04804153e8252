"""Refuse a resume whose config changes what the run's checkpoints mean.

A resumed run keeps its finished trials and their checkpoints, and writes ``preprocess.json`` again
from the new config. So the keys that decide the model's input — every ``data.*`` key: how the
file is read, which rows train (the encoding is fitted on them), how cells are encoded, images
sized, texts tokenized, inputs standardized — and the model itself (``model.family``,
``model.builder`` and the content of the builder's file) must be the ones the run started with. Otherwise the earlier trials' checkpoints would be loaded by the final
evaluation, the ensemble and ``knobs predict`` with preprocessing they were not trained with, and
their validation scores, compared with the new trials', would measure different inputs.

What the run started with is the config ``knobs run`` stored in its study
(``stages._study.claim_run``), read here before the new config replaces it. A changed test
set, search space or metric is refused elsewhere (``VaultMismatch``, ``StudyMismatch``); training
keys (``train.*``, ``[balance]``, ``[augment]``) may change on a resume: they shape the trials still
to come, not what a checkpoint's input is. A changed warm start (``search.warm_start``, its
``warm_start_rename``) is refused too: it changes what the sampler learns from, mid-run.

    >>> from knobs.config import parse_config
    >>> attrs = {"run": {"config": {"data": {"standardize": "feature"}}, "run_dir": "runs/a"}}
    >>> refuse_changed_inputs(attrs, parse_config({"data": {"standardize": "none"}}), "runs/a")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    knobs.errors.ConfigError: run runs/a cannot resume with this config: it started with data.standardize = "feature" (this config: "none"), ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from knobs.config import parse_config
from knobs.errors import ConfigError
from knobs.pipeline.model._backbone_model import refuse_changed_weights
from knobs.pipeline.model._builder import builder_for_record
from knobs.pipeline.stages._study import RUN_ATTR
from knobs.train import CheckpointError, load_checkpoint

__all__ = ["refuse_changed_inputs", "changed_inputs", "refuse_changed_builder"]

#: Keys outside [data] that change what a checkpoint is.
MODEL_KEYS = ("model.family", "model.builder", "model.weights")


def changed_inputs(started: Any, cfg: Any) -> list[tuple[str, Any, Any]]:
    """``(key, value it started with, value now)`` for each key that decides a checkpoint's input
    or model and differs between the two ``RunConfig``s, in the schema's order."""
    before, now = _inputs(started), _inputs(cfg)
    return [(key, before[key], now[key]) for key in before if before[key] != now[key]]


def refuse_changed_inputs(study_attrs: dict[str, Any], cfg: Any, run_dir: str | Path) -> None:
    """Raise ``ConfigError`` when the run in ``run_dir`` started (per the run record in its study's
    attributes) with other data or model keys than ``cfg``; a study without one passes.

    A record of another run directory (a study shared in a database) is left to ``claim_run``.
    """
    record = study_attrs.get(RUN_ATTR)
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        return
    if Path(record.get("run_dir", run_dir)).resolve() != Path(run_dir).resolve():
        return
    started = parse_config(record["config"], origin=f"the config run {run_dir} started with")
    changed = changed_inputs(started, cfg)
    if not changed:
        _refuse_changed_warm_start(started, cfg, run_dir)
        if cfg.model.builder is not None:
            refuse_changed_builder(run_dir)
        refuse_changed_weights(run_dir)
        return
    what = ", ".join(f"{key} = {json.dumps(old)} (this config: {json.dumps(new)})" for key, old, new in changed)
    raise ConfigError(f"run {run_dir} cannot resume with this config: it started with {what}, and its trials' "
                      f"checkpoints were trained on inputs made that way (preprocess.json would be replaced). "
                      f"Run it with the config it started with, or choose another --name")


#: The keys of a warm start: which earlier study the sampler is fed, and how its axes map here.
WARM_START_KEYS = ("search.warm_start", "search.warm_start_rename")


def _refuse_changed_warm_start(started: Any, cfg: Any, run_dir: str | Path) -> None:
    """Raise ``ConfigError`` when a resume feeds the sampler another earlier study (or maps its
    axes otherwise) than the run started with. Why: the warm start is read again at every opening,
    never stored, so a changed one would silently mix trials proposed from two different pictures
    of the space in one run, and the run's record would name only the last."""
    changed = []
    for key in WARM_START_KEYS:
        name = key.split(".")[1]
        before, now = getattr(started.search, name), getattr(cfg.search, name)
        if (before or None) != (now or None):  # no warm start, or an empty rename, is the same as unset
            changed.append(f"{key} = {json.dumps(before)} (this config: {json.dumps(now)})")
    if changed:
        raise ConfigError(f"run {run_dir} cannot resume with this config: it started with {', '.join(changed)}, and "
                          f"its trials were proposed by a sampler fed that earlier study. Run it with the warm start "
                          f"it started with, or choose another --name")


def refuse_changed_builder(run_dir: str | Path) -> None:
    """Raise ``ConfigError`` when the file of the ``model.builder`` that made the run's checkpoints
    changed since (the SHA-256 a checkpoint records, ``builder_for_record``): the resumed trials
    would build other models than those the run's checkpoints and values come from. A run with no
    checkpoint yet passes (nothing was made by the old file that the run keeps)."""
    checkpoints = Path(run_dir, "checkpoints")
    files = sorted(checkpoints.glob("*.pt")) if checkpoints.is_dir() else []
    for path in files:
        try:
            builder = (load_checkpoint(path).get("extra") or {}).get("builder")
        except CheckpointError:
            continue  # a damaged file is named where it is loaded
        if builder:
            builder_for_record(builder, f"run {run_dir}: checkpoint {path.name}")
            return


#: ``data.*`` keys that say how rows are read, not what they are: free to change on a resume.
#: (``data.memory`` is not among them: it decides cached vs streamed, and a streamed run's
#: standardizer comes from a sample of the training rows, not all of them.)
_HOW_NOT_WHAT = frozenset({"workers"})


def _inputs(cfg: Any) -> dict[str, Any]:
    """The checkpoint-defining keys of a ``RunConfig`` as JSON values (``image_size = 8`` is
    ``[8, 8]``: the same size written two ways is no change)."""
    dumped = cfg.model_dump(mode="json")
    values = {f"data.{key}": value for key, value in dumped["data"].items() if key not in _HOW_NOT_WHAT}
    for key in MODEL_KEYS:
        section, name = key.split(".")
        values[key] = dumped[section][name]
    if isinstance(values.get("data.image_size"), int):
        values["data.image_size"] = [values["data.image_size"]] * 2
    return values
