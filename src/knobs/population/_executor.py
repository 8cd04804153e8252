"""``PopulationExecutor``: a study's trials claimed P at a time, trained together, told in one write.

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

from typing import TYPE_CHECKING, Any, Sequence

from knobs.errors import ConfigError
from knobs.population._tracking import MemberResult
from knobs.study import Executor, TrialResult
from knobs.trial import Trial

if TYPE_CHECKING:
    from knobs.study import Study

__all__ = ["PopulationExecutor"]


class PopulationExecutor(Executor):
    """Run a study's trials in populations of up to ``population`` (in this process).

    Args:
        population: trials claimed and trained per batch (P). A batch holds several populations
            when its trials differ in architecture (``PopulationObjective.groups``).
    """

    per_trial_objective = False  # a population's objective(trials)

    def __init__(self, population: int = 16) -> None:
        self.population = population

    def __repr__(self) -> str:
        return f"PopulationExecutor(population={self.population!r})"

    def start(self, study: "Study", objective: Any, workers: int) -> None:
        size = self.population
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"PopulationExecutor(population=...) (search.population) must be an integer >= 1, "
                              f"got {size!r}")
        if workers != 1:
            raise ConfigError(f"PopulationExecutor trains its populations in this process, so workers must be 1 "
                              f"(search.workers), got {workers}; raise search.population instead")
        super().start(study, objective, workers)

    def slots(self) -> int:
        return self.population

    def run_batch(self, trials: list[Trial]) -> Sequence[TrialResult]:
        """Train the batch; each trial's result. An error fails the whole batch (each trial
        records it; ``finish_many`` re-raises it unless ``catch`` covers it)."""
        try:
            results = self.objective(trials)
            if len(results) != len(trials):
                raise ConfigError(f"the population objective returned {len(results)} results for {len(trials)} trials")
        except BaseException as error:  # noqa: BLE001 — recorded on every trial, then re-raised per catch
            failed = TrialResult.failed(trials[0], error)
            return [TrialResult.failed(t, error, attrs=failed.attrs) for t in trials]
        return [_result(trial, result) for trial, result in zip(trials, results)]


def _result(trial: Trial, result: MemberResult) -> TrialResult:
    """How one member ended: diverged or without a finite value (failed), pruned, or its best value."""
    if result.diverged:
        return TrialResult.failed(trial, reason=result.message or "diverged")
    if result.pruned:
        return TrialResult.pruned(trial)
    if result.best_value is None:
        return TrialResult.failed(trial, reason="no epoch produced a finite value of the metric")
    return TrialResult.complete(trial, result.best_value)
