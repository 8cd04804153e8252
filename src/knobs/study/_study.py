"""``Study``: the shell that wires a space, a sampler, a pruner and a storage into ask / tell.

Why a thin shell: the rules live elsewhere — what ``tell`` records in ``_tell.py``, how a batch of
results is told in ``_finish.py``, the one optimize loop and the executor seam in ``_executor.py``,
liveness in ``_heartbeat.py``, opening/resuming in ``_resume.py``, rows in ``knobs.storage``.
This class only connects them, so it stays small.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from knobs.errors import ConfigError, KnobsError, TrialError
from knobs.space import Space
from knobs.storage import NumberTaken, Storage, get_storage, jsonable
from knobs.study import _finish, _heartbeat, _optimize, _requeue, _resume, _tell, _warm
from knobs.study._budget import Budget
from knobs.study._callbacks import call_back
from knobs.study._executor import TrialResult, run_loop
from knobs.study._reports import prune_in_order
from knobs.study._heartbeat import Heartbeat, find_stale
from knobs.trial import FrozenTrial, Trial, TrialState

__all__ = ["Study"]

_log = logging.getLogger("knobs.study")

Objective = Callable[[dict, Trial], float]
Callback = Callable[["Study", FrozenTrial], None]


#: Optuna's names for what a knobs study has under another name (``Study.__getattr__`` says which).
_OTHER_TOOLS = {
    "best_params": "study.best.config", "best_value": "study.best.value", "best_trial": "study.best",
    "best_trials": "study.top_trials(k)", "get_trials": "study.trials", "trials_dataframe":
        "study.trials (each FrozenTrial has .number, .config, .value, .state, .intermediate) or `knobs studies show`",
    "enqueue_trial": "study.ask_fixed(config), evaluate it, then study.tell(trial, value) (the sampler leaves it out "
                     "of its history); or warm_start=an earlier study, whose trials the sampler learns from",
    "user_attrs": "study.attrs", "set_user_attr": "study.set_attr(key, value)",
}


@dataclass(frozen=True)
class _Loop:
    """What the running ``optimize`` call set: its budget, callbacks and ``catch``."""

    budget: Budget
    callbacks: list[Callback]
    catch: tuple[type[BaseException], ...]


class Study:
    """A hyperparameter search: trials asked from a sampler, told their values, kept in storage.

    Args:
        space: the ``knobs.Space`` to search.
        sampler: proposes configs (``knobs.search.*``); None: ``knobs.search.Random(seed=None)``.
        pruner: stops bad trials at ``trial.report`` (``knobs.prune.*``); None: never.
        direction: ``"minimize"`` or ``"maximize"`` the values.
        storage: None (in memory), a URL such as ``"sqlite:///runs/x/study.db"`` (durable, shared
            by worker processes, resumable), or a ``knobs.storage.Storage``.
        name: the study's name in its storage; None: ``"default"``.
        load_if_exists: continue a stored study of this name (same space and direction, else
            ``ConfigError``); False: a stored one is an error. Opening a stored study marks its
            abandoned trials (their worker died) FAILED and restores the sampler's state.
        warm_start: an earlier study whose finished trials the sampler also sees (a run directory,
            its study.db, a URL, or ``knobs.study.WarmStart(source, rename={old: new})``). They are
            read at each opening and never stored: not this study's trials, never its best, never
            doubled by a resume. Bayes is the sampler that learns from them (see ``study/_warm.py``
            for which spaces overlap: renamed and narrowed axes do; trials outside are dropped).

    ``close()`` (or ``with knobs.Study(...) as study:``) releases the storage it opened and leaves a
    SQLite file whole; a process that ends normally does that anyway.

    The executor seam — how ``optimize`` runs trials, public so an executor can be written
    outside knobs (see ``knobs.study.Executor`` for the loop's call order):

    - ``claim(n) -> list[Trial]``: up to ``n`` new running trials within the running
      ``optimize``'s budget and timeout (``[]``: stop, budget spent, or sampler used up);
    - ``finish_many(results)`` / ``finish(result)``: tell ``knobs.study.TrialResult``s in one
      write, run the callbacks, re-raise what ``catch`` does not cover;
    - ``stop_requested``: ``stop()`` was called in the running ``optimize``.

    Example:
        >>> import knobs
        >>> space = knobs.Space({"x": knobs.Float(-5.0, 5.0)})
        >>> study = knobs.Study(space, sampler=knobs.search.Random(seed=0))
        >>> study.optimize(lambda config, trial: (config["x"] - 1.0) ** 2, n_trials=20)
        >>> study.best.value < 1.0
        True
    """

    #: seconds between heartbeats of a running trial (a background thread writes them).
    heartbeat_interval_s: float = 10.0
    #: a RUNNING trial silent this long is abandoned (a dead worker on this host is found at once).
    stale_after_s: float = 60.0
    #: run an abandoned trial's config once more (attrs ``retry_of``) before sampling new ones.
    retry_abandoned: bool = True

    def __init__(self, space: Space, sampler: Any = None, pruner: Any = None, direction: str = "minimize",
                 storage: str | Storage | None = None, name: str | None = None, load_if_exists: bool = True,
                 warm_start: Any = None) -> None:
        self.space = _check_space(space)
        self.direction = _check_direction(direction)
        self.pruner = _check_pruner(pruner)
        self.sampler = _resume.default_sampler() if sampler is None else _check_sampler(sampler)
        self.name = _check_name(name)
        self._warm = _warm.load_warm_start(_check_warm_sampler(warm_start, self.sampler), self.space, self.direction)
        self._storage = get_storage(storage)
        self._owns_storage = self._storage is not storage  # opened from a URL (or None): ours to close
        try:
            record = _resume.open_record(self._storage, self.name, space=self.space, direction=self.direction,
                                         load_if_exists=load_if_exists)
        except KnobsError:
            if self._storage is not storage:
                self._storage.close()  # we opened it; nobody else will
            raise
        if self._warm is not None and _warm.same_study(self._warm, self._storage, self.name):
            if self._owns_storage:
                self._storage.close()
            raise ConfigError(f"warm_start names study {self.name!r} in {self._storage.url}, this study itself; "
                              "name an earlier study (another run directory)")
        if self._warm is not None:
            _log.info("warm start: %d of the %d finished trials of study %r in %s fed to the sampler (%d outside "
                      "this space dropped)", len(self._warm.trials), self._warm.finished, self._warm.name,
                      self._warm.url, self._warm.dropped)
        self._id = record.id
        self._heartbeat = Heartbeat(self._storage, self._id, self.heartbeat_interval_s)
        self._live: dict[int, Trial] = {}
        self._stop_requested = False
        self._loop: _Loop | None = None
        self.fail_stale_trials()
        # NOTE: every process of a study continues the one stored sampler sequence — a resume
        # and a worker joining a busy study alike. Two workers cannot propose the same config
        # from it: a config is stored only if its sampler saw every trial so far (see _ask).
        _resume.load_sampler_state(self.sampler, record.sampler)
        self._stored_sampler = record.sampler
        pruner_state = jsonable(_resume.pruner_json(self.pruner), "the pruner's parameters")
        if record.pruner != pruner_state:
            self._storage.set_study_fields(self._id, pruner=pruner_state)

    @classmethod
    def load(cls, storage: str | Storage, name: str | None = None, *, sampler: Any = None,
             pruner: Any = None, warm_start: Any = None) -> "Study":
        """Reopen a stored study: its space, direction, sampler (with its state) and pruner.

        Args:
            storage: the URL (or Storage) it lives in; a missing SQLite file is an error.
            name: the study; None picks the only study there.
            sampler, pruner: replace the stored ones (a sampler of the stored class still
                continues from the stored state).
            warm_start: as in ``Study`` (it is not stored: a worker joining names it again).

        Raises:
            KnobsError: bad URL, missing file, or no such study (the message lists those there).
        """
        store = get_storage(storage, create=False)
        try:
            record = _resume.find_record(store, name)
            space = Space.from_json(record.space)
            study = cls(space, sampler=sampler if sampler is not None else _resume.rebuild_sampler(record.sampler),
                        pruner=pruner if pruner is not None else _resume.rebuild_pruner(record.pruner),
                        direction=record.direction, storage=store, name=record.name, load_if_exists=True,
                        warm_start=warm_start)
        except BaseException:
            if store is not storage:
                store.close()
            raise
        study._owns_storage = store is not storage
        return study

    # ---- ask / tell --------------------------------------------------------------------------
    def ask(self) -> Trial:
        """A new RUNNING trial with a config from the sampler.

        Raises:
            TrialError: the sampler has nothing left to propose (e.g. a finished grid).
        """
        trial = self._ask()
        if trial is None:
            raise TrialError(f"the sampler {self.sampler!r} proposed no new config: the search space is used up")
        return trial

    def ask_fixed(self, config: dict[str, Any], attrs: dict[str, Any] | None = None, prune: bool = True) -> Trial:
        """A new RUNNING trial with ``config`` as given, not from the sampler.

        For configurations a person or a tool chose (``knobs run --autopilot`` trains its
        changes this way). The config is stored as it is, without ``space.validate``: it may
        hold values outside the searched ranges or keys the space fixes; samplers leave such
        configs out of their history. The trial is marked ``attrs["fixed"] = True``: it takes no
        slot of ``optimize``'s budget and an abandoned one is not retried by ``optimize`` (its
        caller knows whether to run it again).

        Args:
            config: the trial's configuration (JSON-able).
            attrs: first attributes of the trial.
            prune: False: ``trial.report`` stores values but never asks the pruner.
        """
        first = {**jsonable(dict(attrs or {}), "the attrs of a fixed trial"), _requeue.FIXED: True}
        frozen = self._storage.create_trial(self._id, jsonable(dict(config), "a fixed config"),
                                            host=_heartbeat.HOST, pid=os.getpid(), attrs=first)
        return self._live_trial(frozen, prune=prune)

    def tell(self, trial: Trial | int, value: Any = None, state: str | TrialState | None = None) -> FrozenTrial:
        """Finish a running trial: ``tell(trial, value)`` or ``tell(trial, state="failed"|"pruned")``.

        A NaN/inf value records the trial FAILED (``attrs["fail_reason"]`` says why); a pruned
        trial keeps ``value`` or else its last reported value. Returns the finished record.

        Raises:
            TrialError: the trial is unknown or already finished, or the value is not a number.
        """
        number = _number_of(trial)
        last = self._last_reported(number) if value is None and state is not None else None
        final, kept, attrs = _tell.outcome(number, value, state, last)
        frozen = self._storage.finish_trial(self._id, number, final, kept, attrs)
        self._release(number)
        return frozen

    def optimize(self, objective: Objective, n_trials: int | None = None, timeout: float | None = None,
                 callbacks: Sequence[Callback] = (), catch: Iterable[type[BaseException]] = (Exception,),
                 workers: int = 1, executor: Any = None) -> None:
        """Run claim → ``objective(config, trial)`` → finish until ``n_trials`` (counted in this call)
        have run, ``timeout`` seconds have passed, the sampler is used up, or ``stop()`` is called.

        Every way of running trials goes through one loop (``knobs.study.run_loop``); the
        ``executor`` only says how claimed trials run.

        Args:
            objective: ``objective(config, trial)`` (or ``objective(config)``) returns the value to
                minimize/maximize; may call ``trial.report``. With
                ``workers > 1`` it must be picklable (a module-level function, or an instance
                of a module-level class): each worker process receives a copy.
            n_trials: new configurations to run in this call, counted across all workers; None:
                no limit. The config of a trial whose worker died is retried once on top
                (``retry_abandoned``; the retry's ``attrs["retry_of"]`` names the lost trial).
            timeout: no new trial starts after this many seconds; None: no limit.
            callbacks: ``cb(study, frozen_trial)`` after each finished trial (in this process,
                also for trials that worker processes finished). One wrapped in
                ``knobs.study.once_per_batch`` reads the study, not the trial, so it runs once per
                batch of trials told together (a population, or the trials workers or Ray tasks
                finished since the last look) — after the batch's per-trial callbacks, with its
                last trial.
            catch: exceptions that fail a trial but not the study. The default catches every
                ``Exception`` — one diverging config (``knobs.train.Diverged``, a
                ``RuntimeError``) should not end a long search — except
                ``KnobsError`` (a bad setup fails every trial alike), which always propagates
                unless ``catch`` names it. Each caught failure is logged on ``knobs.study``
                and kept in ``attrs["fail_reason"]``.
            workers: trials run at once. ``workers > 1`` starts that many local processes
                (spawned, one torch/BLAS thread each) that run the trials this process claims
                and report to the shared storage, so the study must live in a database
                (``storage="sqlite:///…"`` or a ``postgresql://`` URL): an in-memory study raises
                ``ConfigError``. Busy workers never get the same config: each is drawn knowing
                every trial so far, running ones included.
            executor: None (this process, or local processes when ``workers > 1``) or a
                ``knobs.study.Executor``: ``knobs.executors.RayExecutor`` (trials as Ray tasks),
                ``knobs.population.PopulationExecutor`` (populations trained at once), or your own.

        Example:
            >>> study = knobs.Study(space, storage="sqlite:///study.db")       # doctest: +SKIP
            >>> study.optimize(objective, n_trials=40, workers=4)            # doctest: +SKIP
        """
        workers = _optimize.check_workers(workers)
        if executor is None and workers > 1:
            from knobs.study._workers import ProcessExecutor

            executor = ProcessExecutor()
        run_loop(self, objective, executor, n_trials=n_trials, timeout=timeout, callbacks=callbacks, catch=catch,
                 workers=workers)

    # ---- the executor seam -------------------------------------------------------------------
    def claim(self, n: int = 1) -> list[Trial]:
        """Up to ``n`` new RUNNING trials, for an executor to run; ``[]`` when there is nothing to run.

        Inside ``optimize`` the claims count against its ``n_trials`` and stop at its ``timeout``
        and at ``stop()``; outside, only the sampler limits them. An abandoned trial's config
        comes first, once (``attrs["retry_of"]``), taking no slot. Claims follow the rule of
        ``ask``: each config is drawn knowing every trial before it — running ones and the
        batch's earlier claims included — so a seeded study proposes the same sequence however
        its trials are run, and a batch claimed here equals ``n`` calls of ``ask``.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"study.claim(n) takes an integer n >= 0, got {n!r}")
        loop = self._loop
        if n == 0 or (loop is not None and (self._stop_requested or not loop.budget.open())):
            return []
        return self._ask_many(n, take_slot=None if loop is None else loop.budget.take)

    def finish(self, result: TrialResult) -> FrozenTrial:
        """``finish_many([result])``: tell one claimed trial how it ended."""
        return self.finish_many([result])[0]

    def finish_many(self, results: Iterable[TrialResult]) -> list[FrozenTrial]:
        """Tell claimed trials how they ended (``knobs.study.TrialResult``), in one storage write.

        A value that is NaN/inf or not a number records the trial FAILED; a pruned trial without a
        value keeps its last report; a failure records ``fail_reason`` and ``traceback``; an
        abandoned trial's config is retried once by a later claim. Then, inside ``optimize``, its
        callbacks run for the batch (per-trial ones for each trial, ``once_per_batch`` ones once),
        unless a failure's error must propagate: a ``KnobsError`` unless ``catch`` names it, else
        whatever ``catch`` does not cover. Then the whole batch is recorded, no callback runs and
        the first such error is raised. Outside ``optimize``: no callbacks, ``catch=(Exception,)``.

        Returns:
            The finished records, in the order of ``results`` (a trial another worker closed
            meanwhile keeps its stored record).
        """
        loop = self._loop
        callbacks, catch = (loop.callbacks, loop.catch) if loop is not None else ((), (Exception,))
        frozen, results = _finish.tell_results(self, list(results))
        raising = None
        for result in results:
            if result.error is None:
                continue
            if _optimize.must_raise(result.error, catch):
                raising = raising or result.error
            else:
                _log.warning("trial %d failed: %s: %s", result.trial.number, type(result.error).__name__,
                             result.error)
        if raising is not None:
            raise raising
        call_back(self, callbacks, frozen)
        return frozen

    @property
    def stop_requested(self) -> bool:
        """True once ``stop()`` was called in the running ``optimize`` (claims then return ``[]``)."""
        return self._stop_requested

    def stop(self) -> None:
        """Ask ``optimize`` to start no further trial (e.g. from a callback)."""
        self._stop_requested = True

    # ---- records -----------------------------------------------------------------------------
    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def trials(self) -> list[FrozenTrial]:
        """Every trial by number (copies: editing them changes nothing stored)."""
        return [trial.copy() for trial in self._storage.get_trials(self._id)]

    @property
    def warm_trials(self) -> list[FrozenTrial]:
        """The earlier study's trials the sampler sees besides this study's (``warm_start``):
        numbered -1, -2, …, ``attrs["warm_start"]`` naming the source; [] without a warm start."""
        return [t.copy() for t in self._warm.trials] if self._warm is not None else []

    @property
    def warm_start(self) -> dict[str, Any] | None:
        """What the warm start fed (source URL, study, trials fed, finished there, dropped as
        outside this space, renamed axes); None without one."""
        return self._warm.record() if self._warm is not None else None

    @property
    def best(self) -> FrozenTrial:
        """The complete trial with the best value (the earliest among equals).

        Raises:
            TrialError: no trial has completed yet.
        """
        complete = [t for t in self._storage.get_trials(self._id, [TrialState.COMPLETE]) if t.value is not None]
        if not complete:
            states = [t.state.value for t in self._storage.get_trials(self._id)]
            counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "no trials"
            raise TrialError(f"study {self.name!r} has no complete trial yet ({counts})")
        sign = 1.0 if self.direction == "minimize" else -1.0
        return min(complete, key=lambda t: (sign * t.value, t.number)).copy()

    def top_trials(self, k: int) -> list[FrozenTrial]:
        """The ``k`` best complete trials, best first (the earlier among equals); fewer when fewer
        completed. With ``knobs.train.SaveTrialModel`` each carries ``attrs["checkpoint"]``, and
        ``knobs.train.load_trial_models(study.top_trials(k), build)`` gives their models back
        (the members of an ensemble of the top trials).

        Raises:
            ConfigError: ``k`` is not an integer >= 1.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"study.top_trials(k) takes an integer k >= 1, got {k!r}")
        complete = [t for t in self._storage.get_trials(self._id, [TrialState.COMPLETE]) if t.value is not None]
        sign = 1.0 if self.direction == "minimize" else -1.0
        return [t.copy() for t in sorted(complete, key=lambda t: (sign * t.value, t.number))[:k]]

    @property
    def attrs(self) -> dict[str, Any]:
        """The study's own JSON attributes."""
        record = self._storage.get_study(self.name)
        return dict(record.attrs) if record is not None else {}

    def set_attr(self, key: str, value: Any) -> None:
        """Set one study attribute (JSON-able)."""
        attrs = {**self.attrs, str(key): jsonable(value, f"study attribute {key!r}")}
        self._storage.set_study_fields(self._id, attrs=attrs)

    def fail_stale_trials(self) -> list[int]:
        """Mark FAILED the running trials whose worker is gone; returns their numbers.

        ``attrs["fail_reason"]`` reads "abandoned: process died" (its pid is gone from this
        host) or "abandoned: no heartbeat for N s" (silent longer than ``stale_after_s``).
        """
        stale = find_stale(self._storage.running_trials(self._id), grace_s=self.stale_after_s, host=_heartbeat.HOST)
        failed = []
        for number, reason in stale.items():
            try:
                self._storage.finish_trial(self._id, number, TrialState.FAILED, None, {"fail_reason": reason})
            except TrialError:
                continue  # its owner or another worker finished it meanwhile
            failed.append(number)
        return failed

    def close(self) -> None:
        """Stop heartbeats and close the storage this study opened from a URL — a SQLite file is
        then whole (its write-ahead log checkpointed into it), so ``study.db`` alone can be copied.
        A ``Storage`` object you passed in stays open (yours to close). A process that ends
        normally does this for its SQLite studies anyway; ``close`` (or ``with``) does it now.
        Trials still running stay RUNNING until told or found abandoned."""
        self._heartbeat.close()
        if self._owns_storage:
            self._storage.close()

    def __getattr__(self, name: str) -> Any:
        """Only reached for a name the study lacks: other tools' names (Optuna's) are told the knobs way."""
        hint = _OTHER_TOOLS.get(name)
        if hint is None or name.startswith("__"):
            raise AttributeError(f"'Study' object has no attribute {name!r}")
        raise AttributeError(f"'Study' object has no attribute {name!r} (Optuna's name); in knobs: {hint}")

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, direction={self.direction!r}, storage={self._storage.url!r}, "
                f"sampler={self.sampler!r}, pruner={self.pruner!r})")

    # ---- wiring ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _optimizing(self, budget: Budget, callbacks: list[Callback],
                    catch: tuple[type[BaseException], ...]) -> Iterator[None]:
        """The span of one ``optimize`` call: ``claim`` and ``finish_many`` use its settings."""
        outer = self._loop
        self._loop, self._stop_requested = _Loop(budget, callbacks, catch), False
        try:
            yield
        finally:
            self._loop = outer

    def _tell_quietly(self, results: Sequence[TrialResult]) -> list[FrozenTrial]:
        """Record results without callbacks or raising (trials cancelled by an error)."""
        return _finish.tell_results(self, results)[0]

    def _ask_many(self, size: int, take_slot: Callable[[], bool] | None = None) -> list[Trial]:
        """Up to ``size`` claims (a population's batch) with one read and one write.

        Each claim's sampler sees the history plus the trials claimed before it in this batch —
        exactly what ``size`` calls of ``_ask`` would show it — so a seeded study proposes the
        same configs; only the storage work is shared: one read of the history (P calls of
        ``_ask`` re-read a history that grows by one each time: O(P²) rows) and one
        ``create_trials`` write. When another process claims meanwhile (``NumberTaken``) nothing
        was written: the sampler is rolled back, the history read again and the batch drawn anew,
        reusing the budget slots it already took.
        """
        self.fail_stale_trials()
        history = self._storage.get_trials(self._id)
        held = 0  # budget slots taken by a batch that lost the race: its redraw uses them first
        while True:
            self._sync_sampler()
            before = self._sampler_state()
            rows, state, held = self._draw_batch(history, size, take_slot, held)
            if not rows:
                if state is not None:
                    self._save_sampler(state)
                return []
            number = history[-1].number + 1 if history else 0
            try:
                frozen = self._storage.create_trials(
                    self._id, rows, number=number, host=_heartbeat.HOST, pid=os.getpid(),
                    sampler=state if state is not None and state != self._stored_sampler else None)
            except NumberTaken:
                _resume.load_sampler_state(self.sampler, before)  # undo the draws; re-sync next
                history = self._storage.get_trials(self._id)
                continue
            if state is not None:
                self._stored_sampler = state
            return [self._live_trial(trial) for trial in frozen]

    def _draw_batch(self, history: list[FrozenTrial], size: int, take_slot: Callable[[], bool] | None,
                    held: int) -> tuple[list[tuple[dict[str, Any], dict[str, Any]]], dict[str, Any] | None, int]:
        """(the batch's ``(config, attrs)`` rows, the sampler state after its last draw or None,
        the budget slots it holds). Abandoned trials' retries come first and take no slot."""
        view, rows, state, used = list(history), [], None, 0
        number = history[-1].number + 1 if history else 0
        now = time.time()
        while len(rows) < size:
            lost = _requeue.pending_retry(view) if self.retry_abandoned else None
            if lost is not None:
                config, attrs = dict(lost.config), {_requeue.RETRY_OF: lost.number}
            else:
                if used >= held and take_slot is not None and not take_slot():
                    break
                used += 1
                configs = self.sampler.suggest(self.space, self._warm_view + view, 1, direction=self.direction)
                state = self._sampler_state()
                if not configs:
                    break
                config, attrs = jsonable(dict(configs[0]), "a sampled config"), {}
            view.append(FrozenTrial(number=number + len(rows), config=config, started_at=now, attrs=attrs))
            rows.append((config, attrs))
        return rows, state, max(used, held)

    def _ask(self, take_slot: Callable[[], bool] | None = None) -> Trial | None:
        """Like ``ask`` but None when the sampler is used up or ``take_slot()`` says no: a batch
        of one (see ``_ask_many``).

        The claim is optimistic: the sampler sees trials ``0..n-1`` and its config is stored as
        trial ``n`` only if no other worker stored one meanwhile (``NumberTaken``); else the
        sampler is rolled back, the history re-read, and the sampler asked again. So every
        config was chosen knowing every trial before it, running ones included, and the stored
        sampler state always matches the stored trials. An abandoned trial's config is claimed
        the same way (once, as a retry) before any new one, and takes no slot.
        """
        claimed = self._ask_many(1, take_slot)
        return claimed[0] if claimed else None

    @property
    def _warm_view(self) -> list[FrozenTrial]:
        return list(self._warm.trials) if self._warm is not None else []

    def _live_trial(self, frozen: FrozenTrial, prune: bool = True) -> Trial:
        """The live handle of a trial this process just claimed, with its heartbeat running."""
        on_report, on_reports = (self._on_report, self._on_reports) if prune else \
            (self._store_report, self._store_reports)
        trial = Trial(frozen.number, frozen.config, on_report=on_report, on_attr=self._on_attr,
                      on_reports=on_reports, on_attrs=self._on_attrs)
        trial.attrs.update(frozen.attrs)
        self._live[trial.number] = trial
        self._heartbeat.add(trial.number)
        return trial

    def _sampler_state(self) -> dict[str, Any]:
        return jsonable(_resume.sampler_json(self.sampler), f"the state_dict() of {type(self.sampler).__name__}")

    def _sync_sampler(self) -> None:
        """Continue from the stored sampler state when another worker advanced it."""
        record = self._storage.get_study(self.name)
        stored = record.sampler if record is not None else None
        if stored != self._stored_sampler:
            _resume.load_sampler_state(self.sampler, stored)
            self._stored_sampler = stored

    def _save_sampler(self, state: dict[str, Any] | None = None) -> None:
        state = self._sampler_state() if state is None else state
        if state != self._stored_sampler:
            self._storage.set_study_fields(self._id, sampler=state)
            self._stored_sampler = state

    def _on_report(self, number: int, step: int, value: float) -> bool:
        self._storage.report(self._id, number, step, value)
        if self.pruner is None:
            return False
        trials = self._storage.get_trials(self._id)
        current = next(t for t in trials if t.number == number)
        return bool(self.pruner.prune(current, trials, direction=self.direction))

    def _store_report(self, number: int, step: int, value: float) -> bool:
        self._storage.report(self._id, number, step, value)
        return False

    def _on_reports(self, reports: list[tuple[int, int, float]]) -> list[bool]:
        """Many reports: one read of the study, decisions as one by one, one write (``_reports.py``)."""
        if self.pruner is None:
            return self._store_reports(reports)
        decisions = prune_in_order(self.pruner, self._storage.get_trials(self._id), reports, direction=self.direction)
        self._storage.report_many(self._id, reports)
        return decisions

    def _store_reports(self, reports: list[tuple[int, int, float]]) -> list[bool]:
        self._storage.report_many(self._id, reports)
        return [False] * len(reports)

    def _on_attr(self, number: int, key: str, value: Any) -> None:
        self._storage.set_trial_attr(self._id, number, key, _attr_value(number, key, value))

    def _on_attrs(self, attrs: dict[int, dict[str, Any]]) -> None:
        """Attributes of many trials (``set_attrs_many``), checked, in one write."""
        checked = {number: {key: _attr_value(number, key, value) for key, value in items.items()}
                   for number, items in attrs.items()}
        self._storage.set_trial_attrs(self._id, checked)

    def _last_reported(self, number: int) -> float | None:
        stored = self._storage.get_trial(self._id, number)
        return None if stored.last_step is None else stored.intermediate[stored.last_step]

    def _release(self, number: int) -> None:
        self._heartbeat.remove(number)
        trial = self._live.pop(number, None)
        if trial is not None:
            trial.finished = True


