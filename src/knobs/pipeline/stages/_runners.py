"""Where a run's trials train — in this process, in local worker processes, as Ray tasks, or as
populations — chosen once (``runner_for``), as an object.

Why objects: the four differ in three things — what ``study.optimize`` runs (the in-process
objective with live epoch bars, the picklable ``PipelineObjective`` that rebuilds the objective in
each worker, or ``PopulationTrials``), which executor runs it, and how the driver shows trials it
cannot see train (a bar per running trial, polled from the study) — and the cycle asks its runner
rather than testing ``search.executor`` and ``search.workers`` where each answer matters.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ContextManager

from knobs.errors import ConfigError
from knobs.executors import RayExecutor
from knobs.pipeline.inputs._population_check import splitting_keys
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.stages._remote import PipelineObjective, release
from knobs.pipeline.trials._population import PopulationTrials
from knobs.pipeline.ui._running import watch_running
from knobs.population import PopulationExecutor

__all__ = ["InProcess", "LocalProcesses", "RayTasks", "Populations", "runner_for", "make_executor"]


def runner_for(search: Any) -> "InProcess | LocalProcesses | RayTasks | Populations":
    """The runner the [search] section asks for (``executor``, ``workers``, ``population``, Ray's
    address and per-trial resources)."""
    if search.executor == "population":
        return Populations(size=search.population)
    if search.executor == "ray":
        return RayTasks(workers=search.workers, address=search.ray_address, cpus=search.trial_resources.cpu,
                        gpus=search.trial_resources.gpu)
    return InProcess() if search.workers == 1 else LocalProcesses(search.workers)


def make_executor(search: Any) -> Any:
    """The executor of the runner the [search] section asks for (None: ``Study.optimize``'s own)."""
    return runner_for(search).executor()


@dataclass(frozen=True)
class _Runner:
    workers: int = 1

    def executor(self) -> Any:
        return None

    def objective(self, cfg: Any, objective: Any, rundir: Any, study: Any, study_url: str) -> Any:
        """What ``study.optimize`` runs: the picklable objective a worker rebuilds the run's from."""
        return PipelineObjective(cfg, Path(rundir.path).resolve(), study_url, study.name)

    def worker_objective(self, cfg: Any, run_dir: Path, storage: str, study: Any, workers: int,
                         opened: contextlib.ExitStack) -> tuple[Any, Any]:
        """(objective, executor) for ``knobs worker`` joining this run: the picklable objective, run
        in ``workers`` local processes of that machine (the executor the driver chose is its own).
        What the worker builds in its own process is released with ``opened``."""
        objective = PipelineObjective(cfg, run_dir, storage, study.name)
        opened.callback(release, objective)
        return objective, None

    def watch(self, study: Any, progress: Any) -> ContextManager[None]:
        """A bar per trial running where the driver cannot see it (polled from the study)."""
        return watch_running(study, progress.running)

    def note(self, space: Any) -> str | None:
        """A line for the terminal before the search, or None."""
        return None

    @property
    def population(self) -> int | None:
        """Trials trained at once in one population (summary.json), or None."""
        return None

    def search(self, study: Any, objective: Any, n_trials: int, timeout: float | None, callbacks: list) -> None:
        study.optimize(objective, n_trials=n_trials, timeout=timeout, workers=self.workers, executor=self.executor(),
                       callbacks=callbacks)


@dataclass(frozen=True)
class InProcess(_Runner):
    """One trial at a time in this process: the run's own objective, its epochs shown live."""

    def objective(self, cfg: Any, objective: Any, rundir: Any, study: Any, study_url: str) -> Any:
        return objective

    def watch(self, study: Any, progress: Any) -> ContextManager[None]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class LocalProcesses(_Runner):
    """``workers`` local processes, each rebuilding the objective (``PipelineObjective``)."""


@dataclass(frozen=True)
class RayTasks(_Runner):
    """Trials as Ray tasks on the cluster at ``address``, each with ``cpus``/``gpus``."""

    address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0

    def executor(self) -> Any:
        return RayExecutor(address=self.address, cpus=self.cpus, gpus=self.gpus)


@dataclass(frozen=True)
class Populations(_Runner):
    """``size`` trials at a time trained as one population in this process (``PopulationTrials``)."""

    size: int = 1

    def executor(self) -> Any:
        return PopulationExecutor(self.size)

    def objective(self, cfg: Any, objective: Any, rundir: Any, study: Any, study_url: str) -> Any:
        # NOTE: never in fold mode (check_population refuses data.folds), so ``objective`` is a TrialObjective.
        return PopulationTrials(cfg, objective.data, objective.fixed, rundir, objective.events, objective.on_epoch, study)

    def worker_objective(self, cfg: Any, run_dir: Path, storage: str, study: Any, workers: int,
                         opened: contextlib.ExitStack) -> tuple[Any, Any]:
        """A worker of a population run trains populations of ``size`` in its one process."""
        if workers != 1:
            raise ConfigError(f"--workers {workers}: study {study.name!r} is a population run (search.executor = "
                              f"\"population\"), whose populations train in one process; start one `knobs worker` "
                              f"per machine (or GPU) instead")
        inputs = load_inputs(cfg, data_checks=False)  # NOTE: a worker trains; the run's process reports the checks
        rundir = RunDir(path=run_dir, created=False)
        events = opened.enter_context(contextlib.closing(EventLog(rundir.events_path)))
        return PopulationTrials(cfg, inputs.data, inputs.fixed, rundir, events, study=study), self.executor()

    def watch(self, study: Any, progress: Any) -> ContextManager[None]:
        return contextlib.nullcontext()

    def note(self, space: Any) -> str | None:
        keys = splitting_keys(space)
        split = (f"; trials that differ in {', '.join(keys)} train in separate populations" if keys
                 else "; every trial can share a population")
        return f"population mode: up to {self.size} trials trained at once{split}"

    @property
    def population(self) -> int | None:
        return self.size
