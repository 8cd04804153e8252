"""The practice cycle: data → vault → standardize → preflight → search → [autopilot] → test once → report."""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobs.config import RunConfig, build_space
from knobs.data import Vault, declare_classes, encode_splits, load_dataset, validate_labels
from knobs.data._vault import VaultMismatch
from knobs.errors import ConfigError, KnobsError
from knobs.pipeline.stages._remote import make_executor, search_objective
from knobs.pipeline.rundir._best import publish_best
from knobs.pipeline.autopilot._autopilot import Autopilot
from knobs.pipeline.ui._display import Display
from knobs.pipeline.stages._final import final_evaluation
from knobs.pipeline.trials._fold_objective import make_objective
from knobs.pipeline.inputs._folds import first_fold_view, prepare_folds
from knobs.pipeline.autopilot._knobs import check_autopilot
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.rundir._members import keep_top
from knobs.pipeline.trials._objective import make_trainer
from knobs.pipeline.trials._population import PopulationTrials
from knobs.pipeline.inputs._population_check import check_population, splitting_keys
from knobs.pipeline.inputs._practices import check_practices
from knobs.pipeline.trials._preflight import run_preflight
from knobs.pipeline.inputs._prepared import PreparedData, prepare
from knobs.pipeline.stages._refit import refit_evaluation
from knobs.pipeline.stages._study import claim_run, direction, open_study, stop_at_budget, study_location
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.pipeline.ui._running import watch_running
from knobs.pipeline.inputs._split_rows import split_rows
from knobs.report import write_report
from knobs.study import Study, once_per_batch
from knobs.study._resume import StudyMismatch

__all__ = ["run", "RunResult", "load_inputs"]


@dataclass
class RunResult:
    """Where the run lives and what it found (the content of summary.json)."""

    path: Path
    summary: dict[str, Any]


def run(cfg: RunConfig, display: Display | None = None, final_test: bool = True) -> RunResult:
    """Run the whole cycle for ``cfg``; resume it if its run directory holds an unfinished run.

    ``final_test=False`` (``knobs tune``) stops after the search: the vault stays sealed, and a
    later ``knobs run`` with the same name continues to the final test.

    Bad input is found before the run directory is created; a ``KnobsError`` raised later removes
    a directory this call created, so nothing half-written stays behind.
    """
    display = display or Display()
    started = time.time()
    dataset, splits, data, space, fixed, reference = load_inputs(cfg)

    name = cfg.name or _default_name(cfg.data.source)
    if _finished(Path(cfg.runs_dir) / name / "summary.json", final_test):
        raise ConfigError(f"run '{name}' in {cfg.runs_dir}/ has finished already; choose another name (--name) or delete it")
    rundir = RunDir.create(cfg.runs_dir, name)
    try:
        summary = _cycle(cfg, rundir, display, dataset, splits, data, space, fixed, reference, final_test)
    except KnobsError:
        if not _has_trials(cfg, rundir):  # bad input: leave nothing behind; after trials, keep the evidence
            rundir.discard()
        raise
    summary["seconds"] = round(time.time() - started, 2)
    rundir.write_json("summary.json", summary)
    display.summary(summary, Study.load(*study_location(cfg, rundir)).trials, cfg.search.metric, direction(cfg))
    return RunResult(path=rundir.path, summary=summary)


def load_inputs(cfg: RunConfig) -> tuple:
    """Everything a run needs before it writes anything: (dataset, splits, prepared data, space,
    fixed values, the reference config — the centre of the space). Raises on any bad input.

    The returned splits are encoded: the data set's preprocessor (missing values, categories,
    vocabulary) is fitted on the training split only, and the test split is encoded with it before
    it is sealed, exactly as prediction rows will be. Model arguments that the data decides
    (``vocab_size`` for text models) join the fixed values, so every checkpoint records them.

    Fold mode (``data.folds``): the training split holds every non-test row (the final refit's
    data, with its preprocessing), the validation split is empty, and ``data.folds`` holds each
    fold's data, prepared from that fold's training part alone."""
    torch.set_num_threads(cfg.train.threads)
    dataset = load_dataset(cfg.data.source, kind=cfg.data.kind, **cfg.data.loader_options())
    if cfg.data.n_classes is not None:
        dataset = declare_classes(dataset, cfg.data.n_classes)
    if dataset.task == "classification":
        validate_labels(dataset.y, dataset.n_classes)
    space, fixed = build_space(cfg.search.space)
    if space is None:
        raise ConfigError("search.space: nothing to search; give at least one range ({low, high}) or choices")
    raw, groups = split_rows(cfg, dataset)
    preprocessor, splits, report = encode_splits(dataset, raw)
    texts = raw.train[0] if dataset.loading.get("kind") == "text" else None
    data = prepare(dataset, splits, cfg.model.family, cfg.data.standardize, preprocessor, report, texts=texts)
    if cfg.data.folds:
        data.folds = prepare_folds(cfg, dataset, raw.train, groups)
    taken = sorted(set(data.model_args) & (set(fixed) | set(space.names)))
    if taken:
        raise ConfigError(f"search.space.{taken[0]}: this model argument comes from the data "
                          f"(set data.{taken[0]} to bound it); remove it from the space")
    fixed = check_practices(cfg, data, space, {**fixed, **data.model_args})
    if cfg.autopilot.enabled:
        check_autopilot(cfg, data)
    reference = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    _check_params(cfg, data, space, fixed)
    check_population(cfg, space, fixed)
    return dataset, splits, data, space, fixed, reference


