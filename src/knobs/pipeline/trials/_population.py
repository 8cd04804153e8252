"""Population mode in the practice cycle: a batch of trials trained together, recorded as if each
had run alone.

Why a wrapper around ``knobs.population.PopulationObjective``: the run directory's contract does
not depend on how a trial was trained. Each member's epochs go to events.jsonl and to
``trial.report`` (so pruners decide per epoch), its attributes are the ones a one-by-one trial
sets, and its best weights are written to ``checkpoints/trial-N.pt`` by the same function the
one-by-one ``TrialObjective`` uses — only for members that can be among the run's top k: the
``keep_top`` callback would delete any other at the batch's end, and at P = 256 the writes were
half of what a run spends beside training (bench/population_run.py) — so the top-k pruning, ``best.pt``, the ensemble, the final
test, ``knobs predict`` and the report read a population run like any other. Seeds match too
(trial n uses ``seed + n``), so a member trains as that trial would alone, up to float rounding
and dropout's random masks.

Example:
    >>> objective = PopulationTrials(cfg, data, fixed, rundir, events)          # doctest: +SKIP
    >>> study.optimize(objective, n_trials=64, executor=PopulationExecutor(16))  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from knobs.pipeline.rundir._members import save_trial_checkpoint, top_trials, trial_checkpoint
from knobs.pipeline.inputs._prepared import PreparedData
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.rundir._rundir import EventLog, RunDir
from knobs.population import MemberResult, PopulationObjective
from knobs.trial import Trial

__all__ = ["PopulationTrials"]


class PopulationTrials:
    """``objective(trials) -> list[MemberResult]`` for ``PopulationExecutor``, writing the run directory.

    Args:
        cfg: the run config; [train] gives the loop (epochs, batch size, schedule, patience,
            device, precision), ``search.metric`` what is reported and told.
        data: the prepared data. fixed: values every trial has unless its config sets them.
        rundir, events: where checkpoints and epoch events go.
        on_epoch: ``on_epoch(record)`` for each member's epoch (the progress display).
        study: the run's study, read once per batch to skip the checkpoints of members that
            cannot be among its ``ensemble.top_k`` best; None: every member's is written.
    """

    def __init__(self, cfg: Any, data: PreparedData, fixed: dict[str, Any], rundir: RunDir, events: EventLog,
                 on_epoch: Callable[[dict], None] = lambda r: None, study: Any = None) -> None:
        self.cfg, self.data, self.fixed = cfg, data, fixed
        self.rundir, self.events, self.on_epoch, self.study = rundir, events, on_epoch, study

    def objective(self) -> PopulationObjective:
        """The population trainer with this run's settings (and [balance]'s rows and loss: they
        depend on the training split alone, so every member shares them)."""
        cfg, data = self.cfg, self.data
        balanced = getattr(data, "balanced", None)
        train = data.train if balanced is None else balanced.train_data(cfg.train.batch_size)
        return PopulationObjective(
            cfg.model.family, train, data.val, fixed=self.fixed, metric=cfg.search.metric, on_epoch=self._epoch,
            loss=None if balanced is None else balanced.loss,
            epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, optimizer="adam", schedule=cfg.train.schedule,
            patience=cfg.train.patience, min_delta=cfg.train.min_delta, device=cfg.train.device,
            precision=cfg.train.precision, seed=cfg.seed, task=data.task, input_shape=data.input_shape,
            n_classes=data.n_classes)

    def __call__(self, trials: Sequence[Trial]) -> list[MemberResult]:
        results = self.objective()(trials)
        contenders = self._contenders(trials, results)
        for trial, result in zip(trials, results):
            self._record(trial, result, save=trial.number in contenders)
        return results

    def _contenders(self, trials: Sequence[Trial], results: list[MemberResult]) -> set[int]:
        """The batch's trials whose value ties or beats the k-th best of the study's complete trials
        and the batch together (``keep_top`` keeps no other: the top k only gets better)."""
        values = {t.number: r.best_value for t, r in zip(trials, results)
                  if r.best_value is not None and math.isfinite(r.best_value)}
        if self.study is None:
            return set(values)
        k, sign = self.cfg.ensemble.top_k, (-1.0 if self.study.direction == "maximize" else 1.0)
        known = [t.value for t in top_trials(self.study.trials, k, self.study.direction)]
        ranked = sorted([*known, *values.values()], key=lambda v: sign * v)
        if len(ranked) <= k:
            return set(values)
        cutoff = sign * ranked[k - 1]
        return {n for n, v in values.items() if sign * v <= cutoff}

    def _epoch(self, trial: Trial, record: dict) -> None:
        self.events("epoch", trial=trial.number, **record)
        self.on_epoch(record)

    def _record(self, trial: Trial, result: MemberResult, save: bool) -> None:
        """Events and (``save``) the checkpoint of one member, as ``TrialObjective`` writes them."""
        if result.diverged:
            self.events("diverged", trial=trial.number, message=result.message)
            return
        if not save or result.pruned or result.best_value is None or result.state_dict is None:
            return
        params = {**self.fixed, **trial.config}
        model = build_model(self.cfg, params, ModelInfo.of(self.data))
        model.load_state_dict(result.state_dict)
        save_trial_checkpoint(trial_checkpoint(self.rundir, trial.number), model, params, trial.number,
                              float(result.best_value), self.cfg.model, self.data)

