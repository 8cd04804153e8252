"""``optimize(workers=N)``: N local processes run the trials this process claims.

Why the parent claims and the workers only run: it is then the same loop as every other
executor (``knobs.study.run_loop``): one sampler in one process keeps the study's seeded sequence
exactly as one worker would have it (running trials are in its view, so busy workers never get
the same config), the budget, ``stop()``, callbacks and ``catch`` act in one place, and a worker
killed mid-trial cannot leave a half-told trial: the parent records it abandoned, starts a
replacement, and the study retries the config once. A worker runs a claimed trial as a Ray task
does (``_remote.run_claimed``): reports and attributes go straight to the shared database, so
pruners decide at each report; only the outcome comes back. ``knobs worker`` on another machine
is a separate claiming process over the same database; the claim rule keeps them apart.

Workers are spawned (not forked: forking a process that holds torch threads or a database
connection is unsafe), so the objective travels pickled, and it is pickled here first, where a
clear error can name it. Each worker runs one torch/BLAS thread: N workers on N cores. A worker
whose parent dies finds its pipe closed and exits.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from knobs.errors import ConfigError
from knobs.study._executor import Executor, TrialResult
from knobs.study._remote import result_of, run_claimed
from knobs.trial import Trial

if TYPE_CHECKING:
    from knobs.study._study import Study

__all__ = ["ProcessExecutor", "shared_url", "pickled", "WorkerSpec"]

_log = logging.getLogger("knobs.study")

POLL_S = 0.2
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs to run claimed trials (all picklable)."""

    url: str
    study_id: int
    direction: str
    objective: bytes
    pruner: bytes


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


class ProcessExecutor(Executor):
    """Run claimed trials in ``workers`` spawned local processes, one trial each at a time."""

    def start(self, study: "Study", objective: Any, workers: int) -> None:
        super().start(study, objective, workers)
        what = "optimize(workers=...)"
        self.spec = WorkerSpec(url=shared_url(study, what), study_id=study.storage.get_study(study.name).id,
                               direction=study.direction, objective=pickled(objective, f"{what}: the objective"),
                               pruner=pickled(study.pruner, f"{what}: the pruner"))
        self.ctx = mp.get_context("spawn")
        self.deaths_in_a_row = 0
        self.procs: list[_Worker] = []
        self._start(workers)

    def slots(self) -> int:
        return self.workers

    def submit(self, trials: list[Trial]) -> None:
        for trial in trials:
            worker = next((w for w in self.procs if w.trial is None and w.proc.is_alive()), None)
            if worker is None:
                worker = self._replace_one()
            worker.give(trial)

    def collect(self) -> list[TrialResult]:
        """Outcomes of the trials that ended within ``POLL_S``; a worker that died holding a trial
        leaves it abandoned (and is replaced when needed); an error that stopped a worker from
        running trials at all (its objective does not unpickle there) is raised."""
        busy = [w for w in self.procs if w.trial is not None]
        ready = set(multiprocessing.connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                                                    timeout=POLL_S))
        return [self._outcome(w) for w in busy if w.conn in ready or w.proc.sentinel in ready]
    def cancel(self, trials: list[Trial]) -> None:
        for worker in self.procs:
            if worker.trial is not None and worker.proc.is_alive():
                worker.proc.terminate()

    def close(self) -> None:
        for worker in getattr(self, "procs", []):
            worker.stop()
        self.procs = []

    # ---- the pool --------------------------------------------------------------------------------
    def _start(self, n: int) -> None:
        with _one_thread_env():
            for _ in range(n):
                self.procs.append(_Worker.spawn(self.ctx, self.spec, len(self.procs)))

    def _outcome(self, worker: "_Worker") -> TrialResult:
        trial = worker.trial
        try:
            if not worker.conn.poll():
                raise EOFError  # the process ended and sent nothing
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            return self._lost(worker)
        worker.trial = None
        if kind == "error":
            raise _rebuilt(payload)
        self.deaths_in_a_row = 0
        return result_of(trial, payload, where=f"worker process {worker.proc.pid}")

    def _lost(self, worker: "_Worker") -> TrialResult:
        """The worker died holding a trial: abandoned (its config is retried once)."""
        trial, code = worker.trial, worker.proc.exitcode
        worker.trial = None
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        _log.warning("worker pid %d died (%s) running trial %d", worker.proc.pid, how, trial.number)
        self.procs.remove(worker)
        worker.stop()
        self.deaths_in_a_row += 1
        return TrialResult.abandoned(trial, "process died")

    def _replace_one(self) -> "_Worker":
        """A fresh worker in place of one that died; refused when workers keep dying without
        finishing a trial (each config is retried once, so that is not one config's fault)."""
        self.procs = [w for w in self.procs if w.proc.is_alive() or w.trial is not None]
        if self.deaths_in_a_row > 2 * (self.workers + 1):
            raise RuntimeError(f"worker processes keep dying: {self.deaths_in_a_row} in a row without a finished "
                               f"trial; see the log for their exit codes")
        self._start(1)
        return self.procs[-1]


class _Worker:
    """One worker process, the pipe it receives trials and returns outcomes on, and its trial."""

    def __init__(self, proc: Any, conn: Any) -> None:
        self.proc, self.conn = proc, conn
        self.trial: Trial | None = None

    @classmethod
    def spawn(cls, ctx: Any, spec: WorkerSpec, index: int) -> "_Worker":
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=worker_main, args=(spec, theirs), name=f"knobs-worker-{index}")
        proc.start()
        theirs.close()  # the worker holds the only other end: its death closes the pipe
        return cls(proc, mine)

    def give(self, trial: Trial) -> None:
        self.trial = trial
        with contextlib.suppress(OSError):  # it died: collect finds its report, or abandons the trial
            self.conn.send((trial.number, trial.config, dict(trial.attrs)))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()  # an idle worker sees EOF and exits
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=10)


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


def worker_main(spec: WorkerSpec, conn: Any) -> None:
    """The body of one worker process: run each trial the parent sends until the pipe closes."""
    storage = None
    try:
        from knobs.storage import SQLStorage

        objective = pickle.loads(spec.objective)
        _one_torch_thread()
        pruner = pickle.loads(spec.pruner)
        storage = SQLStorage(spec.url, create=False)
        while True:
            try:
                number, config, attrs = conn.recv()
            except (EOFError, OSError):
                return  # the parent is done (or gone)
            conn.send(("done", run_claimed(objective, storage, spec.study_id, number, config, attrs, pruner,
                                           spec.direction)))
    except BaseException as error:  # noqa: BLE001 — reported to the parent, which re-raises it
        with contextlib.suppress(OSError):
            conn.send(("error", _describe(error)))
        sys.exit(1)
    finally:
        if storage is not None:
            storage.close()


def _describe(error: BaseException) -> tuple[bytes | None, str]:
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        blob = pickle.dumps(error)
        pickle.loads(blob)
    except Exception:  # noqa: BLE001 — then the parent raises a RuntimeError with the text
        blob = None
    return blob, text


def _rebuilt(described: tuple[bytes | None, str]) -> BaseException:
    """The error a worker reported, with its traceback attached."""
    blob, text = described
    try:
        error = pickle.loads(blob) if blob is not None else None
    except Exception:  # noqa: BLE001 — an exception class this process cannot rebuild
        error = None
    if not isinstance(error, BaseException):
        return RuntimeError(f"a worker process failed:\n{text}")
    if hasattr(error, "add_note"):
        error.add_note(f"(raised in a worker process)\n{text}")
    return error
