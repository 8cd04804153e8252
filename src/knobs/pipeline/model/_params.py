"""Which of a trial's parameters train the model and which build it (``split_params``).

Why here, apart from the factory: the model's keys are what a family or a ``model.builder`` gets
(``params``), what a transfer run fixes from its source, and what a checkpoint records; the trainer's
are never the model's.
"""

from __future__ import annotations

from typing import Any

from knobs.pipeline.inputs._practices import AUGMENT_PREFIX

__all__ = ["TRAINER_KEYS", "split_params"]

#: Trial keys that configure training; every other key is a model hyperparameter.
TRAINER_KEYS = frozenset({
    "optimizer", "lr", "weight_decay", "batch_size", "epochs", "schedule", "l1",
    "clip_grad_norm", "clip_grad_value", "momentum", "beta1", "beta2", "eps", "rho", "alpha",
})


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer keys, model keys) of one trial's parameters; ``augment.*`` keys are neither."""
    trainer = {k: v for k, v in params.items() if k in TRAINER_KEYS}
    model = {k: v for k, v in params.items() if k not in TRAINER_KEYS and not k.startswith(AUGMENT_PREFIX)}
    return trainer, model
