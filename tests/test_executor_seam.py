"""The executor seam, used as a third party would: public names of knobs only (no ``_`` imports,
no private attributes), two small executors, and the loop's rules checked through them — budget,
timeout, stop(), callbacks and once_per_batch, pruning, failures and catch, NaN, abandoned trials."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import knobs
from knobs.study import Executor, TrialResult, once_per_batch, run_objective
from knobs.trial import TrialState

SPACE = knobs.Space({"x": knobs.Float(0.0, 1.0)})


class Threads(Executor):
    """Claims ``workers`` trials at a time, runs them in a thread pool, hands the results back
    in reverse order (the loop must not care)."""

    def __init__(self):
        self.batches = []

    def slots(self):
        return self.workers

    def run_batch(self, trials):
        self.batches.append([t.number for t in trials])
        with ThreadPoolExecutor(max_workers=len(trials)) as pool:
            results = list(pool.map(lambda t: run_objective(self.objective, t), trials))
        return results[::-1]


class OneByOneAsync(Executor):
    """An asynchronous executor: ``submit`` starts a thread per trial, ``collect`` returns what
    finished; it abandons the first attempt of trial 1 (as if its worker died)."""

    def start(self, study, objective, workers):
        super().start(study, objective, workers)
        self.done, self.lock, self.threads = [], threading.Lock(), []

    def slots(self):
        return 2

    def submit(self, trials):
        for trial in trials:
            thread = threading.Thread(target=self._run, args=(trial,))
            thread.start()
            self.threads.append(thread)

    def _run(self, trial):
        if trial.number == 1:
            result = TrialResult.abandoned(trial, "the worker vanished")
        else:
            result = run_objective(self.objective, trial)
        with self.lock:
            self.done.append(result)

    def collect(self):
        time.sleep(0.01)
        with self.lock:
            done, self.done = self.done, []
        return done

    def close(self):
        for thread in self.threads:
            thread.join()


def objective(config, trial):
    """Trial 2 raises, trial 3 returns NaN, trial 4 is pruned after one report; others return x."""
    trial.report(1, config["x"])
    if trial.number == 2:
        raise RuntimeError("the device fell over")
    if trial.number == 3:
        return math.nan
    if trial.number == 4:
        raise knobs.Pruned()
    return config["x"]


def test_a_thread_pool_executor_keeps_the_budget_callbacks_pruning_and_failures():
    study = knobs.Study(SPACE, sampler=knobs.search.Random(seed=0))
    executor, per_trial, per_batch = Threads(), [], []
    study.optimize(objective, n_trials=7, workers=3, executor=executor,
                   callbacks=[lambda s, t: per_trial.append(t.number),
                              once_per_batch(lambda s, t: per_batch.append((t.number, len(per_trial))))])
    assert executor.batches == [[0, 1, 2], [3, 4, 5], [6]]  # n_trials counts claims; the last batch is short
    trials = study.trials
    assert len(trials) == 7 and not [t for t in trials if t.state is TrialState.RUNNING]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAILED] * 2 + \
        [TrialState.PRUNED] + [TrialState.COMPLETE] * 2
    assert trials[2].attrs["fail_reason"] == "RuntimeError: the device fell over" and "Traceback" in trials[2].attrs["traceback"]
    assert "not finite" in trials[3].attrs["fail_reason"]
    assert trials[4].value == trials[4].config["x"]  # pruned: keeps its last report
    assert all(t.intermediate == {1: t.config["x"]} for t in trials)
    # each batch's callbacks: per trial in the order the executor returned them, then once per batch
    assert per_trial == [2, 1, 0, 5, 4, 3, 6] and per_batch == [(0, 3), (3, 6), (6, 7)]
    # one seeded sequence, however the trials ran
    reference = knobs.Study(SPACE, sampler=knobs.search.Random(seed=0))
    reference.optimize(lambda config, trial: 0.0, n_trials=7)
    assert [t.config for t in trials] == [t.config for t in reference.trials]


def test_knobs_errors_propagate_after_the_batch_is_recorded_and_stop_ends_claiming():
    study = knobs.Study(SPACE, sampler=knobs.search.Random(seed=1))

    def bad_setup(config, trial):
        if trial.number == 1:
            raise knobs.ConfigError("model.width must be > 0")
        return config["x"]

    called = []
    with pytest.raises(knobs.ConfigError, match="model.width"):
        study.optimize(bad_setup, n_trials=9, workers=3, executor=Threads(), callbacks=[lambda s, t: called.append(t)])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAILED, TrialState.COMPLETE]
    assert called == []  # the batch was recorded, its callbacks did not run
    study.optimize(bad_setup, n_trials=3, workers=3, executor=Threads(), catch=(knobs.KnobsError,))
    assert len(study.trials) == 6
    with pytest.raises(RuntimeError, match="fell over"):  # catch=(): nothing is caught
        knobs.Study(SPACE).optimize(objective, n_trials=3, workers=3, executor=Threads(), catch=())

    stopper = knobs.Study(SPACE, sampler=knobs.search.Random(seed=2))
    executor = Threads()
    stopper.optimize(lambda c, t: c["x"], n_trials=30, workers=2, executor=executor,
                     callbacks=[lambda s, t: t.number == 2 and s.stop()])
    assert executor.batches == [[0, 1], [2, 3]] and stopper.stop_requested
    slow = knobs.Study(SPACE)
    started = time.monotonic()
    slow.optimize(lambda c, t: time.sleep(0.05) or 1.0, timeout=0.3, workers=2, executor=Threads())
    assert 2 <= len(slow.trials) <= 16 and time.monotonic() - started < 2.0


def test_an_asynchronous_executor_gets_abandoned_trials_retried_once_without_a_slot():
    study = knobs.Study(SPACE, sampler=knobs.search.Random(seed=3))
    seen = []
    study.optimize(lambda c, t: c["x"], n_trials=4, executor=OneByOneAsync(), callbacks=[lambda s, t: seen.append(t.number)])
    trials = study.trials
    assert trials[1].state is TrialState.FAILED and trials[1].attrs["fail_reason"] == "abandoned: the worker vanished"
    retries = [t for t in trials if t.attrs.get("retry_of") == 1]
    assert len(retries) == 1 and retries[0].config == trials[1].config and retries[0].state is TrialState.COMPLETE
    assert len(trials) == 5 and sorted(seen) == list(range(5))  # 4 new configs + the retry


def test_claim_and_finish_outside_optimize():
    study = knobs.Study(SPACE, sampler=knobs.search.Random(seed=4))
    a, b, c = study.claim(3)
    assert [t.number for t in (a, b, c)] == [0, 1, 2] and study.claim(0) == []
    b.report(1, 0.5)
    told = study.finish_many([TrialResult.complete(a, 0.25), TrialResult.pruned(b),
                              TrialResult.failed(c, ValueError("caught by default"))])
    assert [t.state for t in told] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED]
    assert told[1].value == 0.5 and told[2].attrs["fail_reason"] == "ValueError: caught by default"
    d = study.claim()[0]
    with pytest.raises(knobs.TrialError, match="must be a number"):
        study.finish(TrialResult.complete(d, "0.5"))
    assert study.trials[3].state is TrialState.FAILED
    with pytest.raises(knobs.ConfigError, match="knobs.study.Executor"):
        study.optimize(lambda c, t: 1.0, n_trials=1, executor=object())
    with pytest.raises(knobs.ConfigError, match="claim"):
        study.claim(-1)
