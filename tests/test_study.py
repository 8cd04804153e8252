"""Study: ask/tell rules, the optimize loop, durable resume (including a killed worker)."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import knobs
from knobs.errors import ConfigError, KnobsError, SpaceError, TrialError
from knobs.prune import ASHA, Median
from knobs.search import Grid, Random
from knobs.storage import InMemoryStorage, RunningTrial, get_storage
from knobs.study._heartbeat import Heartbeat, find_stale, pid_alive
from knobs.trial import FrozenTrial, Pruned, TrialState

SPACE = knobs.Space({"x": knobs.Float(-5.0, 5.0), "opt": knobs.Choice(["sgd", "adam"])})


def square(config, trial):
    return (config["x"] - 1.0) ** 2


class Recording:
    """A sampler that wraps Random and remembers the histories it was shown."""

    def __init__(self, seed=0):
        self.inner, self.seen = Random(seed=seed), []

    def suggest(self, space, trials, n=1, *, direction="minimize"):
        self.seen.append(list(trials))
        return self.inner.suggest(space, trials, n, direction=direction)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


# ---- ask / tell ------------------------------------------------------------------------------
def test_ask_tell_and_best():
    study = knobs.Study(SPACE, sampler=Random(seed=0))
    trial = study.ask()
    assert type(trial.config) is dict and set(trial.config) == {"x", "opt"}
    done = study.tell(trial, 2.5)
    assert done.state is TrialState.COMPLETE and done.value == 2.5 and trial.finished
    study.tell(study.ask(), 1.0)
    study.tell(study.ask(), 1.0)  # a tie: the earliest wins
    assert study.best.number == 1
    maxi = knobs.Study(SPACE, direction="maximize")
    for v in (1.0, 3.0, 2.0):
        maxi.tell(maxi.ask(), v)
    assert maxi.best.value == 3.0
    assert isinstance(maxi.sampler, Random)  # the default sampler


def test_tell_twice_and_bad_tells_name_the_trial():
    study = knobs.Study(SPACE)
    trial = study.ask()
    for bad in ("abc", [1.0], True, None):
        with pytest.raises(TrialError, match="trial 0.*(must be a number|needs a value)"):
            study.tell(trial, bad)
    with pytest.raises(TrialError, match="needs a value"):
        study.tell(trial)
    with pytest.raises(TrialError, match="state must be one of"):
        study.tell(trial, state="done")
    with pytest.raises(TrialError, match="state must be one of"):
        study.tell(trial, state="running")
    assert study.trials[0].state is TrialState.RUNNING  # bad tells change nothing
    study.tell(trial, 1.0)
    with pytest.raises(TrialError, match="trial 0 is already complete"):
        study.tell(trial, 2.0)
    with pytest.raises(TrialError, match="trial 0 is already complete"):
        study.tell(0, state="failed")
    with pytest.raises(TrialError, match="no trial number 9"):
        study.tell(9, 1.0)
    with pytest.raises(TrialError, match="is finished"):
        trial.report(1, 0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_value_fails_and_never_reaches_the_sampler(bad):
    sampler = Recording()
    study = knobs.Study(SPACE, sampler=sampler)
    told = study.tell(study.ask(), bad)
    assert told.state is TrialState.FAILED and told.value is None
    assert "not finite" in told.attrs["fail_reason"]
    study.ask()
    shown = sampler.seen[-1]
    assert [t.state for t in shown] == [TrialState.FAILED] and shown[0].value is None
    with pytest.raises(TrialError, match="no complete trial yet"):
        study.best


def test_pruned_and_failed_states():
    study = knobs.Study(SPACE)
    trial = study.ask()
    trial.report(1, 0.9)
    trial.report(2, 0.7)
    trial.report(3, float("nan"))  # never stored: the last stored value is kept
    pruned = study.tell(trial, state="pruned")
    assert pruned.state is TrialState.PRUNED and pruned.value == 0.7 and pruned.intermediate == {1: 0.9, 2: 0.7}
    assert study.tell(study.ask(), 0.3, state="pruned").value == 0.3
    assert study.tell(study.ask(), state="pruned").value is None
    failed = study.tell(study.ask(), state=TrialState.FAILED)
    assert failed.state is TrialState.FAILED and failed.value is None


def test_report_feeds_the_pruner_with_stored_history():
    seen = []

    class StopAtTwo:
        def prune(self, trial, trials, *, direction):
            seen.append((trial.intermediate.copy(), len(trials), direction))
            return trial.last_step >= 2

    study = knobs.Study(SPACE, pruner=StopAtTwo(), direction="maximize")
    trial = study.ask()
    trial.report(1, 0.5)
    with pytest.raises(Pruned):
        trial.report(2, 0.6)
    assert seen == [({1: 0.5}, 1, "maximize"), ({1: 0.5, 2: 0.6}, 1, "maximize")]
    assert study.trials[0].intermediate == {1: 0.5, 2: 0.6}


def test_attrs_are_stored_and_must_be_json():
    study = knobs.Study(SPACE)
    trial = study.ask()
    trial.set_attr("curve", [0.5, 0.4])
    with pytest.raises(KnobsError, match="'model' must be JSON-able"):
        trial.set_attr("model", object())
    study.tell(trial, 1.0)
    assert study.trials[0].attrs == {"curve": [0.5, 0.4]}
    study.set_attr("note", {"by": "test"})
    assert study.attrs == {"note": {"by": "test"}}
    study.trials[0].attrs["curve"].append(9)  # copies: editing them changes nothing
    assert study.trials[0].attrs == {"curve": [0.5, 0.4]}


@pytest.mark.parametrize("storage", [None, "sqlite"])
def test_trials_and_best_are_copies_whatever_the_storage(tmp_path, storage):
    study = knobs.Study(SPACE, storage=storage and f"sqlite:///{tmp_path / 's.db'}")
    trial = study.ask()
    trial.set_attr("curve", {"loss": [0.5, 0.4]})
    trial.report(1, 0.5)
    study.tell(trial, 0.4)
    for copied in (study.trials[0], study.best):  # a finished SQL trial is cached: the cache must not change
        copied.attrs["curve"]["loss"].append(9)
        copied.config.clear()
        copied.intermediate[2] = 0.1
    again = study.trials[0]
    assert again.attrs == {"curve": {"loss": [0.5, 0.4]}} and again.intermediate == {1: 0.5} and again.config


def test_sampler_sees_running_trials():
    sampler = Recording()
    study = knobs.Study(SPACE, sampler=sampler)
    first = study.ask()
    study.ask()
    assert [t.number for t in sampler.seen[-1]] == [0] and sampler.seen[-1][0].state is TrialState.RUNNING
    assert first.config != study.trials[1].config


# ---- optimize --------------------------------------------------------------------------------
def test_optimize_counts_this_call_and_calls_back():
    study = knobs.Study(SPACE, sampler=Random(seed=1))
    calls = []
    study.optimize(square, n_trials=3, callbacks=[lambda s, t: calls.append((s, t.number, t.state))])
    study.optimize(square, n_trials=4)
    assert len(study.trials) == 7 and [c[1] for c in calls] == [0, 1, 2]
    assert all(c[0] is study and c[2] is TrialState.COMPLETE for c in calls)
    study.optimize(square, n_trials=0)
    assert len(study.trials) == 7


def test_optimize_timeout_and_stop(monkeypatch):
    # NOTE: a clock of our own that only trials move (each takes 1/16 s of it), so the count is exact
    # on a loaded machine too: trials start at 0, 1/16, 2/16 and 3/16 s; at 4/16 s the 1/4 s is up.
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])

    def sixteenth_of_a_second(config, trial):
        clock[0] += 0.0625
        return 1.0

    study = knobs.Study(SPACE)
    study.optimize(sixteenth_of_a_second, n_trials=50, timeout=0.25)  # 50: a broken timeout ends, too
    assert len(study.trials) == 4 and clock[0] == 1000.25
    stopper = knobs.Study(SPACE)
    stopper.optimize(square, n_trials=50, callbacks=[lambda s, t: t.number == 2 and s.stop()])
    assert len(stopper.trials) == 3


def test_optimize_records_pruned_with_last_report():
    study = knobs.Study(SPACE, pruner=Median(n_startup_trials=0))

    def objective(config, trial):
        for step in range(1, 6):
            trial.report(step, 1.0 if trial.number == 0 else 2.0 * step)
        return 1.0

    study.optimize(objective, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED]
    assert study.trials[1].last_step == 1 and study.trials[1].value == 2.0


def test_optimize_failures_are_kept_and_caught_by_default(caplog):
    study = knobs.Study(SPACE)

    def objective(config, trial):
        if trial.number % 2:
            raise RuntimeError(f"diverged at trial {trial.number}")
        return 1.0

    study.optimize(objective, n_trials=4)
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert [t.number for t in failed] == [1, 3]
    assert failed[0].attrs["fail_reason"] == "RuntimeError: diverged at trial 1"
    assert "Traceback" in failed[0].attrs["traceback"]
    assert "trial 1 failed" in caplog.text
    with pytest.raises(RuntimeError, match="trial 5"):
        study.optimize(objective, n_trials=4, catch=())
    assert study.trials[-1].state is TrialState.FAILED and len(study.trials) == 6


def test_knobs_errors_propagate_unless_caught():
    study = knobs.Study(SPACE)

    def objective(config, trial):
        raise ConfigError("train.lr must be > 0")

    with pytest.raises(ConfigError, match="train.lr"):
        study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.FAILED]
    study.optimize(objective, n_trials=2, catch=(KnobsError,))
    assert len(study.trials) == 3
    with pytest.raises(TrialError, match="must be a number"):
        study.optimize(lambda c, t: "0.5", n_trials=1)
    assert study.trials[-1].state is TrialState.FAILED


def test_keyboard_interrupt_fails_the_trial_and_stops():
    study = knobs.Study(SPACE)

    def objective(config, trial):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.FAILED]


def test_exhausted_grid_stops_cleanly():
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=Grid(points_per_axis=3))
    study.optimize(lambda c, t: c["x"], n_trials=10)
    assert sorted(t.config["x"] for t in study.trials) == [0.0, 0.5, 1.0]
    with pytest.raises(TrialError, match="used up"):
        study.ask()


@pytest.mark.parametrize("kwargs, match", [
    ({"space": {"x": 1}}, "knobs.Space"), ({"direction": "min"}, "direction"), ({"name": ""}, "name"),
    ({"sampler": object()}, "suggest"), ({"pruner": object()}, "prune"),
    ({"pruner": ASHA(reduction_factor=1)}, "reduction_factor"), ({"storage": "nope"}, "not a database URL"),
])
def test_bad_study_arguments(kwargs, match):
    with pytest.raises(KnobsError, match=match):
        knobs.Study(**{"space": SPACE, **kwargs})


@pytest.mark.parametrize("kwargs, match", [
    ({"n_trials": -1}, "n_trials"), ({"n_trials": 2.5}, "n_trials"), ({"timeout": 0}, "timeout"),
    ({"catch": ("x",)}, "catch"), ({"objective": 3}, "callable"),
])
def test_bad_optimize_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        knobs.Study(SPACE).optimize(**{"objective": square, "n_trials": 1, **kwargs})


def x_only(config):
    return config["x"] ** 2


def test_an_objective_of_the_config_alone_is_called_with_it_and_pickles():
    import pickle

    from knobs.study._optimize import ConfigOnly, as_objective

    study = knobs.Study(SPACE, sampler=Random(seed=0))
    study.optimize(x_only, n_trials=3)
    assert [t.value for t in study.trials] == [t.config["x"] ** 2 for t in study.trials]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    adapted = pickle.loads(pickle.dumps(as_objective(x_only)))  # workers and Ray tasks get a copy
    assert isinstance(adapted, ConfigOnly) and adapted({"x": 3.0}, None) == 9.0
    assert as_objective(square) is square


@pytest.mark.parametrize("objective", [lambda: 1.0, lambda a, b, c: 1.0])
def test_an_objective_that_binds_neither_form_is_refused_before_any_trial(objective):
    study = knobs.Study(SPACE)
    with pytest.raises(ConfigError, match=r"cannot be called as objective\(config, trial\) or objective\(config\)"):
        study.optimize(objective, n_trials=2)
    assert study.trials == []


# ---- durable storage and resume --------------------------------------------------------------
def test_resume_continues_the_seeded_sampler(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    reference = knobs.Study(SPACE, sampler=Random(seed=0))
    reference.optimize(square, n_trials=9)
    first = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    first.optimize(square, n_trials=4)
    second = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    second.optimize(square, n_trials=4)
    third = knobs.Study.load(url, "s")  # no sampler given: the stored class and state
    assert isinstance(third.sampler, Random) and third.direction == "minimize" and third.space == SPACE
    third.optimize(square, n_trials=1)
    assert [t.config for t in third.trials] == [t.config for t in reference.trials]


def test_load_restores_pruner_and_reports_bad_names(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    knobs.Study(SPACE, pruner=ASHA(2, 4, 32), direction="maximize", storage=url, name="a")
    loaded = knobs.Study.load(url)  # the only study
    assert loaded.name == "a" and loaded.direction == "maximize"
    assert isinstance(loaded.pruner, ASHA) and loaded.pruner.get_params() == ASHA(2, 4, 32).get_params()
    knobs.Study(SPACE, storage=url, name="b")
    with pytest.raises(KnobsError, match=r"no study named 'x' in sqlite:///.*; studies there: 'a', 'b'"):
        knobs.Study.load(url, "x")
    with pytest.raises(KnobsError, match="no study name given and several"):
        knobs.Study.load(url)
    with pytest.raises(KnobsError, match="no such database file"):
        knobs.Study.load(f"sqlite:///{tmp_path / 'missing.db'}", "a")
    assert not (tmp_path / "missing.db").exists()


def test_reopen_checks_space_direction_and_load_if_exists(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    knobs.Study(SPACE, storage=url, name="s")
    other = knobs.Space({"x": knobs.Float(-5.0, 6.0), "opt": knobs.Choice(["sgd", "adam"])})
    with pytest.raises(ConfigError, match="different space .*: x"):
        knobs.Study(other, storage=url, name="s")
    with pytest.raises(ConfigError, match="direction='minimize'"):
        knobs.Study(SPACE, storage=url, name="s", direction="maximize")
    with pytest.raises(KnobsError, match="already exists.*load_if_exists=True"):
        knobs.Study(SPACE, storage=url, name="s", load_if_exists=False)


_KILLED_WORKER = textwrap.dedent("""
    import sys, time, knobs
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=knobs.search.Random(seed=0), storage=sys.argv[1], name="s")
    def objective(config, trial):
        for step in range(1, 100_000 if trial.number == 2 else 3):
            trial.report(step, config["x"])
            time.sleep(0.02 if trial.number == 2 else 0)
        return config["x"]
    study.optimize(objective, n_trials=5)
