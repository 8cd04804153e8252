"""``optimize(workers=N)``: N local processes, each asking the shared storage for trials.

Why processes that each ask, rather than a parent that hands out configs: a worker is then
exactly what ``knobs worker`` is on another machine — a ``Study`` over the same database — so
one claiming rule (``Study._ask``: a config is stored only if its sampler saw every trial so
far) keeps local, remote and Ray workers from ever running the same point. The parent only
supervises: it calls the callbacks as trials finish, turns ``study.stop()`` into a shared stop
event, restarts a worker killed by a signal (the replacement retries the lost trial's config),
and re-raises what a worker could not handle.

Workers are spawned (not forked: forking a process that holds torch threads or a database
connection is unsafe), so the objective travels pickled, and it is pickled here first, where a
clear error can name it. Each worker runs one torch/BLAS thread: N workers on N cores.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import queue
import sys
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from knobs.errors import ConfigError
from knobs.study._budget import Budget
from knobs.study._callbacks import call_back
from knobs.study._optimize import check, run_trial

if TYPE_CHECKING:
    from knobs.study._study import Callback, Objective, Study

__all__ = ["optimize_in_processes", "shared_url", "pickled", "WorkerSpec"]

_log = logging.getLogger("knobs.study")

POLL_S = 0.2
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to open the study and run trials (all picklable)."""

    url: str
    name: str
    space: dict[str, Any]
    direction: str
    objective: bytes
    sampler: bytes
    pruner: bytes
    catch: bytes
    n_trials: int | None
    deadline: float | None
    heartbeat_interval_s: float
    stale_after_s: float
    retry_abandoned: bool


def shared_url(study: "Study", what: str) -> str:
    """The URL other processes open for ``study``; ``ConfigError`` for an in-memory study."""
    url = study.storage.connect_url
    if url is None:
        raise ConfigError(f"{what} needs a study stored in a database that other processes can open; this one "
                          f"lives in {study.storage.url!r}. Create it with storage='sqlite:///study.db' (one "
                          "machine) or storage='postgresql://user:password@host/db' (many machines)")
    return url


def pickled(obj: Any, what: str) -> bytes:
    """``pickle.dumps(obj)``; ``ConfigError`` naming ``what`` when it cannot be pickled."""
    try:
        return pickle.dumps(obj)
    except Exception as e:  # noqa: BLE001 — pickling raises PicklingError, TypeError, AttributeError…
        raise ConfigError(f"{what} must be picklable to reach the worker processes — a module-level function "
                          f"or an instance of a module-level class, not a lambda, a local function or an "
                          f"object holding open files or locks; pickling {obj!r:.80} failed: {e}") from None


def optimize_in_processes(study: "Study", objective: "Objective", *, workers: int, n_trials: int | None,
                          timeout: float | None, callbacks: Sequence["Callback"],
                          catch: Iterable[type[BaseException]]) -> None:
    """See ``Study.optimize(workers=...)``."""
    n_trials, timeout, catch = check(objective, n_trials, timeout, catch)
    spec = _spec(study, objective, n_trials, timeout, catch)
    study._stop_requested = False
    ctx = mp.get_context("spawn")
    pool = _Pool(ctx, spec, respawns=workers + (n_trials or 0))
    seen = {t.number for t in study.storage.get_trials(study._id) if t.state.finished}
    try:
        pool.start(workers)
        while pool.running():
            pool.wait(POLL_S)
            _call_back(study, list(callbacks), seen)
            if study._stop_requested:
                pool.stop.set()
            pool.check(study)
        _call_back(study, list(callbacks), seen)
    except BaseException:
        pool.stop.set()
        pool.terminate()
        study.fail_stale_trials()  # the terminated workers' trials: abandoned, retried later
        raise
    finally:
        pool.close()
    pool.raise_error()


def _spec(study: "Study", objective: Any, n_trials: int | None, timeout: float | None,
          catch: tuple[type[BaseException], ...]) -> WorkerSpec:
    what = "optimize(workers=...)"
    return WorkerSpec(
        url=shared_url(study, what), name=study.name, space=study.space.to_json(), direction=study.direction,
        objective=pickled(objective, f"{what}: the objective"), sampler=pickled(study.sampler, f"{what}: the sampler"),
        pruner=pickled(study.pruner, f"{what}: the pruner"), catch=pickled(catch, f"{what}: catch"),
        n_trials=n_trials, deadline=None if timeout is None else time.time() + timeout,
        heartbeat_interval_s=study._heartbeat.interval_s, stale_after_s=study.stale_after_s,
        retry_abandoned=study.retry_abandoned)


def _call_back(study: "Study", callbacks: list, seen: set[int]) -> None:
    """Run the callbacks, in this process, for trials that finished since the last look."""
    fresh = [t for t in study.storage.get_trials(study._id) if t.state.finished and t.number not in seen]
    fresh.sort(key=lambda t: (t.finished_at or 0.0, t.number))
    seen.update(t.number for t in fresh)
    call_back(study, callbacks, fresh)


