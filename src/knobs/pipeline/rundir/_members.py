"""Checkpoints of the top-k trials, kept on disk as the search goes, loaded back as models.

Why on disk during the search: a run killed at any moment resumes with its best models; the
callback that prunes the directory keeps it at k files however many trials run. Every trial's
checkpoint is written by ``save_trial_checkpoint`` — one-by-one and population trials alike — so
the final evaluation, the ensemble and ``knobs predict`` read one format.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

import torch

from knobs.pipeline.rundir._rundir import RunDir, checkpoint_lock
from knobs.pipeline.inputs._target import with_target
from knobs.config import ModelConfig
from knobs.pipeline.model._build import ModelInfo, build_model, checkpoint_config
from knobs.pipeline.model._builder import builder_for_record, load_builder
from knobs.pipeline.model._text_backbone import frozen_text_encoder, with_member_cache
from knobs.train import load_checkpoint, restore_model, save_checkpoint
from knobs.trial import FrozenTrial, TrialState

__all__ = ["trial_checkpoint", "save_trial_checkpoint", "top_trials", "keep_top", "load_member"]

_TRIAL_FILE = re.compile(r"trial-(\d+)\.pt")


def trial_checkpoint(rundir: RunDir, number: int) -> Path:
    return rundir.path / "checkpoints" / f"trial-{number}.pt"


def save_trial_checkpoint(path: Path, model: torch.nn.Module, params: dict[str, Any], number: int, value: float,
                          spec: ModelConfig, data: Any) -> Path:
    """Write a trial's model with what ``load_member`` and ``knobs predict`` rebuild it from.

    ``spec`` is the run's ``[model]``: its family, and for a ``model.builder`` the builder's record
    (absolute reference and the SHA-256 of its file), so a rebuild re-imports the same code."""
    extra = {"params": params, "trial": number, "value": value, "family": spec.family,
             "input_shape": list(data.input_shape), "n_classes": data.n_classes,
             "scaler": data.scaler.state_dict(), "target": data.target, "task": data.task}
    if spec.builder is not None:
        extra["builder"] = load_builder(spec.builder).record()
    if getattr(model, "pretrained_weights", None):  # a backbone's weights file (pipeline/model/_backbone_model.py)
        extra["weights"] = model.pretrained_weights
    frozen = frozen_text_encoder(model)
    if frozen:
        extra["frozen_encoder"] = True  # its members share the sentence cache (model._text_backbone)
    # NOTE: a frozen encoder is the pretrained weights every rebuild loads again: left out of the
    # file (hash recorded), a MiniLM trial's checkpoint is its head, not 90 MB
    return save_checkpoint(path, model=model, extra=extra, omit=("encoder.",) if frozen else ())


def top_trials(trials: Sequence[FrozenTrial], k: int, direction: str) -> list[FrozenTrial]:
    """The k best complete trials with a finite value, best first."""
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    done.sort(key=lambda t: t.value, reverse=(direction == "maximize"))
    return done[:k]


def keep_top(rundir: RunDir, study: Any, k: int, also: Sequence[int] = ()) -> list[int]:
    """Delete the checkpoints of finished trials outside the study's top k; returns their numbers.

    Safe while other workers run: the directory is listed *before* the study is read, so every
    listed file's trial is in the snapshot with a state at least as recent as the file. A file is
    deleted only when its trial is known finished and outside the top k — which it stays forever,
    as the top k only gets better. A running trial's file (written, not yet told) and a file whose
    trial the snapshot does not know are kept. It runs under the checkpoint lock, so the final
    evaluation never loses a member it is loading to another worker's pruning. The trials numbered
    in ``also`` keep theirs too (the autopilot's current configuration, which it compares against).
    """
    with checkpoint_lock(rundir):
        files = {int(m.group(1)): p for p in Path(rundir.path, "checkpoints").iterdir()
                 if (m := _TRIAL_FILE.fullmatch(p.name))}
        if not files:
            return []
        trials = study.trials
        keep = {t.number for t in top_trials(trials, k, study.direction)} | set(also)
        finished = {t.number for t in trials if t.state.finished}
        gone = sorted(n for n in files if n in finished and n not in keep)
        for number in gone:
            files[number].unlink(missing_ok=True)
    return gone


def load_member(path: Path, input_shape: Sequence[int], n_classes: int, family: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a trial checkpoint was saved from; returns (model, the checkpoint's extra).

    A regression model comes back answering in the target's own units (``with_target``). A
    builder's model is rebuilt from the recorded reference, refused when its file changed since.

    Raises:
        ConfigError: the builder's file changed since the checkpoint was written, or cannot be imported.
    """
    state = load_checkpoint(path)
    extra = state["extra"]
    info = ModelInfo.of_checkpoint({**extra, "input_shape": input_shape, "n_classes": n_classes})
    builder = extra.get("builder")
    reference = None if builder is None else builder_for_record(builder, f"checkpoint {path}").reference
    model = build_model(checkpoint_config(family, reference, extra, f"checkpoint {path}"), extra["params"], info)
    restore_model(model, state, source=f"checkpoint {path}")
    return with_target(with_member_cache(model, extra), extra.get("target")), extra