def _cycle(cfg, rundir, display, dataset, splits, data: PreparedData, space, fixed, reference, final_test) -> dict:
    # NOTE: what can refuse a resumed run (another test set, space or metric) comes first, so a
    # refused resume writes nothing: no run_start event, no preprocess.json of the new config.
    try:
        vault = Vault.seal(rundir.vault_dir, *splits.test, meta={"source": dataset.source, "seed": cfg.seed})
        study_url, study_name = study_location(cfg, rundir)
        study = open_study(cfg, study_url, study_name, space)
    except (VaultMismatch, StudyMismatch) as e:
        if rundir.created:  # a new run meeting another run's study in a shared database: not a resume
            raise
        what = ("another test set (data.source, the data file, data.test or seed has changed since)"
                if isinstance(e, VaultMismatch) else f"another {e.what}")
        raise ConfigError(f"run {rundir.path} cannot resume with this config: it started with {what}. Run it "
                          f"with the config it started with, or choose another --name") from None
    claim_run(study, cfg, rundir)  # what `knobs worker` rebuilds the objective from
    events = EventLog(rundir.events_path)
    try:
        events("run_start", config=cfg.model_dump(), source=dataset.source, resumed=not rundir.created,
               sizes={"train": len(splits.train[1]), "val": len(splits.val[1]), "test": len(splits.test[1])},
               folds=cfg.data.folds)
        data.save_preprocessing(rundir.path)
        rows = (f"{cfg.data.folds} folds of {len(splits.train[1])} rows" if data.folds else
                f"train {len(splits.train[1])}, val {len(splits.val[1])}")
        display.say(f"[bold]knobs run[/] {rundir.path} — {dataset.source}: {rows}, test {len(splits.test[1])} "
                    f"(sealed, fingerprint {vault.fingerprint[:12]})")
        finished = [t for t in study.trials if t.state.finished and not t.attrs.get("fixed")]  # the search's own
        objective = make_objective(cfg, data, fixed, rundir, events)

        checked, checked_splits, params = first_fold_view(data, splits, reference)
        preflight = run_preflight(cfg.checks, checked, lambda: build_model(cfg, params, ModelInfo.of(checked)),
                                  (checked_splits.train, checked_splits.val))
        events("preflight", results=[r.to_dict() for r in preflight])
        display.preflight(preflight)
        failed = [r for r in preflight if not r.passed and r.severity == "error"]
        if cfg.checks.strict and failed:
            raise KnobsError(f"preflight failed ({', '.join(r.name for r in failed)}): {failed[0].message}")

        remaining = max(0, cfg.search.n_trials - len(finished))

        def best(s: Study) -> None:
            if not data.folds:  # fold mode trains no trial checkpoints: its best.pt is the refit
                publish_best(rundir, s, lambda number, value: events("best_checkpoint", trial=number, value=value))

        deadline = None if cfg.search.timeout is None else time.time() + cfg.search.timeout
        if cfg.search.executor == "population":
            display.say(_population_note(cfg, space))
        with display.search(total=cfg.search.n_trials, done=len(finished), epochs=cfg.train.epochs,
                            metric=cfg.search.metric) as progress, _watch(cfg, study, progress):
            study.optimize(_runner(cfg, objective, rundir, progress.on_epoch, study, study_url), n_trials=remaining,
                           timeout=cfg.search.timeout, workers=cfg.search.workers, executor=make_executor(cfg.search),
                           callbacks=[progress.on_trial, lambda s, t: events("trial", **_trial_event(t)),
                                      once_per_batch(lambda s, t: keep_top(rundir, s, cfg.ensemble.top_k)),
                                      once_per_batch(lambda s, t: best(s)), once_per_batch(progress.show_best),
                                      stop_at_budget(cfg.search.n_trials)])
        autopilot = Autopilot(cfg, study, objective, data, splits, rundir, events, display).run(deadline)
        best(study)  # the study's final state (trials told by `knobs worker`s elsewhere included)
        final = {"test": None}
        if final_test:
            final = (refit_evaluation(cfg, rundir, vault, objective.inner, study.trials, direction(cfg)) if data.folds
                     else final_evaluation(cfg, rundir, vault, data, study.trials, direction(cfg)))
        if final["test"] is not None:
            events("test", final_model=final["final_model"], **{k: v for k, v in final["test"].items() if k != "confusion_matrix"})
        summary = _summary(cfg, rundir, dataset, study, preflight, final, vault, space)
        if autopilot is not None:
            summary["autopilot"] = autopilot
        write_report(rundir.path / "report.html", summary=summary, trials=study.trials, events_path=rundir.events_path)
        events("run_end")
        return summary
    finally:
        events.close()


