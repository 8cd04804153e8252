"""The autopilot: after the search, walk the practice cycle on validation, one change at a time.

Order of work (``Autopilot.run``): start from the search's best trial — or, when a killed run
resumes, from where its recorded steps left off; diagnose the current configuration with
``knobs.diagnose`` on the run's own data and read its learning curve (``_questions``): does it
fit? does it generalize?; turn the answers into ordered changes (``_remedies``); train the first
as a trial of the run's study, with the current configuration's seed, and keep it only when its
paired validation gain beats the noise (``_gain``). A kept change starts a new round (diagnose
again); a rejected one gives way to the next change. The walk stops after ``max_steps`` steps,
when a round has nothing left to try ("nothing to fix" when both answers are yes, else "no
remedy left"), or at the search's timeout. The vault stays sealed: every decision is made on
validation, before the final evaluation.

Why trials of the study (``Study.ask_fixed``): a step is as durable as a search trial — its
config, curve, value and verdict are stored rows, its checkpoint competes in the final ensemble,
and a resumed run replays finished steps instead of training them again. ``attrs["autopilot"]``
says what the step changed, ``attrs["autopilot_verdict"]`` whether it was kept; a step without a
verdict (killed mid-way) is trained again.
"""

from __future__ import annotations

import math
import time
from typing import Any

from knobs.errors import KnobsError
from knobs.pipeline.trials._evaluate import outputs
from knobs.pipeline.autopilot._gain import judge, per_row
from knobs.pipeline.autopilot._knobs import knob_defaults
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.rundir._members import keep_top, load_member, trial_checkpoint
from knobs.pipeline.trials._diagnosis import diagnose_params
from knobs.pipeline.trials._watched import record_diagnosis
from knobs.pipeline.trials._objective import make_trainer, trial_seed
from knobs.pipeline.inputs._practices import trial_practices
from knobs.pipeline.autopilot._questions import answer, curve_problems
from knobs.pipeline.autopilot._remedies import Change, Setting, again, candidates
from knobs.pipeline.autopilot._steps import STEP, VERDICT, config_key, finished_steps, step_record, summary, tried_configs
from knobs.trial import FrozenTrial, TrialState

__all__ = ["Autopilot"]


