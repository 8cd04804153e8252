"""``RayExecutor``: each trial a Ray task with its own CPU/GPU resources; this process asks and tells.

Why the driver asks and tells: one sampler in one process keeps the study's sequence exactly as
a single worker would have it (running tasks are RUNNING trials, so the sampler spreads the
batch), and a task that dies with its Ray worker cannot leave a half-told trial behind — the
driver marks it abandoned and the study retries its config once. Tasks only run the objective
and write their intermediate values straight to the study's database (pruning needs them at
every report), so the study must live in a database every Ray node reaches: SQLite on a
single-machine cluster, PostgreSQL on a real one.

Ray is an optional dependency (``pip install 'knobs[ray]'``), imported when a study first runs.
"""

from __future__ import annotations

import logging
import numbers
import pickle
import socket
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from knobs.errors import ConfigError, KnobsError, TrialError
from knobs.storage import jsonable
from knobs.study._budget import Budget
from knobs.study._callbacks import call_back
from knobs.study._optimize import check, complete, fail, finish
from knobs.study._requeue import is_abandoned
from knobs.study._tell import as_value
from knobs.study._workers import shared_url
from knobs.trial import FrozenTrial, Trial, TrialState

if TYPE_CHECKING:
    from knobs.study import Study

__all__ = ["RayExecutor"]

_log = logging.getLogger("knobs.study")
POLL_S = 0.5
#: seconds to wait for a TCP answer from an explicit Ray address before calling it unreachable.
CONNECT_CHECK_S = 3.0


