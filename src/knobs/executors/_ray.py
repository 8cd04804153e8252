"""``RayExecutor``: each trial a Ray task with its own CPU/GPU resources; this process asks and tells.

Why the driver claims and finishes (``knobs.study.run_loop``, this class saying only how a claimed
trial runs): one sampler in one process keeps the study's sequence exactly as
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
import socket
from typing import TYPE_CHECKING, Any

from knobs.errors import ConfigError, KnobsError
from knobs.study import Executor, TrialResult
from knobs.study._remote import result_of
from knobs.study._workers import shared_url
from knobs.trial import Trial

if TYPE_CHECKING:
    from knobs.study import Study

__all__ = ["RayExecutor"]

POLL_S = 0.5
#: seconds to wait for a TCP answer from an explicit Ray address before calling it unreachable.
CONNECT_CHECK_S = 3.0


class RayExecutor(Executor):
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
        self._ray: Any = None
        self._started = False

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, cpus={self.cpus!r}, gpus={self.gpus!r})"

    # ---- the executor hooks (``knobs.study.Executor``) -----------------------------------------
    def start(self, study: "Study", objective: Any, workers: int) -> None:
        """Check the resources and the database, join or start Ray, ship the objective once."""
        super().start(study, objective, workers)
        cpus, gpus = self._check_resources()
        self._url = shared_url(study, "executor=RayExecutor")
        self._study_id = study.storage.get_study(study.name).id
        ray = self._ray = _import_ray()
        self._started = self._connect(ray)
        _check_cluster(ray, cpus, gpus)
        from knobs.executors._ray_task import run_remote_trial

        self._task = ray.remote(run_remote_trial).options(num_cpus=cpus, num_gpus=gpus, max_retries=0)
        try:
            # NOTE: Ray serializes with cloudpickle, so lambdas and closures travel too.
            self._objective_ref = ray.put(objective)
        except Exception as e:  # noqa: BLE001 — whatever the serializer raises
            raise ConfigError(f"executor=RayExecutor: the objective {objective!r:.80} cannot be serialized for "
                              f"Ray tasks (it may hold open files, locks or a database connection): {e}") from None
        self._inflight: dict[Any, Trial] = {}

    def slots(self) -> int:
        return self.workers

    def submit(self, trials: list[Trial]) -> None:
        study = self.study
        for trial in trials:
            ref = self._task.remote(self._objective_ref, self._url, self._study_id, trial.number, trial.config,
                                    dict(trial.attrs), study.pruner, study.direction)
            self._inflight[ref] = trial

    def collect(self) -> list[TrialResult]:
        """The tasks that ended within ``POLL_S``; one whose Ray worker died is abandoned."""
        ready, _ = self._ray.wait(list(self._inflight), num_returns=1, timeout=POLL_S)
        return [self._result(ref, self._inflight.pop(ref)) for ref in ready]

    def cancel(self, trials: list[Trial]) -> None:
        for ref in list(self._inflight):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 — already finished or gone
                pass
        self._inflight.clear()

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    # ---- helpers --------------------------------------------------------------------------------
    def _result(self, ref: Any, trial: Trial) -> TrialResult:
        try:
            outcome = self._ray.get(ref)
        except self._ray.exceptions.RayError as e:
            return TrialResult.abandoned(trial, f"the Ray task's worker died ({type(e).__name__})")
        return result_of(trial, outcome)

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