def _attr_value(number: int, key: Any, value: Any) -> Any:
    if not isinstance(key, str):
        raise TrialError(f"trial {number}: attribute keys must be strings, got {key!r}")
    return jsonable(value, f"trial {number} attribute {key!r}")


def _number_of(trial: Any) -> int:
    if isinstance(trial, Trial):
        return trial.number
    if isinstance(trial, int) and not isinstance(trial, bool):
        return trial
    raise TrialError(f"tell() takes a knobs.Trial from ask() or its number, got {type(trial).__name__} {trial!r}")


def _check_space(space: Any) -> Space:
    if not isinstance(space, Space):
        raise ConfigError(f"Study(space=...) must be a knobs.Space, got {type(space).__name__}")
    return space


def _check_direction(direction: Any) -> str:
    if direction not in ("minimize", "maximize"):
        raise ConfigError(f"Study(direction=...) must be 'minimize' or 'maximize', got {direction!r}")
    return direction


def _check_name(name: Any) -> str:
    if name is None:
        return "default"
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise ConfigError(f"Study(name=...) must be a non-empty string of at most 255 characters, got {name!r}")
    return name


def _check_sampler(sampler: Any) -> Any:
    for method in ("suggest", "state_dict", "load_state_dict"):
        if not callable(getattr(sampler, method, None)):
            raise ConfigError(f"Study(sampler=...) must have a {method}() method (see knobs.search.Sampler); "
                              f"got {type(sampler).__name__}")
    return sampler


def _check_warm_sampler(warm_start: Any, sampler: Any) -> Any:
    """A warm start only for a sampler that learns from a history (knobs' Bayes, or your own)."""
    from knobs import search

    if warm_start is not None and isinstance(sampler, (search.Random, search.Grid, search.CoarseToFine)):
        raise ConfigError(f"warm_start feeds a model of the results, which {type(sampler).__name__} does not keep "
                          "(Random and Grid ignore results; CoarseToFine would zoom on the earlier study's own "
                          "values); use knobs.search.Bayes (search.sampler = \"bayes\")")
    return warm_start


def _check_pruner(pruner: Any) -> Any:
    if pruner is None:
        return None
    if not callable(getattr(pruner, "prune", None)):
        raise ConfigError(f"Study(pruner=...) must have a prune() method (see knobs.prune); got {type(pruner).__name__}")
    if callable(getattr(pruner, "validate", None)):
        pruner.validate()
    return pruner

