"""``knobs worker``: join a study that ``knobs run`` / ``knobs tune`` created, and run its trials.

Why the worker needs only a URL and a study name: the run stored its config and run directory
in the study (``attrs["run"]``), so the worker rebuilds the same objective — same split, same
trainer — with nothing else to keep in step. It claims trials through the same rule as every
other worker (``Study.claim``), so any number of them, on any machines that reach the database
and the run directory, never run the same config, and stop together at the run's budget. A worker
of a population run (``search.executor = "population"``) trains populations of
``search.population`` trials too, so the machine it runs on is used as the run meant it.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from knobs.errors import ConfigError

__all__ = ["serve"]


def serve(storage: str, study: str, n_trials: int | None = None, workers: int = 1,
          on_trial: Callable[[Any, Any], None] | None = None) -> dict[str, Any]:
    """Run trials of the pipeline study ``study`` in ``storage`` until the run's budget is reached.

    Args:
        storage: the database URL the run's study lives in (``search.storage`` of the run, or
            ``sqlite:///runs/NAME/study.db`` for a run on this machine).
        study: the study's name (the run's name for a ``search.storage`` run; "search" in a
            run directory's own ``study.db``).
        n_trials: this many new trials from this worker, even past the run's budget; None:
            until the run has ``search.n_trials`` finished trials (other workers' included).
        workers: local processes this command runs trials in (1 for a population run: its
            populations train in this process).
        on_trial: called as ``on_trial(study, frozen_trial)`` after each finished trial.

    Returns:
        ``{"study", "ran", "finished", "budget"}``: trials that finished while this command ran
        (with ``workers == 1``: its own), the study's finished trials, and the run's budget.

    Raises:
        KnobsError: the database cannot be reached, the study does not exist (the message lists
            those there), was not created by ``knobs run``/``tune``, its run directory is
            not reachable from here, or ``workers`` > 1 for a population run.
    """
    from knobs.pipeline.stages._study import budget_reached, open_study, run_record
    from knobs.storage import get_storage
    from knobs.study._resume import find_record

    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0):
        raise ConfigError(f"--n-trials must be an integer >= 0, got {n_trials!r}")
    store = get_storage(storage, create=False)
    try:
        record = find_record(store, study)
        cfg, run_dir = run_record(record.name, record.attrs, store.url)
        opened = open_study(cfg, store, record.name)  # as the driver opened it
        ran: list[int] = []
        if n_trials is not None or not budget_reached(opened.trials, cfg.search.n_trials):
            with contextlib.ExitStack() as opened_files:
                objective, executor = _objective(cfg, run_dir, storage, opened, workers, opened_files)
                opened.optimize(objective, n_trials=n_trials, timeout=cfg.search.timeout, workers=workers,
                                executor=executor, callbacks=_callbacks(cfg, run_dir, n_trials, ran, on_trial))
        finished = sum(t.state.finished for t in opened.trials)
    finally:
        store.close()
    return {"study": record.name, "ran": len(ran), "finished": finished, "budget": cfg.search.n_trials}


def _objective(cfg: Any, run_dir: Any, storage: str, study: Any, workers: int,
               opened_files: contextlib.ExitStack) -> tuple[Any, Any]:
    """(objective, executor) of the run's runner for a worker (``Runner.worker_objective``): the
    picklable ``PipelineObjective`` run one trial at a time, or, for a population run, its
    ``PopulationTrials`` run by a ``PopulationExecutor``; what it opens is closed with ``opened_files``."""
    from knobs.pipeline.stages._runners import runner_for

    return runner_for(cfg.search).worker_objective(cfg, run_dir, storage, study, workers, opened_files)


def _callbacks(cfg: Any, run_dir: Any, n_trials: int | None, ran: list[int],
               on_trial: Callable[[Any, Any], None] | None) -> list[Callable[[Any, Any], None]]:
    """Keep the run's top-k checkpoints and best.pt, count, report, and (without a count) stop at
    the budget."""
    from knobs.pipeline.stages._study import stop_at_budget
    from knobs.pipeline.rundir._best import publish_best
    from knobs.pipeline.rundir._members import keep_top
    from knobs.pipeline.rundir._rundir import RunDir
    from knobs.study import once_per_batch

    rundir = RunDir(path=run_dir, created=False)
    callbacks = [once_per_batch(lambda s, t: keep_top(rundir, s, cfg.ensemble.top_k)),
                 once_per_batch(lambda s, t: publish_best(rundir, s)), lambda s, t: ran.append(t.number)]
    if on_trial is not None:
        callbacks.append(on_trial)
    if n_trials is None:  # an explicit count extends the run; otherwise stop at its budget
        callbacks.append(stop_at_budget(cfg.search.n_trials))
    return callbacks
