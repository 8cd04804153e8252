"""The arguments of ``optimize`` and the rules of a failed trial: what propagates, what is kept.

Why apart from the loop (``_executor.run_loop``): the same checks and the same failure record
serve every executor, including a trial run in another process (``_remote.py``), which records
its own traceback where it was raised.
"""

from __future__ import annotations

import inspect
import numbers
import traceback
from typing import Any, Callable

from knobs.errors import ConfigError, KnobsError
from knobs.trial import suggest_hint

__all__ = ["ConfigOnly", "as_objective", "failure_attrs", "must_raise", "check", "check_workers"]

_TRACEBACK_CHARS = 4000


def must_raise(error: BaseException, catch: tuple[type[BaseException], ...]) -> bool:
    """``KnobsError`` propagates unless ``catch`` names it (or a subclass); others unless caught."""
    if isinstance(error, KnobsError) and not any(issubclass(c, KnobsError) for c in catch):
        return True
    return not isinstance(error, catch)


def failure_attrs(error: BaseException) -> dict[str, str]:
    """``fail_reason`` (type and message) and ``traceback`` of an error, trimmed for storage."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"fail_reason": f"{type(error).__name__}: {error}"[:_TRACEBACK_CHARS],
            "traceback": text[-_TRACEBACK_CHARS:]}


def check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ConfigError(f"optimize(workers=...) must be an integer >= 1, got {workers!r}")
    return int(workers)


class ConfigOnly:
    """An objective that takes the config alone (``objective(config)``, as Ray Tune's take it), called
    as ``objective(config, trial)``; a class, not a closure, so it pickles with the function it holds."""

    def __init__(self, objective: Callable[[dict], Any]) -> None:
        self.objective = objective

    def __call__(self, config: dict, trial: Any) -> Any:
        return self.objective(TrialConfig(config))


class TrialConfig(dict):
    """The config an ``objective(config)`` receives: a plain dict of the trial's values.

    NOTE: an objective written for Optuna, ``objective(trial)`` calling ``trial.suggest_float``, binds as
    ``objective(config)``; it got "'dict' object has no attribute 'suggest_float'" on every trial. It is told
    how knobs declares the space instead."""

    def __getattr__(self, name: str) -> Any:
        raise suggest_hint("dict", name)


def as_objective(objective: Any) -> Callable:
    """``objective`` as ``objective(config, trial)``: one that binds only ``(config)`` is wrapped in
    ``ConfigOnly``; one that binds neither is one ``ConfigError`` here, not a failure on every trial.
    A callable whose signature cannot be read (a builtin) is taken as it is."""
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):
        return objective
    for args, use in (((None, None), objective), ((None,), ConfigOnly(objective))):
        try:
            signature.bind(*args)
        except TypeError:
            continue
        return use
    name = getattr(objective, "__qualname__", type(objective).__name__)
    raise ConfigError(f"optimize(objective=...): {name}{signature} cannot be called as objective(config, trial) "
                      f"or objective(config); define it as def objective(config, trial): ... returning the value")


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