class Autopilot:
    """The walk of one run: ``Autopilot(...).run(deadline)`` → the ``summary["autopilot"]`` dict.

    Args:
        cfg: the run config; study: the run's study (search finished); objective: the run's
            ``TrialObjective``; data, splits: what ``load_inputs`` returned; rundir, events,
            display: the run's directory, event log and terminal output.
    """

    def __init__(self, cfg: Any, study: Any, objective: Any, data: Any, splits: Any, rundir: Any, events: Any,
                 display: Any) -> None:
        self.cfg, self.study, self.objective, self.data, self.splits = cfg, study, objective, data, splits
        self.rundir, self.events, self.display = rundir, events, display
        self._rows: dict[int, Any] = {}

    def run(self, deadline: float | None = None) -> dict[str, Any] | None:
        """Walk (or only report the recorded steps when autopilot is off); None when there is
        nothing to report."""
        trials = self.study.trials
        done = finished_steps(trials)
        enabled = self.cfg.autopilot.enabled
        if not any(t.state is TrialState.COMPLETE for t in trials) or not (enabled or done):
            return None
        by_number = {t.number: t for t in trials}
        start = by_number[done[0].attrs[STEP]["start"]] if done else self.study.best
        current = start
        for t in done:
            current = t if t.attrs[VERDICT]["kept"] else current
        steps = [step_record(t, by_number) for t in done]
        rounds: list[dict] = []
        stopped = "off"
        if enabled:
            self.events("autopilot_start", trial=start.number, value=start.value, resumed_steps=len(steps))
            current, stopped = self._walk(start, current, steps, rounds, deadline)
        result = summary(self.cfg, self.study.direction, start, current, steps, rounds, stopped)
        if enabled:
            self.events("autopilot_end", **{k: v for k, v in result.items() if k not in ("steps", "rounds")})
        return result

    def _walk(self, start, current, steps, rounds, deadline) -> tuple[FrozenTrial, str]:
        self.objective.on_epoch = lambda record: None
        max_steps = self.cfg.autopilot.max_steps
        while len(steps) < max_steps:
            if deadline is not None and time.time() >= deadline:
                return current, "timeout"
            round_, changes = self._plan(current)
            rounds.append(round_)
            self.events("autopilot_round", **round_)
            self.display.autopilot_round(round_)
            if not changes:
                return current, "nothing to fix" if round_["fits"] and round_["generalizes"] else "no remedy left"
            for change in changes:
                if len(steps) >= max_steps:
                    return current, "max_steps"
                if deadline is not None and time.time() >= deadline:
                    return current, "timeout"
                trial = self._step(start, current, change, len(steps) + 1)
                record = step_record(trial, {current.number: current})
                steps.append(record)
                self.events("autopilot_step", **record)
                self.display.autopilot_step(record)
                current = trial if record["kept"] else current
                keep_top(self.rundir, self.study, self.cfg.ensemble.top_k, also=[current.number])
                if record["kept"]:
                    break
            else:  # every change of this round was rejected
                return current, "max_steps" if len(steps) >= max_steps else "no remedy left"
        return current, "max_steps"

    def _plan(self, current: FrozenTrial) -> tuple[dict[str, Any], list[Change]]:
        """Diagnose ``current``, answer the two questions, and list the changes not tried yet."""
        params = {**self.objective.fixed, **current.config}
        report = diagnose_params(self.cfg, self.splits, self.data, params)
        record_diagnosis(self.rundir.path, current.number, report.evidence)  # its watch probes: views/watch.json
        budget = int(params.get("epochs", self.cfg.train.epochs))
        answers = answer(report.findings, curve_problems(current.attrs, budget, self._chance_loss()))
        found = {p.code: p.found for p in (*answers.fit, *answers.generalize)}
        run = current.attrs.get("epochs_run")
        constant = params.get("schedule", self.cfg.train.schedule) is None
        setting = Setting(params=params, defaults=knob_defaults(self.cfg, self.data), n_train=len(self.data.train[1]),
                          stopped_early=constant and run is not None and run < budget, evidence=answers.evidence,
                          optimizer=make_trainer(self.cfg.train, params, self.cfg.search.metric, self.cfg.seed).optimizer)
        proposed = candidates(answers.codes, setting, self.cfg.autopilot.keys, found)
        for more in self._again(current, setting):
            if all(more.after != c.after for c in proposed):
                proposed.append(more)
        tried = tried_configs(self.study.trials)
        changes, skipped = [], []
        for change in proposed:
            config = {**current.config, **change.after}
            why = tried.get(config_key(config)) or self._unbuildable({**self.objective.fixed, **config})
            if why:
                skipped.append({"change": change.describe(), "code": change.code, "why": why})
            else:
                changes.append(change)
        round_ = {"trial": current.number, "value": current.value, **answers.to_dict(),
                  "changes": [f"{c.code}: {c.describe()}" for c in changes], "skipped": skipped}
        return round_, changes

    def _again(self, current: FrozenTrial, setting: Setting) -> list[Change]:
        """The remedies of the kept changes that led to ``current``, once more each (the latest
        first, one per knob), after what the diagnosis asks for."""
        by_number = {t.number: t for t in self.study.trials}
        out, knobs, trial = [], set(), current
        while trial is not None and STEP in trial.attrs:
            info = trial.attrs[STEP]
            change = info["change"]
            if change["knob"] not in knobs:
                knobs.add(change["knob"])
                more = again(change["code"], change["knob"], setting, self.cfg.autopilot.keys,
                             f"step {info['step']} ({change['description']}) was kept: one more step the same way")
                out += [more] if more is not None else []
            trial = by_number.get(info["base"])
        return out

    def _step(self, start: FrozenTrial, current: FrozenTrial, change: Change, number: int) -> FrozenTrial:
        """Train ``change`` over ``current`` as a trial of the study; judge it; return the record."""
        config = {**current.config, **change.after}
        attrs = {"seed": trial_seed(self.cfg.seed, current),
                 STEP: {"step": number, "start": start.number, "base": current.number, "change": change.to_dict()}}
        trial = self.study.ask_fixed(config, attrs, prune=False)
        self.display.say(f"autopilot step {number} (trial {trial.number}): {change.code} → {change.describe()}")
        try:
            value = self.objective(config, trial)
        except KnobsError as error:
            self._interrupted(trial, error)
            raise
        except Exception as error:  # noqa: BLE001 — a diverged or crashed change is a rejected change
            trial.set_attr(VERDICT, {"outcome": "failed", "kept": False, "why": f"{type(error).__name__}: {error}"})
            trial.set_attr("fail_reason", f"{type(error).__name__}: {error}"[:2000])
            return self.study.tell(trial, state="failed")
        except BaseException as error:
            self._interrupted(trial, error)
            raise
        trial.set_attr(VERDICT, self._verdict(current.number, trial.number))
        return self.study.tell(trial, value)

    def _interrupted(self, trial: Any, error: BaseException) -> None:
        """No verdict: a resumed run trains this step again."""
        trial.set_attr("fail_reason", f"interrupted: {type(error).__name__}: {error}"[:2000])
        self.study.tell(trial, state="failed")

    def _verdict(self, before: int, after: int) -> dict[str, Any]:
        ap = self.cfg.autopilot
        v = judge(self._val_rows(before), self._val_rows(after), self.study.direction, ap.min_gain, ap.margin_se)
        rule = f"max(min_gain {ap.min_gain:g}, {ap.margin_se:g} × se {v.se:.3g})"
        why = f"gain {v.gain:+.4g} {'>' if v.kept else '≤'} margin {v.margin:.3g} = {rule} on {v.n} validation rows"
        return {"outcome": "kept" if v.kept else "rejected", **v.to_dict(), "why": why}

    def _val_rows(self, number: int) -> Any:
        """The validation metric of trial ``number``'s checkpoint, row by row (cached)."""
        if number not in self._rows:
            path = trial_checkpoint(self.rundir, number)
            if not path.exists():
                raise KnobsError(f"autopilot: the checkpoint of trial {number} ({path}) is gone; it is needed to "
                                 f"judge the next change on the validation rows")
            model = load_member(path, self.data.input_shape, self.data.n_classes, self.cfg.model.family)[0]
            X, y = self.data.val
            self._rows[number] = per_row(outputs(model, X, self.data.task), self.data.raw_targets(y), self.cfg.search.metric,
                                         self.data.task)
        return self._rows[number]

    def _unbuildable(self, params: dict[str, Any]) -> str | None:
        """Why a changed configuration cannot train (a ConvNet deeper than its image allows), or None."""
        try:
            build_model(self.cfg, params, ModelInfo.of(self.data))
            make_trainer(self.cfg.train, params, self.cfg.search.metric, self.cfg.seed).validate()
            trial_practices(self.cfg, self.data, params, self.cfg.seed, None)
        except KnobsError as error:
            return f"cannot train: {error}"
        return None

    def _chance_loss(self) -> float:
        """ln C, the binary entropy of each label's training frequency (multi-label), or Var(y) of the training
        target: the loss of a model that learned nothing."""
        if self.data.task == "classification":
            return math.log(self.data.n_classes)
        if self.data.task == "multilabel":
            p = self.data.train[1].double().mean(0).clamp(1e-12, 1 - 1e-12)
            return float(-(p * p.log() + (1 - p) * (1 - p).log()).mean())
        return float(self.data.train[1].double().var())
