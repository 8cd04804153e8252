"""The practice cycle's search, run by workers: the objective that crosses process (and machine)
boundaries.

Why rebuild rather than ship: the pipeline's objective holds tensors, an open event log and the
progress display. What crosses instead is small and durable — the run config and the run
directory — stored in the study's ``attrs["run"]``, so a worker started later, even on another
machine (``knobs worker --storage postgresql://… --study NAME``), rebuilds exactly the same
split, standardization and trainer from it. Data loading is deterministic (seeded), so every
worker trains on the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.pipeline.stages._inputs import load_inputs
from knobs.trial import Trial

__all__ = ["PipelineObjective", "release"]


class PipelineObjective:
    """The cycle's objective for worker processes and Ray tasks.

    It pickles as (run config, run directory, study location); in each process it loads and
    prepares the data once (``load_inputs``, which also sets the configured torch threads) and
    builds the run mode's objective (a ``TrialObjective``, or a ``FoldObjective`` in fold mode) writing
    checkpoints and epoch events into the run directory.
    ``best.pt`` is published by whoever tells the trials (``pipeline.rundir._best.publish_best``).

    Args:
        cfg: the run config (``RunConfig``).
        run_dir: the run directory (reachable from every worker).
        study_url, study_name: where the study lives (kept so a worker names what it serves).
    """

    def __init__(self, cfg: Any, run_dir: str | Path, study_url: str, study_name: str) -> None:
        self.cfg = cfg
        self.run_dir = str(run_dir)
        self.study_url = study_url
        self.study_name = study_name

    def __call__(self, config: dict[str, Any], trial: Trial) -> float:
        return _built(self)(config, trial)


# One built objective per process and run: Ray sends a fresh copy of PipelineObjective with each
# task, and rebuilding the data for every trial would cost more than many small trials.
_BUILT: dict[tuple[str, str, str], Any] = {}


def release(objective: PipelineObjective) -> None:
    """Drop this process's built objective of ``objective``'s run and close its event log (a
    ``knobs worker`` that trained in its own process is done with it)."""
    built = _BUILT.pop((objective.run_dir, objective.study_url, objective.study_name), None)
    events = getattr(getattr(built, "inner", built), "events", None)
    if events is not None:
        events.close()


def _built(objective: PipelineObjective) -> Any:
    key = (objective.run_dir, objective.study_url, objective.study_name)
    if key not in _BUILT:
        inputs = load_inputs(objective.cfg, data_checks=False)  # NOTE: a worker trains; the run's process reports the checks
        rundir = RunDir(path=Path(objective.run_dir), created=False)
        _BUILT[key] = inputs.mode.objective(objective.cfg, inputs.data, inputs.fixed, rundir, EventLog(rundir.events_path))
    return _BUILT[key]