""")


def test_killed_worker_is_recovered_and_the_study_finishes(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WORKER, url])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                storage = get_storage(url, create=False)
            except KnobsError:
                continue  # the worker has not created the file or its tables yet
            trials = storage.get_trials(1) if storage.study_names() else []
            storage.close()
            if len(trials) == 3 and len(trials[2].intermediate) >= 3:
                break
        else:
            pytest.fail("the worker never started its third trial")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    study = knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), sampler=Random(seed=0), storage=url, name="s")
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAILED]
    assert trials[2].attrs["fail_reason"] == "abandoned: process died" and len(trials[2].intermediate) >= 3
    remaining = 5 - sum(t.state.finished for t in trials)
    study.optimize(lambda c, t: c["x"], n_trials=remaining)
    # the lost config runs once more (taking no slot of n_trials), then the two new ones
    after = study.trials
    assert [t.number for t in after] == list(range(6)) and after[3].attrs == {"retry_of": 2}
    assert after[3].config == trials[2].config and after[3].state is TrialState.COMPLETE
    assert [t.state for t in after[:2]] == [TrialState.COMPLETE] * 2 and after[:2] == trials[:2]  # nothing lost


def test_stale_rules():
    now = 1000.0
    me = os.getpid()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    running = [
        RunningTrial(0, now - 1, "here", me),          # our own, fresh
        RunningTrial(1, now - 1, "here", dead.pid),    # same host, process gone
        RunningTrial(2, now - 500, "there", 1),        # another host, silent too long
        RunningTrial(3, now - 5, "there", 1),          # another host, recent heartbeat
    ]
    assert find_stale(running, now=now, grace_s=60, host="here") == {
        1: "abandoned: process died", 2: "abandoned: no heartbeat for 500 s"}
    assert pid_alive(me) and not pid_alive(dead.pid)


def test_heartbeat_thread_beats_while_trials_run():
    storage = InMemoryStorage()
    sid = storage.create_study("s", direction="minimize", space=None).id
    storage.create_trial(sid, {})
    beat = Heartbeat(storage, sid, interval_s=0.02)
    first = storage.running_trials(sid)[0].heartbeat
    beat.add(0)
    # NOTE: waited for, not slept on: a loaded machine may run the thread late, never wrongly
    assert _eventually(lambda: storage.running_trials(sid)[0].heartbeat > first)
    beat.remove(0)
    assert _eventually(lambda: beat._thread is None)  # no trial, no thread


def _eventually(condition, seconds: float = 30.0) -> bool:
    """True as soon as ``condition()`` holds; False if it never does within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_silent_trials_of_other_hosts_are_failed_on_ask():
    study = knobs.Study(SPACE)
    study.storage.create_trial(study._id, {"x": 0.0, "opt": "sgd"}, host="elsewhere", pid=1)
    study.stale_after_s = 0.01
    time.sleep(0.05)
    trial = study.ask()
    assert trial.number == 1
    orphan = study.trials[0]
    assert orphan.state is TrialState.FAILED and orphan.attrs["fail_reason"].startswith("abandoned: no heartbeat")


