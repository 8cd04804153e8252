"""The practice cycle's search, run by workers: where its study lives, what a worker needs to
rebuild its objective, and the objective that crosses process (and machine) boundaries.

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

from knobs.errors import ConfigError
from knobs.trial import FrozenTrial, Trial

__all__ = ["study_location", "claim_run", "run_record", "PipelineObjective", "release", "search_objective", "make_executor",
           "budget_reached", "stop_at_budget", "RUN_ATTR"]

#: the study attribute holding {"config": the run config (JSON), "run_dir": absolute path}.
RUN_ATTR = "run"


def study_location(cfg: Any, rundir: Any) -> tuple[str, str]:
    """(storage URL, study name): ``study.db`` in the run directory as study "search", or the
    configured ``search.storage`` with the run's name as the study name (so runs can share it)."""
    if cfg.search.storage is None:
        return rundir.study_url, "search"
    return cfg.search.storage, rundir.path.name


def claim_run(study: Any, cfg: Any, rundir: Any) -> None:
    """Store the run config (the keys it sets, so defaults and explicit choices stay apart) and
    the run directory in the study; refuse a study another run owns."""
    record = {"config": cfg.model_dump(mode="json", exclude_unset=True), "run_dir": str(Path(rundir.path).resolve())}
    stored = study.attrs.get(RUN_ATTR)
    if stored and stored.get("run_dir") != record["run_dir"]:
        raise ConfigError(f"study {study.name!r} in {study.storage.url} belongs to the run in {stored.get('run_dir')}; "
                          f"choose another run name (--name) for {record['run_dir']}")
    if stored != record:
        study.set_attr(RUN_ATTR, record)


def run_record(study_name: str, attrs: dict[str, Any], url: str) -> tuple[Any, Path]:
    """(the run config, the run directory) a worker rebuilds the objective from."""
    from knobs.config import parse_config

    record = attrs.get(RUN_ATTR)
    if not isinstance(record, dict) or "config" not in record or "run_dir" not in record:
        raise ConfigError(f"study {study_name!r} in {url} was not created by `knobs run` / `knobs tune` (its attrs hold "
                          "no run config), so a worker cannot rebuild its objective; use study.optimize() in Python")
    cfg = parse_config(record["config"], origin=f"the run config stored in study {study_name!r}")
    run_dir = Path(record["run_dir"])
    if not (run_dir / "vault").is_dir():
        raise ConfigError(f"study {study_name!r}: its run directory {run_dir} is not reachable from this machine; "
                          "workers write checkpoints and events there, so it must be on a shared filesystem at the same path")
    return cfg, run_dir


class PipelineObjective:
    """The cycle's objective for worker processes and Ray tasks.

    It pickles as (run config, run directory, study location); in each process it loads and
    prepares the data once (``load_inputs``, which also sets the configured torch threads) and
    wraps a ``TrialObjective`` writing checkpoints and epoch events into the run directory.
    ``best.pt`` is published by whoever tells the trials (``pipeline._best.publish_best``).

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
        from knobs.pipeline.stages._cycle import load_inputs
        from knobs.pipeline.trials._fold_objective import make_objective
        from knobs.pipeline.rundir._rundir import EventLog, RunDir

        _, _, data, _, fixed, _ = load_inputs(objective.cfg)
        rundir = RunDir(path=Path(objective.run_dir), created=False)
        _BUILT[key] = make_objective(objective.cfg, data, fixed, rundir, EventLog(rundir.events_path))
    return _BUILT[key]


def search_objective(cfg: Any, objective: Any, rundir: Any, url: str, name: str) -> Any:
    """The in-process objective (with live epoch progress) for one local worker, else the
    picklable ``PipelineObjective``."""
    if cfg.search.workers == 1 and cfg.search.executor == "local":
        return objective
    return PipelineObjective(cfg, Path(rundir.path).resolve(), url, name)


def make_executor(search: Any) -> Any:
    """None for local workers; a ``PopulationExecutor`` of ``search.population``; a ``RayExecutor``
    from ``search.ray_address`` and ``trial_resources``."""
    if search.executor == "local":
        return None
    if search.executor == "population":
        from knobs.population import PopulationExecutor

        return PopulationExecutor(search.population)
    from knobs.executors._ray import RayExecutor

    return RayExecutor(address=search.ray_address, cpus=search.trial_resources.cpu, gpus=search.trial_resources.gpu)


def budget_reached(trials: list[FrozenTrial], n_trials: int) -> bool:
    """True once ``n_trials`` trials have finished (an abandoned one that is retried counts once;
    fixed trials — the autopilot's steps — are not the search's)."""
    retried = {t.attrs.get("retry_of") for t in trials}
    return sum(t.state.finished and t.number not in retried and not t.attrs.get("fixed") for t in trials) >= n_trials


def stop_at_budget(n_trials: int) -> Any:
    """A callback that stops the study once the run's budget is reached by any of its workers
    (once per batch of told trials: it reads the study, not the trial)."""
    from knobs.study import once_per_batch

    def callback(study: Any, _trial: FrozenTrial) -> None:
        if budget_reached(study.trials, n_trials):
            study.stop()

    return once_per_batch(callback)
