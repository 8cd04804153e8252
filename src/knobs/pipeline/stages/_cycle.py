"""``knobs run``: inputs → vault → study → preflight → search → [autopilot] → final evaluation → report.

Each stage is a function of its own module (docs/architecture.md, "knobs run, step by step"); the
run's mode (one split or k folds, ``_modes.py``) and runner (in process, local processes, Ray,
populations, ``_runners.py``) are chosen once and asked where they differ.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knobs.config import RunConfig
from knobs.errors import ConfigError, KnobsError
from knobs.pipeline.autopilot._autopilot import Autopilot
from knobs.pipeline.inputs._streamed import listen_unreadable, memory_line
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.pipeline.stages._inputs import RunInputs, load_inputs
from knobs.pipeline.stages._open import OpenRun, open_run_study, seal_vault
from knobs.pipeline.stages._preflight import preflight
from knobs.pipeline.stages._record_views import record_filters, record_samples, record_spectral, record_watch
from knobs.pipeline.stages._report import report, test_once
from knobs.pipeline.stages._search import search
from knobs.pipeline.stages._study import direction, study_location
from knobs.pipeline.ui._display import Display
from knobs.study import Study

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
    inputs = load_inputs(cfg)
    rundir = _run_directory(cfg, final_test)
    try:
        summary = _stages(cfg, inputs, rundir, display, final_test)
    except KnobsError:
        if not _has_trials(cfg, rundir):  # bad input: leave nothing behind; after trials, keep the evidence
            rundir.discard()
        raise
    summary["seconds"] = round(time.time() - started, 2)
    rundir.write_json("summary.json", summary)
    display.summary(summary, Study.load(*study_location(cfg, rundir)).trials, cfg.search.metric, direction(cfg))
    return RunResult(path=rundir.path, summary=summary)


def _stages(cfg: RunConfig, inputs: RunInputs, rundir: RunDir, display: Display, final_test: bool) -> dict:
    """vault → study → preflight → search → autopilot → final evaluation → report; the summary (and,
    along the way, what the report's data, diagnosis and test views show: ``_record_views``)."""
    vault = seal_vault(cfg, inputs, rundir)
    study, study_url = open_run_study(cfg, inputs, rundir)
    with contextlib.closing(EventLog(rundir.events_path)) as events:
        run = OpenRun(cfg, inputs, rundir, display, vault, study, study_url, events)
        _announce(run)
        objective = inputs.mode.objective(cfg, inputs.data, inputs.fixed, rundir, events)
        checks = preflight(run)
        record_samples(run)  # views/: training rows as the trials' models see them
        deadline = None if cfg.search.timeout is None else time.time() + cfg.search.timeout
        search(run, objective)
        autopilot = Autopilot(cfg, study, objective, inputs.data, inputs.splits, rundir, events, display).run(deadline)
        inputs.mode.publish_best(rundir, study, events)  # the study's final state (other workers' trials included)
        final = test_once(run, objective, final_test)
        record_watch(run, objective)  # after the final stage: a fold mode's refit is watched there
        record_filters(run)
        record_spectral(run)
        summary = report(run, checks, final, autopilot)
        events("run_end")
        return summary


def _announce(run: OpenRun) -> None:
    """The run_start event, preprocess.json, and the first line in the terminal."""
    cfg, splits, rundir = run.cfg, run.inputs.splits, run.rundir
    run.events("run_start", config=cfg.public_dump(), source=run.inputs.dataset.source, resumed=not rundir.created,
               sizes={"train": len(splits.train[1]), "val": len(splits.val[1]), "test": run.inputs.test_rows},
               folds=run.inputs.mode.k)
    if run.study.warm_start is not None:  # search.warm_start: what the sampler was fed besides the run's trials
        run.events("warm_start", **run.study.warm_start)
    run.inputs.data.save_preprocessing(rundir.path)
    listen_unreadable(run.inputs.dataset, run.events)  # streamed files that fail to decode when read: events
    if run.inputs.dataset.loading.get("note"):  # e.g. a torch Dataset read into memory, with its size
        run.display.say(run.inputs.dataset.loading["note"])
    if memory_line(run.inputs.dataset.loading):  # cached or streamed, with sizes
        run.display.say(memory_line(run.inputs.dataset.loading))
    run.display.say(f"[bold]knobs run[/] {rundir.path} — {run.inputs.dataset.source}: "
                    f"{run.inputs.mode.describe_rows(splits)}, test {run.inputs.test_rows} "
                    f"(sealed, fingerprint {run.vault.fingerprint[:12]})")


def _run_directory(cfg: RunConfig, final_test: bool) -> RunDir:
    """The run's directory, created or (an unfinished run) reopened.

    Raises:
        ConfigError: the run of that name has finished already.
    """
    name = cfg.name or _default_name(cfg.data.source)
    if _finished(Path(cfg.runs_dir) / name / "summary.json", final_test):
        raise ConfigError(f"run '{name}' in {cfg.runs_dir}/ has finished already; choose another name (--name) or delete it")
    return RunDir.create(cfg.runs_dir, name)


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
