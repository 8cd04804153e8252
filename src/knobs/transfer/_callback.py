"""Per-layer learning rates inside ``Trainer.fit``, until the trainer takes parameter groups.

Why a callback: ``Trainer`` builds its optimizer from ``model.parameters()`` with one LR. Frozen
parameters already work (they have ``requires_grad=False``, which ``build_optimizer`` skips), but
per-layer LRs need the optimizer built from groups. ``on_fit_start`` runs after the trainer built
its optimizer and schedule and before a checkpoint is resumed, so this callback swaps both for
ones over the groups; resuming then loads into the group optimizer, and early stopping, clipping
and L1 see the same trainable parameters as before.

Example:
    >>> from knobs.train import Trainer
    >>> # model, groups = apply_transfer(net, {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=5)
    >>> # Trainer(lr=1e-3, callbacks=[ParamGroups(groups)]).fit(model, train, val)
"""

from __future__ import annotations

from typing import Any, Sequence

from knobs.errors import ConfigError
from knobs.train import Callback, build_schedule, check_schedule
from knobs.transfer._groups import build_group_optimizer

__all__ = ["ParamGroups"]

#: Schedules that set one absolute LR (max_lr/base_lr) for every group, flattening the multipliers.
_ABSOLUTE = ("cyclic", "onecycle")


class ParamGroups(Callback):
    """Make ``Trainer.fit`` optimize ``groups`` (from ``lr_groups``/``apply_transfer``).

    Args:
        groups: relative parameter groups ``{"params", "lr_mult", "name"}``.
    """

    def __init__(self, groups: Sequence[dict[str, Any]]) -> None:
        self.groups = groups

    def on_fit_start(self, trainer: Any) -> None:
        self._check_model(trainer.model_)
        optimizer = build_group_optimizer(trainer.optimizer, self.groups, lr=trainer.lr,
                                          weight_decay=trainer.weight_decay, options=trainer.optimizer_options)
        trainer.optimizer_ = optimizer
        spec = check_schedule(trainer.schedule)
        if spec is None:
            return
        if spec["name"] in _ABSOLUTE and len({g["lr_mult"] for g in optimizer.param_groups}) > 1:
            raise ConfigError(
                f"schedule {spec['name']!r}: sets one LR for every parameter group, which would undo "
                f"the per-layer LRs; use cosine, step, exponential, inverse, plateau or constant")
        # NOTE: steps per epoch come from the trainer's prepared batches (the one private read here).
        trainer.schedule_ = build_schedule(spec, optimizer, epochs=trainer.epochs,
                                           steps_per_epoch=len(trainer._train), monitor=trainer.history_.monitor)

    def _check_model(self, model: Any) -> None:
        own = {id(p) for p in model.parameters()}
        for group in self.groups:
            if any(id(p) not in own for p in group["params"]):
                raise ConfigError(
                    f"param groups: group {group.get('name', '?')!r} holds parameters of another model; "
                    f"build the groups from the model passed to fit")
