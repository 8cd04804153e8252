"""One trial's configuration diagnosed on a run's prepared data (``knobs.diagnose`` underneath).

Why here, with the trials: the autopilot asks it about the search's best configuration, and
``knobs diagnose --config`` about the centre of the space; both build the model and trainer a
trial would (``build_model``, ``make_trainer``) so the diagnosis sees what a run trains.
"""

from __future__ import annotations

import copy
from typing import Any

from knobs.config import ChecksConfig, RunConfig
from knobs.diagnose._diagnose import run_diagnosis
from knobs.diagnose._setup import settings_of
from knobs.diagnose._report import Report
from knobs.pipeline.inputs._streamed import in_memory_pair
from knobs.pipeline.trials._preflight import input_kind, run_preflight
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.trials._objective import make_trainer

__all__ = ["diagnose_params", "EPOCHS"]

# NOTE: enough epochs for the loss curve to show its shape (the rules look at thirds of the run),
# short enough for a diagnosis to take seconds.
EPOCHS = 20


def diagnose_params(cfg: RunConfig, splits: Any, data: Any, params: dict[str, Any], epochs: int | None = None,
                    images: bool = False) -> Report:
    """Diagnose one trial's parameters (fixed values included) on a run's prepared data.

    What ``knobs run --autopilot`` asks about the search's best configuration, without loading
    the data again: ``splits`` and ``data`` are what ``load_inputs`` returned; ``images``: the
    rows are images (the data checks speak of pixels).
    """
    model = build_model(cfg, params, ModelInfo.of(data))
    trainer = make_trainer(cfg.train, params, cfg.search.metric, cfg.seed, task=data.trainer_task)
    # the trial's own setup (schedule, precision, clipping included), its first epochs watched
    settings = settings_of(trainer, {"epochs": epochs or min(trainer.epochs, EPOCHS)},
                           n_classes=data.n_classes if data.trainer_task == "classification" else None)
    settings.inputs = input_kind(data, images)
    only_data = ChecksConfig(initial_loss=False, batch_independence=False, overfit_tiny=False, data=True)
    data_checks = run_preflight(only_data, data, lambda: copy.deepcopy(model), (splits.train, splits.val), images=images)
    # NOTE: rows read from disk: the short runs and probes train on the seeded samples the statistics came from
    return run_diagnosis(model, in_memory_pair(data, "train"), in_memory_pair(data, "val"), settings, data_checks)
