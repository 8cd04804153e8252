"""``PopulationExecutor``: a study's trials asked P at a time, trained together, told in one write.

Why an executor: ``Study.optimize`` is the one loop every way of running trials goes through —
the budget of ``n_trials``, ``timeout``, ``study.stop()`` from a callback, the callbacks after
each finished trial, ``catch`` — so population mode is ``study.optimize(objective,
executor=PopulationExecutor(16))`` and ``knobs run`` changes only the executor and objective it
passes. The objective takes a batch, ``objective(trials) -> list[MemberResult]``
(``PopulationObjective`` or the pipeline's wrapper of it), and reports each trial's epochs itself,
so pruners decide per epoch while the batch trains.

Asking P trials before any is told is what a sampler sees with P busy workers: the running
trials are in its history, so the batch holds P different configurations. An abandoned trial's
retry joins a batch like any other and takes no slot of ``n_trials``.

Example:
    >>> study.optimize(PopulationObjective("mlp", train, val, fixed={"width": 64}),
    ...                n_trials=64, executor=PopulationExecutor(population=16))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from knobs.errors import ConfigError, TrialError
from knobs.population._tracking import MemberResult
from knobs.study._budget import Budget
from knobs.study._callbacks import call_back
from knobs.study._optimize import check, failure_attrs, finish, must_raise
from knobs.trial import FrozenTrial, Trial, TrialState

if TYPE_CHECKING:
    from knobs.study import Study

__all__ = ["PopulationExecutor"]

_log = logging.getLogger("knobs.study")


class PopulationExecutor:
    """Run a study's trials in populations of up to ``population`` (in this process).

    Args:
        population: trials asked and trained per batch (P). A batch holds several populations
            when its trials differ in architecture (``PopulationObjective.groups``).
    """

    def __init__(self, population: int = 16) -> None:
        self.population = population

    def __repr__(self) -> str:
        return f"PopulationExecutor(population={self.population!r})"

    def run(self, study: "Study", objective: Any, *, n_trials: int | None, timeout: float | None,
            callbacks: Sequence[Any], catch: Iterable[type[BaseException]], workers: int) -> None:
        """Ask a batch, train it, tell each trial — until the budget, the sampler or ``study.stop()``."""
        n_trials, timeout, catch = check(objective, n_trials, timeout, catch)
        size = self._check(workers)
        study._stop_requested = False
        budget = Budget(n_trials, None if timeout is None else time.time() + timeout)
        while not study._stop_requested and budget.open():
            trials = _ask(study, budget, size)
            if not trials:
                return
            call_back(study, callbacks, _run_batch(study, objective, trials, catch))

    def _check(self, workers: int) -> int:
        size = self.population
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"PopulationExecutor(population=...) (search.population) must be an integer >= 1, "
                              f"got {size!r}")
        if workers != 1:
            raise ConfigError(f"PopulationExecutor trains its populations in this process, so workers must be 1 "
                              f"(search.workers), got {workers}; raise search.population instead")
        return size


def _ask(study: "Study", budget: Budget, size: int) -> list[Trial]:
    """Up to ``size`` trials (fewer when the budget is spent or the sampler has nothing new)."""
    return study._ask_many(size, take_slot=budget.take)


def _run_batch(study: "Study", objective: Any, trials: list[Trial],
               catch: tuple[type[BaseException], ...]) -> list[FrozenTrial]:
    """Train the batch; tell each trial its outcome. An error fails the whole batch (each trial
    records it) and propagates unless ``catch`` covers it."""
    try:
        results = objective(trials)
        if len(results) != len(trials):
            raise ConfigError(f"the population objective returned {len(results)} results for {len(trials)} trials")
    except BaseException as error:
        attrs = failure_attrs(error)
        frozen = [finish(study, t, attrs=attrs) for t in trials]
        if must_raise(error, catch):
            raise
        return frozen
    outcomes = [_outcome(result) for result in results]
    try:
        # NOTE: one storage write for the whole batch; if a trial was closed meanwhile (found
        # stale by another process) nothing was written, and each is told alone as before.
        frozen = study._tell_many([(t.number, *o) for t, o in zip(trials, outcomes)])
    except TrialError:
        frozen = [finish(study, t, value=v, state=s, attrs=a) for t, (v, s, a) in zip(trials, outcomes)]
    for trial, (value, _, _) in zip(frozen, outcomes):
        if value is not None and trial.state is TrialState.FAILED:  # a NaN/inf value, as complete() warns
            _log.warning("trial %d failed: %s", trial.number, trial.attrs.get("fail_reason"))
    return frozen


def _outcome(result: MemberResult) -> tuple[float | None, str | None, dict[str, Any] | None]:
    """(value, state, attrs) to tell for one member; attrs: it failed, for that reason."""
    if result.diverged:
        return None, None, {"fail_reason": result.message or "diverged"}
    if result.pruned:
        return None, "pruned", None
    if result.best_value is None:
        return None, None, {"fail_reason": "no epoch produced a finite value of the metric"}
    return result.best_value, None, None
