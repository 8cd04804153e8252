"""The run's study: where it lives, how it is opened, which run it belongs to, when its budget is spent.

Why one module for the driver (``knobs run``/``tune``) and ``knobs worker``: both tell trials of the
same study, so both must open it with the same sampler and pruner. Built twice, they drifted — the
worker gave Hyperband/ASHA ``train.epochs`` as its budget where a fold-mode run's steps are folds.
``open_study`` is the one construction; the run's mode (``_modes.py``) the one answer to "what
is a pruner's step".

What a worker rebuilds the objective from is stored in the study too (``claim_run`` /
``run_record``): the run config and the run directory, small and durable, so a worker started later,
even on another machine (``knobs worker --storage postgresql://… --study NAME``), trains on the same
split, standardization and trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knobs.config import RunConfig, parse_config
from knobs.errors import ConfigError
from knobs.pipeline.stages._components import make_pruner, make_sampler
from knobs.study import Study, WarmStart, once_per_batch
from knobs.trial import FrozenTrial

__all__ = ["open_study", "direction", "study_location", "claim_run", "run_record", "RUN_ATTR",
           "budget_reached", "stop_at_budget"]

#: the study attribute holding {"config": the run config (JSON), "run_dir": absolute path}.
RUN_ATTR = "run"


def direction(cfg: RunConfig) -> str:
    """Accuracies are maximized; every loss minimized."""
    return "minimize" if cfg.search.metric == "val_loss" else "maximize"


def open_study(cfg: RunConfig, storage: Any, name: str, space: Any = None) -> Study:
    """The run's study with the run's sampler, pruner and warm start (``search.warm_start``: read
    again at every opening, never stored, so a resume or a joining worker feeds it once, not twice).

    Args:
        storage: a URL or an open ``Storage``.
        space: the driver's search space: the study is created, or reopened if it exists (a
            resumed run; another space is refused). None: join the stored study (``knobs worker``).
    """
    # NOTE: the mode (and torch with it) loads only now, so `knobs worker` names a wrong database
    # URL or study at once.
    from knobs.pipeline.stages._modes import run_mode

    sampler = make_sampler(cfg.search.sampler, cfg.search.sampler_options, cfg.seed)
    keep = cfg.ensemble.top_k if cfg.ensemble.enabled and cfg.data.task != "regression" else 1
    pruner = make_pruner(cfg.search.pruner, cfg.search.pruner_options, run_mode(cfg).pruner_steps(cfg), keep)
    warm = None if cfg.search.warm_start is None else WarmStart(cfg.search.warm_start, cfg.search.warm_start_rename)
    if space is None:
        return Study.load(storage, name, sampler=sampler, pruner=pruner, warm_start=warm)
    return Study(space, sampler=sampler, pruner=pruner, direction=direction(cfg), storage=storage, name=name,
                 load_if_exists=True, warm_start=warm)


def study_location(cfg: Any, rundir: Any) -> tuple[str, str]:
    """(storage URL, study name): ``study.db`` in the run directory as study "search", or the
    configured ``search.storage`` with the run's name as the study name (so runs can share it)."""
    if cfg.search.storage is None:
        return rundir.study_url, "search"
    return cfg.search.storage, rundir.path.name


def claim_run(study: Any, cfg: Any, rundir: Any) -> None:
    """Store the run config (the keys it sets, so defaults and explicit choices stay apart) and
    the run directory in the study; refuse a study another run owns."""
    record = {"config": cfg.public_dump(exclude_unset=True), "run_dir": str(Path(rundir.path).resolve())}
    stored = study.attrs.get(RUN_ATTR)
    if stored and stored.get("run_dir") != record["run_dir"]:
        raise ConfigError(f"study {study.name!r} in {study.storage.url} belongs to the run in {stored.get('run_dir')}; "
                          f"choose another run name (--name) for {record['run_dir']}")
    if stored != record:
        study.set_attr(RUN_ATTR, record)


def run_record(study_name: str, attrs: dict[str, Any], url: str) -> tuple[Any, Path]:
    """(the run config, the run directory) a worker rebuilds the objective from."""
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


def budget_reached(trials: list[FrozenTrial], n_trials: int) -> bool:
    """True once ``n_trials`` trials have finished (an abandoned one that is retried counts once;
    fixed trials — the autopilot's steps — are not the search's)."""
    retried = {t.attrs.get("retry_of") for t in trials}
    return sum(t.state.finished and t.number not in retried and not t.attrs.get("fixed") for t in trials) >= n_trials


def stop_at_budget(n_trials: int) -> Any:
    """A callback that stops the study once the run's budget is reached by any of its workers
    (once per batch of told trials: it reads the study, not the trial)."""

    def callback(study: Any, _trial: FrozenTrial) -> None:
        if budget_reached(study.trials, n_trials):
            study.stop()

    return once_per_batch(callback)