def test_json_space_round_trip_error_is_clear(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = knobs.Study(SPACE, storage=url, name="s")
    study.storage.set_study_fields(study._id, space={"params": {"x": {"kind": "bogus"}}})
    with pytest.raises(SpaceError):
        knobs.Study.load(url, "s")


def test_values_are_plain_json_numbers():
    import numpy as np

    class NumpySampler(Recording):
        def suggest(self, space, trials, n=1, *, direction="minimize"):
            return [{"x": np.float64(0.5), "opt": np.str_("sgd")}]

    study = knobs.Study(SPACE, sampler=NumpySampler())
    trial = study.ask()
    assert type(trial.config["x"]) is float and type(trial.config["opt"]) is str
    assert study.tell(trial, np.float32(0.25)).value == 0.25
    assert math.isclose(study.best.value, 0.25)
    assert isinstance(study.trials[0], FrozenTrial)


# ---- a population's reports: one write and one snapshot per epoch, decisions as one by one -------

def _population_search(pruner, storage, batched, *, population=8, epochs=6, batches=3, seed=0):
    """Batches of trials reporting a noisy curve each epoch, one by one or with ``report_many``;
    returns every decision (batch, epoch, number, pruned) and the study."""
    import random

    from knobs.trial import report_many

    rng = random.Random(seed)
    study = knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), sampler=Random(seed=1), pruner=pruner,
                        storage=storage)
    decisions = []
    for b in range(batches):
        trials = [study.ask() for _ in range(population)]
        curves = {t.number: [rng.random() + 1.0 / (e + 1) for e in range(epochs)] for t in trials}
        live = list(trials)
        for epoch in range(1, epochs + 1):
            reports = [(t, epoch, curves[t.number][epoch - 1]) for t in live]
            if batched:
                pruned = report_many(reports)
            else:
                pruned = []
                for trial, step, value in reports:
                    try:
                        trial.report(step, value)
                        pruned.append(False)
                    except Pruned:
                        pruned.append(True)
            decisions += [(b, epoch, t.number, p) for (t, _, _), p in zip(reports, pruned)]
            live = [t for (t, _, _), p in zip(reports, pruned) if not p]
        for t in trials:  # told when the batch ends, as PopulationExecutor tells its members
            if t in live:
                study.tell(t, min(curves[t.number]))
            else:
                study.tell(t, state="pruned")
    return decisions, study


