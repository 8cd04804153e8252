"""The arguments of ``optimize`` and the rules of a failed trial: what propagates, what is kept.

Why apart from the loop (``_executor.run_loop``): the same checks and the same failure record
serve every executor, including a trial run in another process (``_remote.py``), which records
its own traceback where it was raised.
"""

from __future__ import annotations

import numbers
import traceback
from typing import Any

from knobs.errors import ConfigError, KnobsError

__all__ = ["failure_attrs", "must_raise", "check", "check_workers"]

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
