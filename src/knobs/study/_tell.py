"""What ``tell`` records: the pure rules from (state, value) to a trial's final row.

Why pure: the rules (NaN is a failure, a pruned trial keeps its last reported value, a complete
trial needs a number) are the part worth testing in isolation; ``Study.tell`` only wires them
to storage.
"""

from __future__ import annotations

import math
from typing import Any

from knobs.errors import TrialError
from knobs.trial import TrialState

__all__ = ["Outcome", "parse_state", "as_value", "outcome"]

Outcome = tuple[TrialState, float | None, dict[str, Any]]

_FINAL = {s.value: s for s in TrialState if s.finished}


def parse_state(state: Any, number: int) -> TrialState:
    """``"complete" | "failed" | "pruned"`` (or a finished ``TrialState``) as a ``TrialState``."""
    if isinstance(state, TrialState) and state.finished:
        return state
    if isinstance(state, str) and state.lower() in _FINAL:
        return _FINAL[state.lower()]
    raise TrialError(f"tell(trial {number}): state must be one of {sorted(_FINAL)}; got {state!r}")


def as_value(value: Any, number: int) -> float:
    """``value`` as a float; ``TrialError`` for what is not a number (a str, None, a list)."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise TrialError(f"trial {number}: the value must be a number, got {type(value).__name__} {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TrialError(f"trial {number}: the value must be a number, got "
                         f"{type(value).__name__} {value!r}") from None


def outcome(number: int, value: Any, state: Any, last_reported: float | None) -> Outcome:
    """The final (state, value, attrs) of trial ``number`` told ``value`` and/or ``state``.

    Rules: a complete trial needs a finite number — NaN/inf turns it into a FAILED trial whose
    ``attrs["fail_reason"]`` says so (its value is never shown to a sampler); a pruned trial
    keeps ``value`` or else its last reported value; a failed trial has no value.
    """
    if state is None and value is None:
        raise TrialError(f"tell(trial {number}) needs a value, or state='failed'/'pruned'")
    final = TrialState.COMPLETE if state is None else parse_state(state, number)
    if final is TrialState.FAILED:
        return final, None, {}
    if final is TrialState.PRUNED:
        kept = last_reported if value is None else as_value(value, number)
        return final, kept if kept is not None and math.isfinite(kept) else None, {}
    if value is None:
        raise TrialError(f"tell(trial {number}, state='complete') needs a value")
    number_value = as_value(value, number)
    if not math.isfinite(number_value):
        return TrialState.FAILED, None, {"fail_reason": f"value {number_value} is not finite"}
    return final, number_value, {}