def _runner(cfg: RunConfig, objective: Any, rundir: RunDir, on_epoch: Any, study: Study, url: str) -> Any:
    """What ``study.optimize`` runs: population batches, the in-process objective (a
    ``TrialObjective`` or, in fold mode, a ``FoldObjective``; live epoch progress), or the
    picklable one for worker processes and Ray tasks."""
    objective.on_epoch = on_epoch
    if cfg.search.executor == "population":  # never in fold mode (check_population)
        return PopulationTrials(cfg, objective.data, objective.fixed, rundir, objective.events, on_epoch, study)
    return search_objective(cfg, objective, rundir, url, study.name)


def _watch(cfg: RunConfig, study: Study, progress: Any) -> Any:
    """A bar per trial running in a worker process or Ray task (polled from the study)."""
    if cfg.search.workers == 1 and cfg.search.executor in ("local", "population"):
        return contextlib.nullcontext()
    return watch_running(study, progress.running)


def _summary(cfg, rundir, dataset, study, preflight, final, vault, space) -> dict:
    best = study.best
    states = [t.state.value for t in study.trials]
    return {
        "name": rundir.path.name,
        "run_dir": str(rundir.path),
        "data": {"source": dataset.source, "n": int(len(dataset.y)), "n_classes": dataset.n_classes,
                 "task": dataset.task, "loading": dataset.loading},
        "test": final["test"],
        "final_model": final.get("final_model"),
        "single": final.get("single"),
        "ensemble": final.get("ensemble"),
        "threshold": final.get("threshold"),
        "cv": _cv(cfg, best),
        "refit": final.get("refit"),
        "practices": {"balance": cfg.balance.model_dump() if cfg.balance.active() else None,
                      "augment": cfg.augment or None, "transfer": cfg.transfer},
        "best_trial": {
            "number": best.number, "value": best.value, "metric": cfg.search.metric, "config": best.config,
            "val_accuracy": best.attrs.get("val_accuracy"), "val_loss": best.attrs.get("val_loss"),
            "best_epoch": best.attrs.get("best_epoch"), "epochs_run": best.attrs.get("epochs_run"),
        },
        "n_trials": len(study.trials),
        "states": {s: states.count(s) for s in ("complete", "pruned", "failed", "running")},
        "total_epochs": int(sum(t.attrs.get("epochs_run") or (t.last_step or 0) for t in study.trials)),
        "preflight": [r.to_dict() for r in preflight],
        "search": {"sampler": cfg.search.sampler, "pruner": cfg.search.pruner, "space": space.to_json(),
                   "direction": direction(cfg), "executor": cfg.search.executor,
                   "population": cfg.search.population if cfg.search.executor == "population" else None},
        "vault": {"fingerprint": vault.fingerprint, "openings": vault.n_openings},
    }


def _cv(cfg: RunConfig, best) -> dict | None:
    """Fold mode: the best trial's mean ± std over folds, per fold, and the metric searched."""
    if not cfg.data.folds or "cv" not in best.attrs:
        return None
    return {"metric": cfg.search.metric, "groups": cfg.data.groups, **best.attrs["cv"]}


def _trial_event(trial) -> dict:
    return {"number": trial.number, "state": trial.state.value, "value": trial.value, "config": trial.config,
            "best_epoch": trial.attrs.get("best_epoch"), "epochs_run": trial.attrs.get("epochs_run")}


def _check_params(cfg: RunConfig, data: PreparedData, space: Any, fixed: dict) -> None:
    """Build the model and trainer for every choice option once, so a bad name fails before any work."""
    base = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    variants = [base] + [{**base, name: option} for name in space.names
                         if space[name].kind == "choice" for option in space[name].options]
    for params in variants:
        build_model(cfg, params, ModelInfo.of(data))
        make_trainer(cfg.train, params, cfg.search.metric, cfg.seed).validate()


def _population_note(cfg: RunConfig, space: Any) -> str:
    keys = splitting_keys(space)
    split = (f"; trials that differ in {', '.join(keys)} train in separate populations" if keys
             else "; every trial can share a population")
    return f"population mode: up to {cfg.search.population} trials trained at once{split}"


def _has_trials(cfg: RunConfig, rundir: RunDir) -> bool:
    if cfg.search.storage is None and not (rundir.path / "study.db").exists():
        return False
    try:
        return bool(Study.load(*study_location(cfg, rundir)).trials)
    except KnobsError:
        return False


def _finished(summary_path: Path, final_test: bool) -> bool:
    """A run is finished once it has a summary — with test metrics when the test is wanted."""
    if not summary_path.exists():
        return False
    return not final_test or json.loads(summary_path.read_text()).get("test") is not None



def _default_name(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source.split(":")[-1]).stem) or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
