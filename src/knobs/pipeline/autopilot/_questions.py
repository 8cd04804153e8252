"""The autopilot's two questions — does it fit the training data? does it generalize? — answered.

Two sources, both plain data: the findings of ``knobs.diagnose`` on the trial's configuration
(warnings and errors; ``info`` findings are explained by another finding or harmless), and the
trial's own learning curve, which the diagnosis does not see (it trains a short copy):

- ``still_improving``: the best validation epoch was the last epoch the budget allowed, so early
  stopping never fired and training ended while the model was still getting better;
- ``generalization_gap``: at the best epoch the validation loss exceeds the training loss by at
  least ``OVERFIT_GAP`` chance losses (ln C, or Var(y) for regression) — the diagnosis' 0.10
  train/validation score gap (Ng's high variance), on the loss scale, where a gap of 0.10 Var(y)
  is exactly a gap of 0.10 in R².

A problem code the remedy table has no remedy for (``class_imbalance``, ``unscaled_inputs``,
``split_overlap``, …: fixes of the data or of the whole run, not of one trial) is reported with
its recommended action, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from knobs.diagnose._training import OVERFIT_GAP
from knobs.pipeline.autopilot._remedies import FIT, GENERALIZE, QUESTION, REMEDIES

__all__ = ["Problem", "Answers", "curve_problems", "answer"]


@dataclass(frozen=True)
class Problem:
    """One reason to change something: its code, what was seen, and (when known) what to do."""

    code: str
    found: str
    action: str = ""
    source: str = "diagnosis"
    #: the finding's evidence (the measurements a remedy may read: a suggested batch, λ)
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Answers:
    """The two questions answered, with the problems behind each "no"."""

    fit: list[Problem] = field(default_factory=list)
    generalize: list[Problem] = field(default_factory=list)
    other: list[Problem] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return not self.fit

    @property
    def generalizes(self) -> bool:
        return not self.generalize

    @property
    def evidence(self) -> dict[str, dict[str, Any]]:
        """Problem code → its finding's evidence (the first finding of each code)."""
        out: dict[str, dict[str, Any]] = {}
        for p in (*self.fit, *self.generalize):
            out.setdefault(p.code, p.evidence)
        return out

    @property
    def codes(self) -> list[str]:
        """The codes to act on: fitting first (a model that does not fit cannot generalize)."""
        return list(dict.fromkeys(p.code for p in (*self.fit, *self.generalize)))

    def to_dict(self) -> dict[str, Any]:
        def rows(problems):
            return [{"code": p.code, "found": p.found, "source": p.source, **({"action": p.action} if p.action else {})}
                    for p in problems]
        return {"fits": self.fits, "generalizes": self.generalizes, "fit_problems": rows(self.fit),
                "generalize_problems": rows(self.generalize), "not_actionable": rows(self.other)}


def curve_problems(attrs: dict[str, Any], epoch_budget: int, chance_loss: float) -> list[Problem]:
    """``still_improving`` and ``generalization_gap`` from a trial's attrs (``curve``, ``best_epoch``,
    ``epochs_run``), as ``TrialObjective`` stores them."""
    curve, best = attrs.get("curve") or {}, attrs.get("best_epoch")
    out = []
    run = attrs.get("epochs_run")
    if best is not None and run is not None and best == run >= epoch_budget:
        out.append(Problem("still_improving", f"the best validation epoch was the last of {epoch_budget}",
                           source="curve"))
    epochs = curve.get("epoch") or []
    if best in epochs:
        i = epochs.index(best)
        train, val = curve["train_loss"][i], curve["val_loss"][i]
        if train is not None and val is not None and val - train >= OVERFIT_GAP * chance_loss:
            out.append(Problem("generalization_gap",
                               f"at the best epoch ({best}) validation loss {val:.4g} vs training loss {train:.4g}: "
                               f"a gap of {val - train:.3g} ≥ {OVERFIT_GAP:g} × the chance loss {chance_loss:.3g}",
                               source="curve"))
    return out


def answer(findings: Sequence[Any], curve: Sequence[Problem]) -> Answers:
    """Sort diagnosis findings (warning or error) and curve problems by the question they answer."""
    answers = Answers()
    problems = [Problem(f.code, f.message, f.action, evidence=dict(f.evidence or {}))
                for f in findings if f.severity != "info"] + list(curve)
    for problem in problems:
        if problem.code not in REMEDIES:
            answers.other.append(problem)
        elif QUESTION[problem.code] == FIT:
            answers.fit.append(problem)
        else:
            assert QUESTION[problem.code] == GENERALIZE
            answers.generalize.append(problem)
    return answers