class _Pool:
    """The worker processes of one ``optimize`` call, their shared budget and stop event."""

    def __init__(self, ctx: Any, spec: WorkerSpec, respawns: int) -> None:
        self.ctx, self.spec, self.respawns_left = ctx, spec, respawns
        self.counter, self.stop, self.errors = ctx.Value("q", 0), ctx.Event(), ctx.Queue()
        self.procs: list[Any] = []
        self.error: tuple[bytes | None, str] | None = None

    def start(self, n: int) -> None:
        with _one_thread_env():
            for _ in range(n):
                proc = self.ctx.Process(target=worker_main, args=(self.spec, self.counter, self.stop, self.errors),
                                        name=f"knobs-worker-{len(self.procs)}")
                proc.start()
                self.procs.append(proc)

    def running(self) -> bool:
        return any(p.is_alive() for p in self.procs)

    def wait(self, timeout: float) -> None:
        multiprocessing.connection.wait([p.sentinel for p in self.procs if p.is_alive()], timeout=timeout)

    def check(self, study: "Study") -> None:
        """Collect reported errors (stop everyone); replace workers killed by a signal."""
        self._drain()
        for proc in [p for p in self.procs if p.exitcode is not None and p.exitcode > 0]:
            if self.error is None:
                self.stop.set()
                self.error = (None, f"worker process {proc.pid} exited with code {proc.exitcode} without a report")
        for proc in [p for p in self.procs if p.exitcode is not None and p.exitcode < 0]:
            self.procs.remove(proc)
            failed = study.fail_stale_trials()
            _log.warning("worker pid %d was killed by signal %d%s", proc.pid, -proc.exitcode,
                         f"; its trial(s) {failed} are abandoned and will be retried once" if failed else "")
            if not self.stop.is_set() and self.respawns_left > 0:
                self.respawns_left -= 1
                self.start(1)

    def _drain(self) -> None:
        while True:
            try:
                error = self.errors.get_nowait()
            except queue.Empty:
                return
            self.stop.set()
            if self.error is None:
                self.error = error

    def terminate(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        for proc in self.procs:
            proc.join(timeout=10)

    def close(self) -> None:
        for proc in self.procs:
            proc.join(timeout=10)
        self._drain()
        self.errors.close()

    def raise_error(self) -> None:
        """Re-raise the first error a worker reported, with the worker's traceback attached."""
        if self.error is None:
            return
        blob, text = self.error
        try:
            error = pickle.loads(blob) if blob is not None else None
        except Exception:  # noqa: BLE001 — an exception class this process cannot rebuild
            error = None
        if not isinstance(error, BaseException):
            raise RuntimeError(f"a worker process failed:\n{text}")
        if hasattr(error, "add_note"):
            error.add_note(f"(raised in a worker process)\n{text}")
        raise error


@contextlib.contextmanager
def _one_thread_env() -> Iterator[None]:
    """Spawned children inherit these at start: one OpenMP/MKL/BLAS thread per worker."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARS}
    os.environ.update({name: "1" for name in _THREAD_VARS})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _one_torch_thread() -> None:
    """If the objective brought torch in, give it one intra-op thread (the objective may raise it)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def worker_main(spec: WorkerSpec, counter: Any, stop: Any, errors: Any) -> None:
    """The body of one worker process: open the study, then ask → run → tell until done."""
    study = None
    try:
        from knobs.space import Space
        from knobs.study._study import Study

        objective = pickle.loads(spec.objective)
        _one_torch_thread()
        catch = pickle.loads(spec.catch)
        study = Study(Space.from_json(spec.space), sampler=pickle.loads(spec.sampler),
                      pruner=pickle.loads(spec.pruner), direction=spec.direction, storage=spec.url, name=spec.name)
        study._heartbeat.interval_s = spec.heartbeat_interval_s
        study.stale_after_s, study.retry_abandoned = spec.stale_after_s, spec.retry_abandoned
        budget = Budget(spec.n_trials, spec.deadline, counter)
        while not stop.is_set() and budget.open():
            trial = study._ask(take_slot=budget.take)
            if trial is None:
                break
            run_trial(study, objective, trial, catch)
    except BaseException as error:  # noqa: BLE001 — reported to the parent, which re-raises it
        errors.put(_describe(error))
        stop.set()
        errors.close()
        errors.join_thread()
        sys.exit(1)
    finally:
        if study is not None:
            study._heartbeat.close()
            study.storage.close()


def _describe(error: BaseException) -> tuple[bytes | None, str]:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        blob = pickle.dumps(error)
        pickle.loads(blob)
    except Exception:  # noqa: BLE001 — then the parent raises a RuntimeError with the text
        blob = None
    return blob, text
