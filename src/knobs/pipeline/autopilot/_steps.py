"""The autopilot's steps as stored trials, and as the records events, summary and report show.

A step is a trial of the run's study with two attributes: ``attrs["autopilot"]`` (its number, the
walk's start trial, the trial it changed and the ``Change``) written when it starts, and
``attrs["autopilot_verdict"]`` (kept or not, and why) written before it is told. A finished
trial with both is a finished step; a resumed run replays those and trains the others again.
"""

from __future__ import annotations

import json
from typing import Any

from knobs.trial import FrozenTrial

__all__ = ["STEP", "VERDICT", "finished_steps", "step_record", "summary", "tried_configs", "config_key"]

#: trial attributes: what a step changed, and whether it was kept.
STEP, VERDICT = "autopilot", "autopilot_verdict"


def finished_steps(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The autopilot's steps that have a verdict, in order (an interrupted step has none)."""
    return [t for t in trials if STEP in t.attrs and VERDICT in t.attrs and t.state.finished]


def step_record(trial: FrozenTrial, by_number: dict[int, FrozenTrial]) -> dict[str, Any]:
    """One step as events.jsonl, summary.json and the report show it."""
    info, verdict = trial.attrs[STEP], trial.attrs[VERDICT]
    change, base = info["change"], by_number.get(info["base"])
    return {"step": info["step"], "trial": trial.number, "base": info["base"], "code": change["code"],
            "question": change["question"], "found": change["found"], "knob": change["knob"],
            "change": change["description"], "before": change["before"], "after": change["after"],
            "reason": change["reason"], "value_before": base.value if base else None, "value_after": trial.value,
            **verdict}


def summary(cfg: Any, direction: str, start: FrozenTrial, end: FrozenTrial, steps: list, rounds: list,
            stopped: str) -> dict[str, Any]:
    """``summary["autopilot"]``: where the walk started and ended, every step, the rounds, why it stopped."""
    def brief(t: FrozenTrial) -> dict[str, Any]:
        return {"trial": t.number, "value": t.value, "val_accuracy": t.attrs.get("val_accuracy"),
                "val_loss": t.attrs.get("val_loss"), "config": t.config}
    kept = [s for s in steps if s["kept"]]
    return {"metric": cfg.search.metric, "direction": direction, "min_gain": cfg.autopilot.min_gain,
            "margin_se": cfg.autopilot.margin_se, "start": brief(start), "end": brief(end),
            "n_steps": len(steps), "n_kept": len(kept), "kept_changes": [s["change"] for s in kept],
            "stopped": stopped, "steps": steps, "rounds": rounds}


def tried_configs(trials: list[FrozenTrial]) -> dict[str, str]:
    """Configs trained already → why not again (a step killed mid-way is trained again)."""
    out = {}
    for t in trials:
        if STEP in t.attrs and VERDICT not in t.attrs:
            continue
        out.setdefault(config_key(t.config), f"trained already (trial {t.number})")
    return out


def config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)
