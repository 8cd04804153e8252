"""Saving a fit mid-way and resuming it on exactly the same curve.

Why so much state: a resumed run equals an uninterrupted one only if *everything* that shapes the
next step comes back: weights and buffers, optimizer moments, the schedule's clock (the off-by-one
that breaks cosine and one-cycle resumes elsewhere), the early-stopping counters and best weights,
the loss scaler, the shuffling generator, the global RNGs (dropout), the history so far, and the
settings, which must match (a resumed cosine over other epochs is another curve).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from knobs.errors import ConfigError
from knobs.train._checkpoint import CheckpointError, load_checkpoint, restore_model, save_checkpoint
from knobs.train._rng import set_rng_state

__all__ = ["save_trainer", "restore_trainer"]


def save_trainer(trainer: Any, path: str | os.PathLike) -> Path:
    """Checkpoint a fitting (or fitted) trainer: everything ``restore_trainer`` needs."""
    generator = getattr(trainer._train, "generator", None)
    loop = {
        "settings": trainer.settings(), "step": trainer.step_, "stop": trainer._stop,
        "records": [dict(r) for r in trainer.history_.records],
        "generator": None if generator is None else generator.get_state(),
        "scaler": None if trainer.scaler_ is None else trainer.scaler_.state_dict(),
        # NOTE: a batch transform with its own random stream (a seeded ImageAugment) must
        # continue it, or a resumed fit augments differently from an uninterrupted one.
        "transform": getattr(trainer.batch_transform, "state_dict", lambda: None)(),
    }
    return save_checkpoint(path, model=trainer.model_, optimizer=trainer.optimizer_,
                           scheduler=trainer.schedule_, early_stopping=trainer.early_stopping,
                           epoch=trainer.epoch_, trainer=loop)


def restore_trainer(trainer: Any, path: str | os.PathLike) -> None:
    """Load ``path`` into a trainer whose fit is prepared (model, optimizer, schedule built).

    Raises:
        CheckpointError: no trainer state in the file, or weights of another model.
        ConfigError: the checkpoint was trained with other settings.
    """
    state = load_checkpoint(path)
    loop = state.get("trainer")
    if not loop:
        raise CheckpointError(f"checkpoint {path}: holds no trainer state; write it with checkpoint_dir or Trainer.save")
    _check_same_settings(loop["settings"], trainer.settings(), path)
    restore_model(trainer.model_, state, source=f"checkpoint {path}")
    trainer.optimizer_.load_state_dict(state["optimizer"])
    if trainer.schedule_ is not None:
        trainer.schedule_.load_state_dict(state["scheduler"])
    if trainer.early_stopping is not None and state["early_stopping"] is not None:
        trainer.early_stopping.load_state_dict(_on_device(state["early_stopping"], trainer.device_))
    if trainer.scaler_ is not None and loop["scaler"]:
        trainer.scaler_.load_state_dict(loop["scaler"])
    generator = getattr(trainer._train, "generator", None)
    if generator is not None and loop["generator"] is not None:
        generator.set_state(loop["generator"])
    if loop.get("transform") is not None and hasattr(trainer.batch_transform, "load_state_dict"):
        trainer.batch_transform.load_state_dict(loop["transform"])
    set_rng_state(state["rng"])
    trainer.history_.records = [dict(r) for r in loop["records"]]
    trainer.epoch_, trainer.step_, trainer._stop = state["epoch"], loop["step"], loop["stop"]


def _on_device(es_state: dict, device: Any) -> dict:
    es_state = dict(es_state)
    if es_state.get("best_state") is not None:
        es_state["best_state"] = {k: v.to(device) for k, v in es_state["best_state"].items()}
    return es_state


def _check_same_settings(saved: dict, now: dict, path: Any) -> None:
    saved = {"accumulate": 1, **saved}  # NOTE: checkpoints from before gradient accumulation stepped every batch
    differ = [k for k in now if _plain(saved.get(k)) != _plain(now[k])]
    if differ:
        shown = "; ".join(f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in differ)
        raise ConfigError(f"resume_from {path}: the checkpoint was trained with other settings ({shown})")


def _plain(value: Any) -> Any:
    """Tuples and lists compare equal (a checkpoint may turn one into the other)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
