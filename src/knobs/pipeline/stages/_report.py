"""The last stages: the final evaluation (the mode's: ensemble or single, or the fold mode's refit)
and the report — summary.json's content and report.html."""

from __future__ import annotations

from typing import Any

from knobs.pipeline.inputs._streamed import loading_record
from knobs.pipeline.stages._open import OpenRun
from knobs.pipeline.stages._record_views import record_worst
from knobs.pipeline.stages._runners import runner_for
from knobs.pipeline.stages._study import direction
from knobs.report import RunRecord, findings, write_report

__all__ = ["test_once", "report"]


def test_once(run: OpenRun, objective: Any, final_test: bool) -> dict:
    """Open the vault once and measure the final model (``{"test": None}`` for ``knobs tune``)."""
    if not final_test:
        return {"test": None}
    final = run.inputs.mode.final(run.cfg, run.rundir, run.vault, run.inputs, objective, run.study.trials,
                                  direction(run.cfg))
    measured = final.pop("test_outputs", None)
    if measured is not None:  # NOTE: the only place test rows reach views/: after the vault's opening
        record_worst(run, final["final_model"], measured)
    if final["test"] is not None:
        run.events("test", final_model=final["final_model"],
                   **{k: v for k, v in final["test"].items() if k != "confusion_matrix"})
    return final


def report(run: OpenRun, preflight: list, final: dict, autopilot: dict | None) -> dict:
    """Write report.html; return the summary (summary.json's content, less the run's seconds)."""
    summary = _summary(run, preflight, final)
    if autopilot is not None:
        summary["autopilot"] = autopilot
    record = RunRecord(summary, run.study.trials, run.rundir.path, [{"event": "run_start", "config": run.cfg.public_dump()}])
    summary["advice"] = [f.to_dict() for f in findings(record)]
    write_report(run.rundir.path / "report.html", summary=summary, trials=run.study.trials,
                 events_path=run.rundir.events_path)
    return summary


def _balance_applied(data: Any) -> dict | None:
    """What [balance] did to the final model's training rows (``BalancedTraining.summary``: each class's rows — a
    multi-label run's: rows carrying each label; a segmentation's: pixels — before and after resampling, the loss's
    class weights), or None without a treatment."""
    balanced = getattr(data, "balanced", None)
    return None if balanced is None else balanced.summary()


def _summary(run: OpenRun, preflight: list, final: dict) -> dict:
    cfg, dataset, study, vault = run.cfg, run.inputs.dataset, run.study, run.vault
    best = study.best
    states = [t.state.value for t in study.trials]
    return {
        "name": run.rundir.path.name,
        "run_dir": str(run.rundir.path),
        "data": {"source": dataset.source, "n": int(len(dataset.y)), "n_classes": dataset.n_classes,
                 "class_names": None if dataset.class_names is None else [str(c) for c in dataset.class_names],
                 "task": dataset.task, "loading": loading_record(dataset, run.rundir.events_path)},  # streamed files left out: listed
        "test": final["test"],
        "final_model": final.get("final_model"),
        "single": final.get("single"),
        "ensemble": final.get("ensemble"),
        "threshold": final.get("threshold"),
        "cv": run.inputs.mode.cv(cfg, best),
        "refit": final.get("refit"),
        "practices": {"balance": cfg.balance.model_dump() if cfg.balance.active() else None,
                      "balance_applied": _balance_applied(run.inputs.data),
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
        "search": {"sampler": cfg.search.sampler, "pruner": cfg.search.pruner, "space": run.inputs.space.to_json(),
                   "direction": direction(cfg), "executor": cfg.search.executor,
                   "population": runner_for(cfg.search).population, "stopped": run.search_stopped},
        "vault": {"fingerprint": vault.fingerprint, "openings": vault.n_openings},
    }
