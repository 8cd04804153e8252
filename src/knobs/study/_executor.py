"""The executor seam: how claimed trials run, and the one loop that drives every way of running them.

Why one loop: the budget (``n_trials``, ``timeout``), ``study.stop()``, the callbacks, ``catch``
and the retry of abandoned trials mean the same whatever runs the trials — this process, local
worker processes, a population trained at once, Ray tasks. ``run_loop`` holds those rules once;
an ``Executor`` only says how a batch of claimed trials gets run. It talks to the study through
its public seam (``study.claim``, ``study.finish_many``, ``study.stop_requested``), so an
executor written outside knobs needs nothing private.

The call order (``run_loop``)::

    executor.start(study, objective, workers)        # once; may refuse the settings (ConfigError)
    while claiming is open or trials are in flight:
        free = executor.slots() - in_flight
        if free > 0 and claiming is open:            # not stopped, budget and time left, sampler not used up
            executor.submit(study.claim(free))
        study.finish_many(executor.collect())        # tell + callbacks; re-raises per ``catch``
    executor.cancel(in_flight)                       # only when an error ends the loop early
    executor.close()                                 # once, always

Claiming reopens after an abandoned trial (its config is owed a retry, which takes no slot).

Example (a third-party executor: trials of a batch in threads)::

    class Threads(knobs.study.Executor):
        def slots(self):
            return self.workers
        def run_batch(self, trials):
            with ThreadPoolExecutor(len(trials)) as pool:
                return list(pool.map(lambda t: knobs.study.run_objective(self.objective, t), trials))

    study.optimize(objective, n_trials=20, workers=4, executor=Threads())
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from knobs.errors import ConfigError
from knobs.study._budget import Budget
from knobs.study._optimize import as_objective, check, failure_attrs
from knobs.study._requeue import ABANDONED
from knobs.trial import Pruned, Trial

if TYPE_CHECKING:
    from knobs.study._study import Callback, Study

__all__ = ["Executor", "TrialResult", "run_objective", "run_loop", "COMPLETE", "PRUNED", "FAILED"]

_log = logging.getLogger("knobs.study")

COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"


@dataclass
class TrialResult:
    """How one claimed trial ended, as an executor hands it to ``study.finish_many``.

    Build one with ``TrialResult.complete(trial, value)``, ``.pruned(trial)``,
    ``.failed(trial, error)`` or ``.abandoned(trial, why)`` (or ``run_objective``).

    Attributes:
        trial: the claimed trial.
        state: ``"complete"``, ``"pruned"`` or ``"failed"``.
        value: the objective's value (complete; a NaN/inf one records the trial FAILED), or the
            value a pruned trial keeps (None: its last reported value).
        error: what a failed trial raised; ``finish_many`` re-raises it unless ``catch`` covers it.
            None: a failure nothing raised (a diverged member, a dead worker).
        attrs: the attributes a failed trial records: ``fail_reason`` and ``traceback``.
    """

    trial: Trial
    state: str
    value: Any = None
    error: BaseException | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def complete(cls, trial: Trial, value: Any) -> "TrialResult":
        return cls(trial, COMPLETE, value)

    @classmethod
    def pruned(cls, trial: Trial, value: float | None = None) -> "TrialResult":
        return cls(trial, PRUNED, value)

    @classmethod
    def failed(cls, trial: Trial, error: BaseException | None = None, *, reason: str | None = None,
               attrs: dict[str, Any] | None = None) -> "TrialResult":
        """A failure: ``error`` (its reason and traceback recorded, unless ``attrs`` — e.g. those
        made where it was raised, in another process — are given), or just a ``reason``."""
        if attrs is None:
            attrs = failure_attrs(error) if error is not None else {"fail_reason": reason or "failed"}
        return cls(trial, FAILED, None, error, dict(attrs))

    @classmethod
    def abandoned(cls, trial: Trial, why: str) -> "TrialResult":
        """The trial's worker died or was cancelled: FAILED as abandoned, its config retried once
        (``attrs["retry_of"]``) before new ones — it says nothing about the config."""
        return cls(trial, FAILED, None, None, {"fail_reason": f"{ABANDONED}: {why}"})

    @property
    def is_abandoned(self) -> bool:
        return self.state == FAILED and str(self.attrs.get("fail_reason", "")).startswith(ABANDONED)


def run_objective(objective: Any, trial: Trial) -> TrialResult:
    """Run ``objective(trial.config, trial)`` here: complete with its value, pruned on
    ``knobs.Pruned``, failed with whatever else it raised (``finish_many`` decides what propagates)."""
    try:
        value = objective(trial.config, trial)
    except Pruned:
        return TrialResult.pruned(trial)
    except BaseException as error:  # noqa: BLE001 — recorded, then re-raised per ``catch``
        return TrialResult.failed(trial, error)
    return TrialResult.complete(trial, value)


class Executor:
    """How ``study.optimize`` runs claimed trials; this base runs them here, one at a time.

    Subclass and override what differs; every hook has a working default (see the module's call
    order). A synchronous executor overrides ``slots`` and ``run_batch``; an asynchronous one
    (trials running elsewhere) overrides ``submit`` and ``collect``, and ``cancel``/``close`` to
    release what it started.

    Attributes set by ``start``: ``study``, ``objective``, ``workers`` (``optimize(workers=...)``).
    """

    study: "Study"
    objective: Any
    workers: int
    #: the objective is called once per trial as ``objective(config, trial)`` (an executor that calls it
    #: otherwise, as a population's ``objective(trials)``, says False): one taking the config alone is adapted
    per_trial_objective: bool = True

    def start(self, study: "Study", objective: Any, workers: int) -> None:
        """Once, before any claim: keep what ``run_batch`` needs; check settings (``ConfigError``).
        An override calls ``super().start(study, objective, workers)``."""
        self.study, self.objective, self.workers = study, objective, workers
        self._pending: list[Trial] = []

    def slots(self) -> int:
        """How many trials may be in flight at once (claimed and not yet collected)."""
        return 1

    def submit(self, trials: list[Trial]) -> None:
        """Take newly claimed trials (at most the free slots). The default keeps them for ``collect``."""
        self._pending.extend(trials)

    def collect(self) -> list[TrialResult]:
        """Results of submitted trials that have ended (may block; an empty list polls again).
        The default runs what was submitted, now, through ``run_batch``."""
        batch, self._pending = self._pending, []
        return list(self.run_batch(batch)) if batch else []

    def run_batch(self, trials: list[Trial]) -> Sequence[TrialResult]:
        """One result per trial; the default runs ``run_objective`` on each in turn, here."""
        return [run_objective(self.objective, trial) for trial in trials]

    def cancel(self, trials: list[Trial]) -> None:
        """An error ends the loop while ``trials`` run: stop them. The loop then records those
        still running as abandoned (retried once by a later ``optimize``)."""

    def close(self) -> None:
        """Once, at the end (after an error too): release processes, clusters, files."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def run_loop(study: "Study", objective: Any, executor: Executor | None = None, *, n_trials: int | None = None,
             timeout: float | None = None, callbacks: Sequence["Callback"] = (),
             catch: Iterable[type[BaseException]] = (Exception,), workers: int = 1) -> None:
    """Claim → run (``executor``) → finish until ``n_trials`` new trials ran, ``timeout`` passed,
    the sampler is used up or ``study.stop()``; see ``Study.optimize`` for the arguments."""
    executor = Executor() if executor is None else executor
    if not isinstance(executor, Executor):
        raise ConfigError(f"optimize(executor=...) must be None or a knobs.study.Executor (such as "
                          f"knobs.executors.RayExecutor or knobs.population.PopulationExecutor); got {executor!r}")
    n_trials, timeout, catch = check(objective, n_trials, timeout, catch)
    if executor.per_trial_objective:
        objective = as_objective(objective)
    budget = Budget(n_trials, None if timeout is None else time.time() + timeout)
    with study._optimizing(budget, list(callbacks), catch):
        running: dict[int, Trial] = {}
        try:
            executor.start(study, objective, workers)
            _drive(study, executor, budget, running)
        except BaseException:
            try:
                _abandon(study, executor, running)
            except Exception as error:  # noqa: BLE001 — the error that ended the loop is the one to see
                _log.warning("study %r: the trials in flight could not be recorded abandoned: %s", study.name, error)
            raise
        finally:
            executor.close()


