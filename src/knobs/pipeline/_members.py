"""Checkpoints of the top-k trials, kept on disk as the search goes, loaded back as models.

Why on disk during the search: a run killed at any moment resumes with its best models; the
callback that prunes the directory keeps it at k files however many trials run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch

from knobs.models import build_model
from knobs.pipeline._rundir import RunDir
from knobs.train import load_checkpoint
from knobs.trial import FrozenTrial, TrialState

__all__ = ["trial_checkpoint", "top_trials", "keep_top", "load_member"]


def trial_checkpoint(rundir: RunDir, number: int) -> Path:
    return rundir.path / "checkpoints" / f"trial-{number}.pt"


def top_trials(trials: Sequence[FrozenTrial], k: int, direction: str) -> list[FrozenTrial]:
    """The k best complete trials with a finite value, best first."""
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)]
    done.sort(key=lambda t: t.value, reverse=(direction == "maximize"))
    return done[:k]


def keep_top(rundir: RunDir, trials: Sequence[FrozenTrial], k: int, direction: str, also: Sequence[int] = ()) -> None:
    """Delete trial checkpoints outside the top k (pruned and failed trials' ones too), except
    those of the trials numbered in ``also`` (the autopilot's current configuration)."""
    keep = {trial_checkpoint(rundir, t.number) for t in top_trials(trials, k, direction)}
    keep |= {trial_checkpoint(rundir, n) for n in also}
    for path in rundir.path.glob("checkpoints/trial-*.pt"):
        if path not in keep:
            path.unlink(missing_ok=True)


def load_member(path: Path, input_shape: Sequence[int], n_classes: int, family: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a trial checkpoint was saved from; returns (model, the checkpoint's extra)."""
    from knobs.pipeline._objective import split_params

    state = load_checkpoint(path)
    extra = state["extra"]
    _, model_params = split_params(extra["params"])
    model = build_model(family, input_shape=tuple(input_shape), n_classes=n_classes, **model_params)
    model.load_state_dict(state["model"])
    return model, extra
