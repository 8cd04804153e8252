"""Which knobs the autopilot can turn in this run, and a check of ``autopilot.keys`` against them.

Why from the run's own pieces: the trainer's defaults come from ``make_trainer`` with no
parameters (the ``[train]`` section), the model's from the family's constructor
(``knobs.models.hyperparameters``), so a knob's value "before" is exactly what a trial without it
trained with. A transfer run keeps the source model's architecture (no model knobs); only image
data get ``augment``.
"""

from __future__ import annotations

from typing import Any

from knobs._validation import did_you_mean
from knobs.errors import ConfigError
from knobs.models import hyperparameters
from knobs.pipeline.trials._objective import make_trainer
from knobs.pipeline.autopilot._remedies import KNOBS

__all__ = ["knob_defaults", "check_autopilot"]


def knob_defaults(cfg: Any, data: Any) -> dict[str, Any]:
    """Every knob this run's model and data have → its value when a trial's params lack it."""
    trainer = make_trainer(cfg.train, {}, cfg.search.metric, cfg.seed)
    out: dict[str, Any] = {"lr": trainer.lr, "weight_decay": trainer.weight_decay, "batch_size": trainer.batch_size,
                           "epochs": trainer.epochs, "clip_grad_norm": trainer.clip_grad_norm}
    if cfg.transfer is None and cfg.model.builder is None:  # a transfer run keeps the source's architecture;
        # NOTE: a builder's model keys mean what its function makes of them: no remedy knows them
        out.update({k: v for k, v in hyperparameters(cfg.model.family).items() if k in KNOBS})
    if len(data.input_shape) == 3:
        out["augment"] = dict(cfg.augment)
    return out


def check_autopilot(cfg: Any, data: Any) -> None:
    """``autopilot.keys`` must name knobs this model and data have (checked before any work).

    NOTE: fold mode is refused: the autopilot judges a change on the validation rows, paired row
    by row with the model it would replace, and a fold-mode run keeps no validation split and no
    trial models (its final model is a refit)."""
    if cfg.data.folds:
        raise ConfigError(f"autopilot.enabled with data.folds = {cfg.data.folds}: the autopilot compares models on one "
                          f"validation split, which fold mode does not keep; remove data.folds (use data.val) or "
                          f"run without --autopilot")
    if cfg.search.metric in ("val_macro_f1", "val_roc_auc"):
        # NOTE: the paired test needs each row's share of the metric; an F1 or an AUC is a ratio over the whole split
        name = "macro-F1" if cfg.search.metric == "val_macro_f1" else "ROC AUC"
        raise ConfigError(f"autopilot.enabled with search.metric = \"{cfg.search.metric}\": the autopilot keeps a "
                          f"change only when its gain beats the paired, row-by-row standard error, and {name} has no "
                          f"per-row share; search on \"val_balanced_accuracy\" (the mean per-class recall) with the "
                          f"autopilot")
    keys = cfg.autopilot.keys
    if keys is None:
        return
    if not keys:
        raise ConfigError(f"autopilot.keys: empty, so the autopilot could change nothing; leave it out to let it "
                          f"turn every knob it knows ({', '.join(KNOBS)})")
    have = knob_defaults(cfg, data)
    for key in keys:
        if key not in KNOBS:
            raise ConfigError(f"autopilot.keys: unknown knob {key!r}{did_you_mean(key, KNOBS)}; the autopilot turns "
                              f"{', '.join(KNOBS)}")
        if key not in have:
            raise ConfigError(f"autopilot.keys: {key!r} {_absent(cfg, data, key)}")


def _absent(cfg: Any, data: Any, key: str) -> str:
    if key == "augment":
        return (f"needs image data (channels, height, width) and model.family = \"convnet\"; this run's inputs have "
                f"shape {list(data.input_shape)}")
    if cfg.transfer is not None:
        return "cannot change: a transfer run keeps the source model's architecture"
    if cfg.model.builder is not None:
        return "cannot change: the autopilot turns model keys of the built-in families, not of a model.builder"
    return f"is not a hyperparameter of model family {cfg.model.family!r} ({', '.join(hyperparameters(cfg.model.family))})"