@pytest.mark.parametrize("storage", [None, "sqlite"])
@pytest.mark.parametrize("pruner", [Median(n_startup_trials=2, n_warmup_steps=1),
                                    ASHA(min_resource=1, reduction_factor=2, max_resource=6)])
def test_report_many_prunes_exactly_as_reporting_one_by_one(pruner, storage, tmp_path):
    url = lambda tag: None if storage is None else f"sqlite:///{tmp_path / tag}.db"  # noqa: E731
    one, alone = _population_search(pruner, url("one"), batched=False)
    many, batch = _population_search(pruner, url("many"), batched=True)
    assert many == one and any(p for *_, p in one) and not all(p for *_, p in one)
    assert [(t.state, t.value, t.intermediate) for t in batch.trials] == \
        [(t.state, t.value, t.intermediate) for t in alone.trials]


def test_report_many_is_one_storage_write_and_one_read_per_epoch():
    from knobs.trial import report_many

    class Counting(InMemoryStorage):
        def __init__(self):
            super().__init__()
            self.calls = []

        def report(self, *args):
            self.calls.append("report")
            return super().report(*args)

        def report_many(self, *args):
            self.calls.append("report_many")
            return super().report_many(*args)

        def get_trials(self, *args):
            self.calls.append("get_trials")
            return super().get_trials(*args)

    store = Counting()
    study = knobs.Study(knobs.Space({"x": knobs.Float(0.0, 1.0)}), pruner=Median(n_startup_trials=0), storage=store)
    trials = [study.ask() for _ in range(5)]
    store.calls.clear()
    nan = float("nan")
    assert report_many([(t, 1, v) for t, v in zip(trials, [0.1, 0.2, nan, 0.4, 0.5])]) == [False] * 5
    assert store.calls == ["get_trials", "report_many"]  # the NaN is not stored, as trial.report skips it
    assert trials[2].intermediate == {1: nan} and store.get_trial(study._id, 2).intermediate == {}
    assert [t.intermediate for t in store.get_trials(study._id)][:2] == [{1: 0.1}, {1: 0.2}]
    trials[0].finished = True
    with pytest.raises(TrialError, match="finished"):
        report_many([(trials[0], 2, 0.1)])


