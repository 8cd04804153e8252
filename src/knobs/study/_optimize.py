"""The optimize loop: ask → run the objective → tell, over and over; nothing else.

Why separate from ``Study``: how a trial ends (value, ``Pruned``, an exception, a NaN) is the
subtle part, and keeping it in one small function makes each path visible and testable.
"""

from __future__ import annotations

import logging
import numbers
import time
import traceback
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from knobs.errors import ConfigError, KnobsError, TrialError
from knobs.study._budget import Budget
from knobs.study._callbacks import call_back
from knobs.study._tell import as_value
from knobs.trial import FrozenTrial, Pruned, Trial, TrialState

if TYPE_CHECKING:
    from knobs.study._study import Callback, Objective, Study

__all__ = ["optimize", "run_trial", "complete", "fail", "finish", "failure_attrs", "must_raise", "check",
           "check_workers"]

_log = logging.getLogger("knobs.study")
_TRACEBACK_CHARS = 4000


def optimize(study: "Study", objective: "Objective", *, n_trials: int | None, timeout: float | None,
             callbacks: Sequence["Callback"], catch: Iterable[type[BaseException]]) -> None:
    """See ``Study.optimize``."""
    n_trials, timeout, catch = check(objective, n_trials, timeout, catch)
    callbacks = list(callbacks)
    study._stop_requested = False
    budget = Budget(n_trials, None if timeout is None else time.time() + timeout)
    while not study._stop_requested and budget.open():
        trial = study._ask(take_slot=budget.take)
        if trial is None:
            if budget.open() and (n_trials is None or budget.taken < n_trials):
                _log.info("study %r: the sampler has no new config; stopping after %d trials", study.name, budget.taken)
            return
        call_back(study, callbacks, [run_trial(study, objective, trial, catch)])


def run_trial(study: "Study", objective: "Objective", trial: Trial, catch: tuple[type[BaseException], ...]) -> FrozenTrial:
    """Run one trial to a finished record; re-raise what ``catch`` does not cover."""
    try:
        value = as_value(objective(trial.config, trial), trial.number)
    except Pruned:
        return finish(study, trial, state="pruned")
    except BaseException as error:
        return fail(study, trial, error, catch)
    return complete(study, trial, value)


def complete(study: "Study", trial: Trial, value: float) -> FrozenTrial:
    """Tell a value (a NaN/inf one records the trial FAILED, with a warning)."""
    frozen = finish(study, trial, value=value)
    if frozen.state is TrialState.FAILED:
        _log.warning("trial %d failed: %s", trial.number, frozen.attrs.get("fail_reason"))
    return frozen


def fail(study: "Study", trial: Trial, error: BaseException, catch: tuple[type[BaseException], ...],
         attrs: dict[str, Any] | None = None) -> FrozenTrial:
    """Record ``error`` (``attrs``: its reason and traceback when it happened elsewhere), then
    re-raise it unless ``catch`` covers it."""
    frozen = finish(study, trial, state="failed", attrs=attrs or failure_attrs(error))
    if must_raise(error, catch):
        raise error
    _log.warning("trial %d failed: %s: %s", trial.number, type(error).__name__, error)
    return frozen


def must_raise(error: BaseException, catch: tuple[type[BaseException], ...]) -> bool:
    """``KnobsError`` propagates unless ``catch`` names it (or a subclass); others unless caught."""
    if isinstance(error, KnobsError) and not any(issubclass(c, KnobsError) for c in catch):
        return True
    return not isinstance(error, catch)


def finish(study: "Study", trial: Trial, *, value: Any = None, state: str | None = None,
           attrs: dict[str, Any] | None = None) -> FrozenTrial:
    """Tell the study; a trial another worker already closed (found stale) is left as stored."""
    try:
        if attrs:
            frozen = study._storage.finish_trial(study._id, trial.number, TrialState.FAILED, None, attrs)
            study._release(trial.number)
            return frozen
        return study.tell(trial, value, state=state)
    except TrialError as error:
        _log.warning("trial %d could not be told (%s); keeping the stored record", trial.number, error)
        study._release(trial.number)
        return study._storage.get_trial(study._id, trial.number)


def failure_attrs(error: BaseException) -> dict[str, str]:
    """``fail_reason`` (type and message) and ``traceback`` of an error, trimmed for storage."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"fail_reason": f"{type(error).__name__}: {error}"[:_TRACEBACK_CHARS],
            "traceback": text[-_TRACEBACK_CHARS:]}


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ConfigError(f"optimize(workers=...) must be an integer >= 1, got {workers!r}")
    return int(workers)


def check(objective: Any, n_trials: Any, timeout: Any, catch: Any) -> tuple:
    """``(n_trials, timeout, catch)`` validated; ``ConfigError`` naming the bad argument."""
    if not callable(objective):
        raise ConfigError(f"optimize(objective=...) must be callable as objective(config, trial), got {objective!r}")
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral) or n_trials < 0):
        raise ConfigError(f"optimize(n_trials=...) must be None or an integer >= 0, got {n_trials!r}")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0):
        raise ConfigError(f"optimize(timeout=...) must be None or seconds > 0, got {timeout!r}")
    catch = (catch,) if isinstance(catch, type) else tuple(catch)
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch):
        raise ConfigError(f"optimize(catch=...) must be exception classes, got {catch!r}")
    return n_trials, timeout, catch