class RayExecutor:
    """Run trials as Ray tasks: ``study.optimize(objective, workers=8, executor=RayExecutor())``.

    ``workers`` of ``optimize`` is the number of tasks in flight; Ray places each where its
    resources are free.

    Args:
        address: None starts (or reuses) a Ray instance in this process; ``"auto"`` joins the
            cluster this machine belongs to; ``"host:port"`` or ``"ray://host:port"`` joins that
            one. An address that does not answer is a ``KnobsError``.
        cpus: CPUs each trial reserves (Ray's ``num_cpus``; may be fractional).
        gpus: GPUs each trial reserves (``num_gpus``; 0.5 packs two trials on one GPU).
        init_options: further keyword arguments of ``ray.init`` (when this executor starts Ray).

    Example:
        >>> study = knobs.Study(space, storage="postgresql://knobs@db/studies")   # doctest: +SKIP
        >>> study.optimize(objective, n_trials=64, workers=16,
        ...                executor=RayExecutor(address="auto", gpus=0.5))        # doctest: +SKIP
    """

    def __init__(self, address: str | None = None, cpus: float = 1.0, gpus: float = 0.0,
                 init_options: dict[str, Any] | None = None) -> None:
        self.address = address
        self.cpus = cpus
        self.gpus = gpus
        self.init_options = init_options

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, cpus={self.cpus!r}, gpus={self.gpus!r})"

    def run(self, study: "Study", objective: Any, *, n_trials: int | None, timeout: float | None,
            callbacks: Sequence[Any], catch: Iterable[type[BaseException]], workers: int) -> None:
        """Ask, submit, wait, tell — until the budget, the sampler or ``study.stop()`` ends it."""
        n_trials, timeout, catch = check(objective, n_trials, timeout, catch)
        cpus, gpus = self._check_resources()
        url = shared_url(study, "executor=RayExecutor")
        ray = _import_ray()
        started = self._connect(ray)
        try:
            _check_cluster(ray, cpus, gpus)
            _Driver(ray, study, objective, url, cpus, gpus, catch, callbacks).loop(
                Budget(n_trials, None if timeout is None else time.time() + timeout), workers)
        finally:
            if started:
                ray.shutdown()

    def _check_resources(self) -> tuple[float, float]:
        for name, value, low in (("cpus", self.cpus, 0.0), ("gpus", self.gpus, 0.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < low or (name == "cpus" and value <= 0):
                expected = "> 0" if name == "cpus" else ">= 0"
                raise ConfigError(f"RayExecutor({name}=...) (search.trial_resources.{name[:-1]}) must be a number "
                                  f"{expected}, got {value!r}")
        if self.init_options is not None and not isinstance(self.init_options, dict):
            raise ConfigError(f"RayExecutor(init_options=...) must be a dict of ray.init arguments, got {self.init_options!r}")
        return float(self.cpus), float(self.gpus)

    def _connect(self, ray: Any) -> bool:
        """Join or start Ray; True when this call started it (and so shuts it down)."""
        if self.address is not None:
            _check_answers(self.address)
        if ray.is_initialized():
            return False
        options = {"include_dashboard": False, "log_to_driver": True, "logging_level": logging.WARNING,
                   **(self.init_options or {})}
        try:
            ray.init(address=self.address, **options)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
            where = "a local Ray instance" if self.address is None else f"the Ray cluster at {self.address!r}"
            raise KnobsError(f"could not start or join {where}: {str(e).strip().splitlines()[0] if str(e) else e!r}"
                             " (search.ray_address / --address: 'auto', 'host:port' or 'ray://host:port')") from None
        return True


class _Driver:
    """One ``run``: the in-flight tasks and how each one's result is told to the study."""

    def __init__(self, ray: Any, study: "Study", objective: Any, url: str, cpus: float, gpus: float,
                 catch: tuple[type[BaseException], ...], callbacks: Sequence[Any]) -> None:
        from knobs.executors._ray_task import run_remote_trial

        self.ray, self.study, self.url, self.catch, self.callbacks = ray, study, url, catch, list(callbacks)
        self.task = ray.remote(run_remote_trial).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        try:
            # NOTE: Ray serializes with cloudpickle, so lambdas and closures travel too.
            self.objective_ref = ray.put(objective)
        except Exception as e:  # noqa: BLE001 — whatever the serializer raises
            raise ConfigError(f"executor=RayExecutor: the objective {objective!r:.80} cannot be serialized for "
                              f"Ray tasks (it may hold open files, locks or a database connection): {e}") from None
        self.inflight: dict[Any, Trial] = {}

    def loop(self, budget: Budget, workers: int) -> None:
        study = self.study
        study._stop_requested = False
        more = True
        try:
            while True:
                while more and len(self.inflight) < workers and not study._stop_requested and budget.open():
                    trial = study._ask(take_slot=budget.take)
                    if trial is None:
                        more = False
                        break
                    self._submit(trial)
                if not self.inflight:
                    return
                ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=POLL_S)
                settled = [self._settle(ref, self.inflight.pop(ref)) for ref in ready]
                more = more or any(is_abandoned(frozen) for frozen in settled)  # their retries are owed
                call_back(study, self.callbacks, settled)
        except BaseException:
            self._cancel_all()
            raise

    def _submit(self, trial: Trial) -> None:
        study = self.study
        ref = self.task.remote(self.objective_ref, self.url, study._id, trial.number, trial.config,
                               dict(trial.attrs), study.pruner, study.direction)
        self.inflight[ref] = trial

    def _settle(self, ref: Any, trial: Trial) -> FrozenTrial:
        """Tell the study how the task ended; re-raise what ``catch`` does not cover."""
        try:
            outcome = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:
            return self._abandon(trial, f"the Ray task's worker died ({type(e).__name__})")
        if outcome["state"] == "pruned":
            return finish(self.study, trial, state="pruned")
        if outcome["state"] == "failed":
            return fail(self.study, trial, _error(outcome), self.catch, attrs=outcome["attrs"])
        try:
            value = as_value(outcome["value"], trial.number)
        except TrialError as error:
            return fail(self.study, trial, error, self.catch)
        return complete(self.study, trial, value)

    def _abandon(self, trial: Trial, why: str) -> FrozenTrial:
        """FAILED as abandoned: the study runs its config once more (``retry_of``)."""
        _log.warning("trial %d: %s; its config will be retried once", trial.number, why)
        return finish(self.study, trial, state="failed", attrs=jsonable({"fail_reason": f"abandoned: {why}"}, "attrs"))

    def _cancel_all(self) -> None:
        for ref, trial in list(self.inflight.items()):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 — already finished or gone
                pass
            stored = self.study.storage.get_trial(self.study._id, trial.number)
            if stored.state is TrialState.RUNNING:
                self._abandon(trial, "cancelled when the driver stopped")
        self.inflight.clear()


def _error(outcome: dict[str, Any]) -> BaseException:
    blob = outcome.get("error")
    try:
        error = pickle.loads(blob) if blob is not None else None
    except Exception:  # noqa: BLE001 — a class this process cannot rebuild
        error = None
    if isinstance(error, BaseException):
        return error
    return RuntimeError(outcome["attrs"].get("fail_reason", "the trial failed in a Ray task"))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor 'ray' needs Ray: pip install 'knobs[ray]' (or pip install ray)") from None
    return ray


def _check_answers(address: str) -> None:
    """An explicit ``host:port`` must accept a TCP connection within a few seconds."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r} is not 'auto', 'host:port' or 'ray://host:port'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_CHECK_S).close()
    except OSError as e:
        raise KnobsError(f"the Ray cluster at {address!r} does not answer ({e.strerror or e}); start it with "
                         "`ray start --head` there, or check search.ray_address / --address") from None


def _check_cluster(ray: Any, cpus: float, gpus: float) -> None:
    """A trial that asks for more than the whole cluster has would wait forever: say so now."""
    total = ray.cluster_resources()
    for name, key, wanted in (("cpu", "CPU", cpus), ("gpu", "GPU", gpus)):
        have = float(total.get(key, 0.0))
        if wanted > have:
            raise ConfigError(f"each trial asks for {name} = {wanted:g} (search.trial_resources.{name}) but the Ray "
                              f"cluster has {have:g} {key}s in total; lower it or add nodes")
