"""Diagnosis from a ``knobs run`` config: the same data, split, standardization and model.

Why through the pipeline's own functions: ``load_inputs`` (data, split, train-only
standardization, the search space and its centre), ``TrialObjective.build`` (the model a trial
would build), ``make_trainer`` (a trial's training settings) and ``run_preflight`` (the data checks
on the raw splits) are what ``knobs run`` uses, so the diagnosis sees exactly what a run would.
"""

from __future__ import annotations

import copy
from typing import Any

from knobs.checks import CheckResult, gradient_check
from knobs.config import ChecksConfig, RunConfig
from knobs.diagnose._diagnose import run_diagnosis
from knobs.diagnose._evidence import Settings
from knobs.diagnose._report import Report
from knobs.pipeline.stages._cycle import load_inputs
from knobs.pipeline.inputs._folds import first_fold_view
from knobs.pipeline.trials._objective import TrialObjective, make_trainer
from knobs.pipeline.stages._preflight import run_preflight

__all__ = ["check_config", "diagnose_config", "diagnose_params", "EPOCHS"]

# NOTE: enough epochs for the loss curve to show its shape (the rules look at thirds of the run),
# short enough for a diagnosis to take seconds.
EPOCHS = 20


def diagnose_config(cfg: RunConfig, epochs: int | None = None) -> Report:
    """Diagnose the config's reference model (the centre of its search space) on its data.

    Args:
        cfg: a validated run config (``knobs.config.load_config``).
        epochs: training epochs of the watched run (default: the config's, at most ``EPOCHS``).
    """
    _, splits, data, _, _, reference = load_inputs(cfg)  # the reference holds the fixed values
    data, splits, reference = first_fold_view(data, splits, reference)
    return diagnose_params(cfg, splits, data, reference, epochs)


def diagnose_params(cfg: RunConfig, splits: Any, data: Any, params: dict[str, Any], epochs: int | None = None) -> Report:
    """Diagnose one trial's parameters (fixed values included) on a run's prepared data.

    What ``knobs run --autopilot`` asks about the search's best configuration, without loading
    the data again: ``splits`` and ``data`` are what ``load_inputs`` returned.
    """
    model = TrialObjective(cfg, data, {}, None, None).build(params, data)
    trainer = make_trainer(cfg.train, params, cfg.search.metric, cfg.seed, task=data.task)
    settings = Settings(task=data.task, optimizer=trainer.optimizer, lr=trainer.lr,
                        batch_size=trainer.batch_size, epochs=epochs or min(trainer.epochs, EPOCHS),
                        weight_decay=trainer.weight_decay, optimizer_options=trainer.optimizer_options,
                        n_classes=data.n_classes if data.task == "classification" else None,
                        seed=cfg.seed, device=cfg.train.device)
    only_data = ChecksConfig(initial_loss=False, overfit_tiny=False, data=True)
    data_checks = run_preflight(only_data, data, lambda: copy.deepcopy(model), (splits.train, splits.val))
    return run_diagnosis(model, data.train, data.val, settings, data_checks)


def check_config(cfg: RunConfig) -> list[CheckResult]:
    """The preflight of ``knobs run`` (as enabled in ``[checks]``) plus the gradient check, on the
    config's reference model — without creating a run directory."""
    _, splits, data, _, fixed, params = load_inputs(cfg)
    data, splits, params = first_fold_view(data, splits, params)
    objective = TrialObjective(cfg, data, fixed, None, None)
    results = run_preflight(cfg.checks, data, lambda: objective.build(params), (splits.train, splits.val))
    loss = "cross_entropy" if data.task == "classification" else "mse"
    return results + [gradient_check(objective.build(params), *data.train, loss=loss, seed=cfg.seed)]
