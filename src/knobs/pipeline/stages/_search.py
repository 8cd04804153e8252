"""The search stage: the study's remaining budget of trials, on the run's runner, with the
callbacks whoever tells trials runs after each (top-k checkpoints, ``best.pt``, the budget)."""

from __future__ import annotations

import time
from typing import Any

from knobs.pipeline.rundir._members import keep_top
from knobs.pipeline.stages._open import OpenRun
from knobs.pipeline.stages._runners import runner_for
from knobs.pipeline.stages._study import stop_at_budget
from knobs.study import once_per_batch

__all__ = ["search"]


def search(run: OpenRun, objective: Any) -> None:
    """Run the trials the budget has left (a resumed run counts its finished ones), showing progress."""
    cfg, study, events, rundir = run.cfg, run.study, run.events, run.rundir
    runner = runner_for(cfg.search)
    finished = [t for t in study.trials if t.state.finished and not t.attrs.get("fixed")]  # the search's own
    note = runner.note(run.inputs.space)
    if note:
        run.display.say(note)
    started = time.monotonic()
    with run.display.search(total=cfg.search.n_trials, done=len(finished), epochs=cfg.train.epochs,
                            metric=cfg.search.metric) as progress, runner.watch(study, progress):
        objective.on_epoch = progress.on_epoch
        mode = run.inputs.mode
        runner.search(study, runner.objective(cfg, objective, rundir, study, run.study_url),
                      n_trials=max(0, cfg.search.n_trials - len(finished)), timeout=cfg.search.timeout,
                      callbacks=[progress.on_trial, lambda s, t: events("trial", **trial_event(t)),
                                 once_per_batch(lambda s, t: keep_top(rundir, s, cfg.ensemble.top_k)),
                                 once_per_batch(lambda s, t: mode.publish_best(rundir, s, events)),
                                 once_per_batch(progress.show_best), stop_at_budget(cfg.search.n_trials)])
    run.search_stopped = stop_reason(cfg.search, study, time.monotonic() - started)
    if run.search_stopped:
        run.display.say(f"search stopped early: {run.search_stopped}")


def stop_reason(search_cfg: Any, study: Any, seconds: float) -> str | None:
    """Why the search finished fewer trials than ``search.n_trials`` asked (None: it did not).

    Why said: "6 trials" against 8 asked, with no reason, reads as a bug or lost trials."""
    done = len([t for t in study.trials if t.state.finished and not t.attrs.get("fixed")])
    if done >= search_cfg.n_trials:
        return None
    if search_cfg.timeout is not None and seconds >= search_cfg.timeout:
        return (f"timeout after {search_cfg.timeout:g} s (search.timeout): {done} of {search_cfg.n_trials} "
                f"trials finished")
    return (f"the sampler had no new configuration to try ({search_cfg.sampler}): {done} of "
            f"{search_cfg.n_trials} trials finished")


def trial_event(trial: Any) -> dict:
    """A finished trial as events.jsonl records it."""
    return {"number": trial.number, "state": trial.state.value, "value": trial.value, "config": trial.config,
            "best_epoch": trial.attrs.get("best_epoch"), "epochs_run": trial.attrs.get("epochs_run")}
