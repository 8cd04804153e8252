"""``knobs diagnose --config`` and ``knobs check``: diagnosis from a ``knobs run`` config — the same
data, split, standardization and model.

Why through the pipeline's own functions: ``load_inputs`` (data, split, train-only
standardization, the search space and its centre), ``build_model`` (the model a trial
would build), ``make_trainer`` (a trial's training settings) and ``run_preflight`` (the data checks
on the raw splits) are what ``knobs run`` uses, so the diagnosis sees exactly what a run would.
"""

from __future__ import annotations

from knobs.checks import CheckResult, gradient_check
from knobs.config import RunConfig
from knobs.diagnose._report import Report
from knobs.diagnose._evidence import CHECK_LOSSES
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.inputs._streamed import in_memory_pair
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.trials._preflight import run_preflight
from knobs.pipeline.trials._diagnosis import EPOCHS, diagnose_params

__all__ = ["check_config", "diagnose_config", "diagnose_params", "EPOCHS"]


def diagnose_config(cfg: RunConfig, epochs: int | None = None) -> Report:
    """Diagnose the config's reference model (the centre of its search space) on its data.

    Args:
        cfg: a validated run config (``knobs.config.load_config``).
        epochs: training epochs of the watched run (default: the config's, at most ``EPOCHS``).
    """
    inputs = load_inputs(cfg, data_checks=True)  # NOTE: a diagnosis weighs the data checks whatever [checks] says
    data, splits, reference = inputs.view()  # the reference holds the fixed values
    return diagnose_params(cfg, splits, data, reference, epochs, images=inputs.dataset.image_shape is not None)


def check_config(cfg: RunConfig) -> list[CheckResult]:
    """The preflight of ``knobs run`` (as enabled in ``[checks]``) plus the gradient check, on the
    config's reference model — without creating a run directory."""
    inputs = load_inputs(cfg, data_checks=cfg.checks.data)
    data, splits, params = inputs.view()
    info = ModelInfo.of(data)
    results = run_preflight(cfg.checks, data, lambda: build_model(cfg, params, info), (splits.train, splits.val),
                            images=inputs.dataset.image_shape is not None)
    loss = CHECK_LOSSES[data.task]
    return results + [gradient_check(build_model(cfg, params, info), *in_memory_pair(data, "train"), loss=loss,
                                     seed=cfg.seed)]
