"""The preflight stage: the checks that cost seconds and save hours, on the reference model (the
centre of the space) and the data the mode's one-split view shows, before any trial trains."""

from __future__ import annotations

from typing import Any

from knobs.errors import KnobsError
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.stages._open import OpenRun
from knobs.pipeline.trials._preflight import run_preflight

__all__ = ["preflight"]


def preflight(run: OpenRun) -> list[Any]:
    """Run the enabled checks, log and show them; with ``checks.strict``, a failed error stops the run.

    Raises:
        KnobsError: ``checks.strict`` and a check of severity "error" failed.
    """
    cfg = run.cfg
    data, splits, params = run.inputs.view()
    results = run_preflight(cfg.checks, data, lambda: build_model(cfg, params, ModelInfo.of(data)),
                            (splits.train, splits.val), images=run.inputs.dataset.image_shape is not None)
    run.events("preflight", results=[r.to_dict() for r in results])
    run.display.preflight(results)
    failed = [r for r in results if not r.passed and r.severity == "error"]
    if cfg.checks.strict and failed:
        raise KnobsError(f"preflight failed ({', '.join(r.name for r in failed)}): {failed[0].message}")
    return results
