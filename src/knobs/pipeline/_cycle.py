"""The practice cycle: data → vault → standardize → preflight → search → [autopilot] → test once → report."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobs.config import RunConfig, build_space
from knobs.data import Vault, declare_classes, encode_splits, load_dataset, split, validate_labels
from knobs.errors import ConfigError, KnobsError
from knobs.executors._pipeline import (claim_run, keep_top_finished, make_executor, search_objective,
                                       stop_at_budget, study_location)
from knobs.pipeline._autopilot import Autopilot
from knobs.pipeline._components import make_pruner, make_sampler
from knobs.pipeline._display import Display
from knobs.pipeline._final import final_evaluation
from knobs.pipeline._knobs import check_autopilot
from knobs.pipeline._objective import TrialObjective, make_trainer
from knobs.pipeline._practices import check_practices
from knobs.pipeline._preflight import run_preflight
from knobs.pipeline._prepared import PreparedData, prepare
from knobs.pipeline._rundir import EventLog, RunDir
from knobs.report import write_report
from knobs.study import Study
from knobs.trial import TrialState

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
    display.summary(summary, Study.load(*study_location(cfg, rundir)).trials, cfg.search.metric, _direction(cfg))
    return RunResult(path=rundir.path, summary=summary)


def load_inputs(cfg: RunConfig) -> tuple:
    """Everything a run needs before it writes anything: (dataset, splits, prepared data, space,
    fixed values, the reference config — the centre of the space). Raises on any bad input.

    The returned splits are encoded: the data set's preprocessor (missing values, categories,
    vocabulary) is fitted on the training split only, and the test split is encoded with it before
    it is sealed, exactly as prediction rows will be. Model arguments that the data decides
    (``vocab_size`` for text models) join the fixed values, so every checkpoint records them."""
    torch.set_num_threads(cfg.train.threads)
    dataset = load_dataset(cfg.data.source, kind=cfg.data.kind, **cfg.data.loader_options())
    if cfg.data.n_classes is not None:
        dataset = declare_classes(dataset, cfg.data.n_classes)
    if dataset.task == "classification":
        validate_labels(dataset.y, dataset.n_classes)
    space, fixed = build_space(cfg.search.space)
    if space is None:
        raise ConfigError("search.space: nothing to search; give at least one range ({low, high}) or choices")
    splits = split(dataset, val=cfg.data.val, test=cfg.data.test, seed=cfg.seed)
    preprocessor, splits, report = encode_splits(dataset, splits)
    data = prepare(dataset, splits, cfg.model.family, cfg.data.standardize, preprocessor, report)
    taken = sorted(set(data.model_args) & (set(fixed) | set(space.names)))
    if taken:
        raise ConfigError(f"search.space.{taken[0]}: this model argument comes from the data "
                          f"(set data.{taken[0]} to bound it); remove it from the space")
    fixed = check_practices(cfg, data, space, {**fixed, **data.model_args})
    if cfg.autopilot.enabled:
        check_autopilot(cfg, data)
    reference = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    _check_params(cfg, data, space, fixed)
    return dataset, splits, data, space, fixed, reference


def _cycle(cfg, rundir, display, dataset, splits, data: PreparedData, space, fixed, reference, final_test) -> dict:
    events = EventLog(rundir.events_path)
    try:
        events("run_start", config=cfg.model_dump(), source=dataset.source, resumed=not rundir.created,
               sizes={"train": len(splits.train[1]), "val": len(splits.val[1]), "test": len(splits.test[1])})
        vault = Vault.seal(rundir.vault_dir, *splits.test, meta={"source": dataset.source, "seed": cfg.seed})
        data.save_preprocessing(rundir.path)
        display.say(f"[bold]knobs run[/] {rundir.path} — {dataset.source}: train {len(splits.train[1])}, "
                    f"val {len(splits.val[1])}, test {len(splits.test[1])} (sealed, fingerprint {vault.fingerprint[:12]})")
        study_url, study_name = study_location(cfg, rundir)
        study = Study(space, sampler=make_sampler(cfg.search.sampler, cfg.search.sampler_options, cfg.seed),
                      pruner=make_pruner(cfg.search.pruner, cfg.search.pruner_options, cfg.train.epochs),
                      direction=_direction(cfg), storage=study_url, name=study_name, load_if_exists=True)
        claim_run(study, cfg, rundir)  # what `knobs worker` rebuilds the objective from
        finished = [t for t in study.trials if t.state.finished and not t.attrs.get("fixed")]  # the search's own
        best_value = study.best.value if any(t.state is TrialState.COMPLETE for t in finished) else None
        objective = TrialObjective(cfg, data, fixed, rundir, events, best_value)

        preflight = run_preflight(cfg.checks, data, lambda: objective.build(reference), (splits.train, splits.val))
        events("preflight", results=[r.to_dict() for r in preflight])
        display.preflight(preflight)
        failed = [r for r in preflight if not r.passed and r.severity == "error"]
        if cfg.checks.strict and failed:
            raise KnobsError(f"preflight failed ({', '.join(r.name for r in failed)}): {failed[0].message}")

        remaining = max(0, cfg.search.n_trials - len(finished))
        deadline = None if cfg.search.timeout is None else time.time() + cfg.search.timeout
        with display.search(total=cfg.search.n_trials, done=len(finished), epochs=cfg.train.epochs) as progress:
            objective.on_epoch = progress.on_epoch
            study.optimize(search_objective(cfg, objective, rundir, study_url, study_name), n_trials=remaining,
                           timeout=cfg.search.timeout, workers=cfg.search.workers, executor=make_executor(cfg.search),
                           callbacks=[progress.on_trial, lambda s, t: events("trial", **_trial_event(t)),
                                      lambda s, t: keep_top_finished(rundir, s.trials, cfg.ensemble.top_k, s.direction),
                                      stop_at_budget(cfg.search.n_trials)])
        autopilot = Autopilot(cfg, study, objective, data, splits, rundir, events, display).run(deadline)
        final = final_evaluation(cfg, rundir, vault, data, study.trials, _direction(cfg)) if final_test else {"test": None}
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
                   "direction": _direction(cfg)},
        "vault": {"fingerprint": vault.fingerprint, "openings": vault.n_openings},
    }


def _trial_event(trial) -> dict:
    return {"number": trial.number, "state": trial.state.value, "value": trial.value, "config": trial.config,
            "best_epoch": trial.attrs.get("best_epoch"), "epochs_run": trial.attrs.get("epochs_run")}


def _check_params(cfg: RunConfig, data: PreparedData, space: Any, fixed: dict) -> None:
    """Build the model and trainer for every choice option once, so a bad name fails before any work."""
    base = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    variants = [base] + [{**base, name: option} for name in space.names
                         if space[name].kind == "choice" for option in space[name].options]
    for params in variants:
        objective = TrialObjective(cfg, data, {}, None, None, None)
        objective.build(params)
        make_trainer(cfg.train, params, cfg.search.metric, cfg.seed).validate()


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


def _direction(cfg: RunConfig) -> str:
    return "maximize" if cfg.search.metric == "val_accuracy" else "minimize"


def _default_name(source: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(source.split(":")[-1]).stem) or "run"
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