def _drive(study: "Study", executor: Executor, budget: Budget, running: dict[int, Trial]) -> None:
    more = True
    while True:
        slots = executor.slots()
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
            raise ConfigError(f"{executor!r}.slots() must be an integer >= 1 (trials in flight at once), got {slots!r}")
        free = slots - len(running)
        if more and free > 0 and not study.stop_requested and budget.open():
            claimed = study.claim(free)
            if claimed:
                running.update((trial.number, trial) for trial in claimed)
                executor.submit(claimed)
            else:
                more = False
                if budget.open() and not study.stop_requested and (budget.n_trials is None
                                                                   or budget.taken < budget.n_trials):
                    _log.info("study %r: the sampler has no new config; stopping after %d trials",
                              study.name, budget.taken)
        if not running:
            return
        results = executor.collect()
        for result in results:
            if not isinstance(result, TrialResult) or running.pop(result.trial.number, None) is None:
                raise ConfigError(f"{executor!r}.collect() must return a knobs.study.TrialResult for each trial "
                                  f"it was given, once; got {result!r}")
        study.finish_many(results)
        more = more or any(result.is_abandoned for result in results)  # their retries are owed


def _abandon(study: "Study", executor: Executor, running: dict[int, Trial]) -> None:
    """After an error: stop the trials in flight and record those still running as abandoned."""
    if not running:
        return
    trials = list(running.values())
    running.clear()
    try:
        executor.cancel(trials)
    finally:
        study._tell_quietly([TrialResult.abandoned(t, "cancelled when the optimize loop stopped") for t in trials])
