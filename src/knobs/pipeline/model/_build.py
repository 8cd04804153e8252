"""The one model factory of a run: ``build_model(cfg, params, info)``.

Why one function: a run builds models in many places — each trial (one split, each fold, each
population member's saved weights), the final refit, the preflight's reference model, the check
that every searched option builds, the autopilot's check of a changed configuration, ``knobs
diagnose --config``, ``lr-find``, and every checkpoint loaded back (final evaluation, ensemble,
autopilot, ``knobs predict``). They must agree exactly — a checkpoint only loads into the
architecture it was trained as — so they all call this function, and a new way to make models
(a user's own builder) plugs in here once.

What decides a model: the run config (``model.family``; ``[transfer]``: start from a pretrained
source), the trial's parameters (the model's hyperparameters; training keys are left out), and
what the data decides (``ModelInfo``: input shape, task, classes, vocabulary size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from knobs.config import RunConfig
from knobs.models import build_model as build_family
from knobs.pipeline.inputs._practices import AUGMENT_PREFIX, pretrained_model

__all__ = ["ModelInfo", "build_model", "checkpoint_config", "split_params", "TRAINER_KEYS"]

#: Trial keys that configure training; every other key is a model hyperparameter.
TRAINER_KEYS = frozenset({
    "optimizer", "lr", "weight_decay", "batch_size", "epochs", "schedule", "l1",
    "clip_grad_norm", "clip_grad_value", "momentum", "beta1", "beta2", "eps", "rho", "alpha",
})


@dataclass(frozen=True)
class ModelInfo:
    """What the data decides about a model.

    Attributes:
        input_shape: one example's shape, e.g. ``(64,)`` or ``(1, 8, 8)``.
        task: "classification" or "regression".
        n_classes: classes (1 for regression).
        vocab_size: the vocabulary of a text run, else None (a checkpoint records it in its params).
    """

    input_shape: tuple[int, ...]
    task: str
    n_classes: int
    vocab_size: int | None = None

    @classmethod
    def of(cls, data: Any) -> "ModelInfo":
        """From prepared data (a run's, or one fold's: a text fold has its own vocabulary)."""
        return cls(tuple(data.input_shape), data.task, int(data.n_classes), data.model_args.get("vocab_size"))

    @classmethod
    def of_checkpoint(cls, extra: dict[str, Any]) -> "ModelInfo":
        """From a trial checkpoint's ``extra`` (``save_trial_checkpoint``)."""
        task = "regression" if extra.get("target") is not None else "classification"
        return cls(tuple(int(s) for s in extra["input_shape"]), task, int(extra["n_classes"]))

    def model_args(self) -> dict[str, Any]:
        """Model arguments the data decides (they override a trial's parameters of the same name)."""
        return {} if self.vocab_size is None else {"vocab_size": self.vocab_size}


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer keys, model keys) of one trial's parameters; ``augment.*`` keys are neither."""
    trainer = {k: v for k, v in params.items() if k in TRAINER_KEYS}
    model = {k: v for k, v in params.items() if k not in TRAINER_KEYS and not k.startswith(AUGMENT_PREFIX)}
    return trainer, model


def build_model(cfg: RunConfig, params: dict[str, Any], info: ModelInfo) -> torch.nn.Module:
    """A fresh model of the run for one trial's ``params`` on data described by ``info``.

    A ``[transfer]`` run starts from its source checkpoint with a new head for ``info.n_classes``
    and the layers frozen as configured (its LR groups: ``inputs._practices.transfer_groups``);
    any other run builds ``model.family`` with the trial's model hyperparameters.

    Raises:
        ConfigError: a hyperparameter the family does not take, or one it cannot build with.
    """
    if cfg.transfer is not None:
        return pretrained_model(cfg, info.n_classes)
    _, model_params = split_params(params)
    return build_family(cfg.model.family, input_shape=info.input_shape, n_classes=info.n_classes,
                        weights=cfg.model.weights, **{**model_params, **info.model_args()})


def checkpoint_config(family: str) -> RunConfig:
    """The config a checkpoint is rebuilt with: its family, trained from scratch (a transfer run's
    checkpoint records the source's architecture in its params, and its own weights replace any)."""
    return RunConfig(model={"family": family})