# ---- a population's batch of claims ---------------------------------------------------------------

@pytest.mark.parametrize("make_sampler", [lambda: Random(seed=4), lambda: knobs.search.Bayes(seed=4, n_initial=3)])
def test_ask_many_claims_what_one_by_one_asks_would(tmp_path, make_sampler):
    space = knobs.Space({"x": knobs.Float(0.0, 1.0), "k": knobs.Int(1, 8)})

    def claims(name, batched):
        study = knobs.Study(space, sampler=make_sampler(), storage=f"sqlite:///{tmp_path / name}.db")
        for _ in range(2):  # two batches: the second sampler sees the first batch's finished trials
            trials = study._ask_many(4) if batched else [study._ask() for _ in range(4)]
            for t in trials:
                study.tell(t, t.config["x"] + t.config["k"] / 10)
        return [t.config for t in study.trials]

    assert claims("batched", True) == claims("alone", False)


def test_ask_many_rereads_the_history_when_another_process_claims(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    space = knobs.Space({"x": knobs.Float(0.0, 1.0)})
    study = knobs.Study(space, sampler=Random(seed=0), storage=url, name="s")
    other = knobs.Study.load(url, "s", sampler=Random(seed=1))
    create = study._storage.create_trials
    calls = []

    def contended(*args, **kwargs):
        if not calls:  # another worker takes the next number first
            other.ask()
        calls.append((kwargs["number"], len(args[1])))
        return create(*args, **kwargs)

    study._storage.create_trials = contended
    taken = []
    trials = study._ask_many(3, take_slot=lambda: taken.append(1) or True)
    assert [t.number for t in trials] == [1, 2, 3] and calls == [(0, 3), (1, 3)]  # one write lost, nothing kept
    assert len(taken) == 3  # the redraw reused the budget slots the lost batch took
    assert [t.number for t in study.trials] == [0, 1, 2, 3] and len({t.config["x"] for t in study.trials}) == 4


def test_optunas_names_for_what_a_study_has_are_told_the_knobs_way():
    study = knobs.Study(SPACE)
    with pytest.raises(AttributeError, match=r"'best_params' \(Optuna's name\); in knobs: study.best.config"):
        study.best_params
    with pytest.raises(AttributeError, match=r"'enqueue_trial' \(Optuna's name\); in knobs: study.ask_fixed"):
        study.enqueue_trial({"x": 0.5})
    with pytest.raises(AttributeError, match=r"^'Study' object has no attribute 'nonsense'$"):
        study.nonsense
    assert not hasattr(study, "best_value")


def test_an_objective_written_for_optunas_define_by_run_is_told_how_knobs_declares_the_space():
    study = knobs.Study(SPACE, sampler=Random(seed=0))
    study.optimize(lambda trial: trial.suggest_float("x", -5, 5), n_trials=1)  # objective(trial): bound as (config)
    study.optimize(lambda config, trial: trial.suggest_categorical("opt", ["sgd"]), n_trials=1)
    reasons = [t.attrs["fail_reason"] for t in study.trials]
    assert all("knobs declares the space before the study" in r and "read config['lr']" in r for r in reasons)
    assert "'dict' object has no attribute 'suggest_float'" in reasons[0]
    assert "'Trial' object has no attribute 'suggest_categorical'" in reasons[1]
    with pytest.raises(AttributeError, match=r"^'Trial' object has no attribute 'nonsense'$"):
        knobs.Trial(0, {}).nonsense
