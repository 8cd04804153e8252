"""optimize(workers=N): local processes sharing one SQLite study; the optimistic claim rule."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest

import knobs
from knobs.errors import ConfigError, KnobsError
from knobs.search import Random
from knobs.storage import NumberTaken, SQLStorage
from knobs.study._budget import Budget
from knobs.study._workers import _one_thread_env
from knobs.trial import TrialState

SPACE = knobs.Space({"x": knobs.Float(-5.0, 5.0), "opt": knobs.Choice(["sgd", "adam"])})


def record_worker(config, trial):
    """Module-level, so it pickles: who ran it, with how many BLAS threads, a little slowly.

    With $KNOBS_TEST_MEET set to a folder, each process's first trial waits there until two
    processes have arrived: both then hold a trial, however late a loaded machine started one.
    """
    trial.set_attr("pid", os.getpid())
    trial.set_attr("omp", os.environ.get("OMP_NUM_THREADS"))
    trial.report(1, config["x"])
    meet = os.environ.get("KNOBS_TEST_MEET")
    if meet:
        Path(meet, str(os.getpid())).touch()
        deadline = time.monotonic() + 120
        while len(list(Path(meet).iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    time.sleep(0.2)
    return (config["x"] - 1.0) ** 2


def fail_on_third(config, trial):
    if trial.number == 2:
        raise ConfigError("model.width must be > 0 (raised in a worker)")
    time.sleep(0.05)
    return config["x"]


def url_of(tmp_path, name="study.db"):
    return f"sqlite:///{tmp_path / name}"


# ---- several processes ---------------------------------------------------------------------------
def test_two_workers_share_the_budget_and_the_seeded_sequence(tmp_path, monkeypatch):
    (tmp_path / "meet").mkdir()
    monkeypatch.setenv("KNOBS_TEST_MEET", str(tmp_path / "meet"))  # both processes run trials (record_worker)
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=url_of(tmp_path), name="s")
    seen, env = [], os.environ.get("OMP_NUM_THREADS")
    study.optimize(record_worker, n_trials=8, workers=2, callbacks=[lambda s, t: seen.append((s, t.number, t.state))])
    trials = study.trials
    assert [t.number for t in trials] == list(range(8))  # n_trials counts across the workers
    assert all(t.state is TrialState.COMPLETE and t.intermediate == {1: t.config["x"]} for t in trials)
    pids = {t.attrs["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids  # both worker processes ran trials
    assert {t.attrs["omp"] for t in trials} == {"1"}  # one BLAS/OpenMP thread per worker
    assert os.environ.get("OMP_NUM_THREADS") == env  # the parent's own setting is left as it was
    # callbacks ran here, in the parent, once per finished trial
    assert sorted(n for _, n, _ in seen) == list(range(8)) and all(s is study for s, _, _ in seen)
    # every config was chosen knowing all trials before it: the one seeded sequence, no repeats
    reference = knobs.Study(SPACE, sampler=Random(seed=0))
    reference.optimize(lambda config, trial: 0.0, n_trials=8)
    assert [t.config for t in trials] == [t.config for t in reference.trials]
    assert study.best.value == min(t.value for t in trials)


def test_a_worker_error_propagates_and_nothing_stays_running(tmp_path):
    study = knobs.Study(SPACE, sampler=Random(seed=1), storage=url_of(tmp_path), name="s")
    with pytest.raises(ConfigError, match="model.width must be > 0") as info:
        study.optimize(fail_on_third, n_trials=30, workers=2)
    assert any("worker process" in note for note in getattr(info.value, "__notes__", []))
    trials = study.trials
    assert len(trials) < 30 and not [t for t in trials if t.state is TrialState.RUNNING]
    assert trials[2].state is TrialState.FAILED and "model.width" in trials[2].attrs["fail_reason"]
    # a callback's stop() reaches the workers: no new trial starts after it
    stopper = knobs.Study(SPACE, sampler=Random(seed=2), storage=url_of(tmp_path, "stop.db"), name="s")
    stopper.optimize(record_worker, n_trials=40, workers=2, callbacks=[lambda s, t: s.stop()], timeout=60)
    assert 1 <= len(stopper.trials) <= 4 and all(t.state.finished for t in stopper.trials)


# ---- bad input: one clear error, before any process starts -------------------------------------------
@pytest.mark.parametrize("storage", [None, "sqlite://"])
def test_in_memory_study_needs_a_database_url(storage):
    study = knobs.Study(SPACE, storage=storage)
    with pytest.raises(ConfigError, match=r"optimize\(workers=...\) needs a study stored in a database.*"
                                          r"storage='sqlite:///study.db'"):
        study.optimize(record_worker, n_trials=2, workers=2)
    assert study.trials == []


def test_unpicklable_objective_is_named(tmp_path):
    study = knobs.Study(SPACE, storage=url_of(tmp_path), name="s")
    with pytest.raises(ConfigError, match=r"the objective must be picklable .*module-level function.*lambda"):
        study.optimize(lambda config, trial: 1.0, n_trials=2, workers=2)

    class Local:
        def __call__(self, config, trial):
            return 1.0

    with pytest.raises(ConfigError, match="must be picklable"):
        study.optimize(Local(), n_trials=2, workers=2)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="workers"):
            study.optimize(record_worker, n_trials=2, workers=bad)
    with pytest.raises(ConfigError, match="executor"):
        study.optimize(record_worker, n_trials=2, executor="ray")
    assert study.trials == []


# ---- the claim rule, in one process ---------------------------------------------------------------
class Meddler:
    """A sampler that lets another worker claim a trial while it is choosing (a forced race)."""

    def __init__(self, other):
        self.inner, self.other, self.seen, self.raced = Random(seed=5), other, [], False

    def suggest(self, space, trials, n=1, *, direction="minimize"):
        self.seen.append([t.number for t in trials])
        if not self.raced:
            self.raced = True
            self.other.ask()  # the other worker stores trial len(trials) first
        return self.inner.suggest(space, trials, n, direction=direction)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def test_a_lost_race_resamples_with_the_winners_trial_in_view(tmp_path):
    url = url_of(tmp_path)
    other = knobs.Study(SPACE, sampler=Random(seed=9), storage=url, name="s")
    other.tell(other.ask(), 1.0)
    meddler = Meddler(other)
    study = knobs.Study(SPACE, sampler=meddler, storage=url, name="s")
    trial = study.ask()
    # first try saw [0] and lost trial 1 to the other worker; the second saw it (running)
    assert meddler.seen == [[0], [0, 1]] and trial.number == 2
    trials = study.trials
    assert trials[1].state is TrialState.RUNNING and trial.config != trials[1].config
    stored = SQLStorage(url, create=False)
    with pytest.raises(NumberTaken):
        stored.create_trial(study._id, {"x": 0.0, "opt": "sgd"}, number=2)
    assert stored.create_trial(study._id, {"x": 0.0, "opt": "sgd"}, number=3).number == 3
    stored.close()


def test_a_joining_worker_continues_the_stored_sequence(tmp_path):
    url = url_of(tmp_path)
    first = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    first.ask()  # running, not told: a busy worker
    second = knobs.Study(SPACE, sampler=Random(seed=0), storage=url, name="s")
    a, b = second.ask(), first.ask()  # alternating asks of two processes with one seed
    reference = knobs.Study(SPACE, sampler=Random(seed=0))
    expected = [reference.ask().config for _ in range(3)]
    assert [t.config for t in first.trials] == expected and (a.number, b.number) == (1, 2)


def test_budget_counts_slots_and_deadline():
    budget = Budget(2, None)
    assert budget.take() and budget.take() and not budget.take() and budget.taken == 2
    assert Budget(None, None).take()
    assert not Budget(5, time.time() - 1).open() and not Budget(5, time.time() - 1).take()
    with _one_thread_env():
        assert os.environ["MKL_NUM_THREADS"] == "1"
    pickle.dumps(Budget(1, None))  # the private counter is plain data


def test_knobs_error_is_still_a_knobs_error_after_pickling():
    error = pickle.loads(pickle.dumps(ConfigError("x must be > 0")))
    assert isinstance(error, KnobsError) and str(error) == "x must be > 0"


# ---- the pipeline's objective for workers ---------------------------------------------------------
def test_pipeline_objective_travels_as_config_and_paths(tmp_path):
    from knobs.config import load_config
    from knobs.pipeline.stages._remote import PipelineObjective
    from knobs.pipeline.stages._runners import runner_for
    from knobs.pipeline.stages._study import claim_run, run_record
    from knobs.pipeline.rundir._rundir import RunDir

    cfg = load_config(None, {"search.workers": 2, "search.n_trials": 3})
    rundir = RunDir.create(tmp_path / "runs", "r")
    study = knobs.Study(SPACE, storage=url_of(tmp_path), name="search")
    objective = runner_for(cfg.search).objective(cfg, object(), rundir, study, url_of(tmp_path))
    assert isinstance(objective, PipelineObjective)
    blob = pickle.dumps(objective)
    assert len(blob) < 20_000  # no tensors, files or displays: the worker rebuilds them
    again = pickle.loads(blob)
    assert (again.cfg, again.run_dir, again.study_name) == (cfg, str(rundir.path.resolve()), "search")
    in_process = object()
    default = load_config(None, {})
    assert runner_for(default.search).objective(default, in_process, rundir, study, url_of(tmp_path)) is in_process

    claim_run(study, cfg, rundir)
    assert study.attrs["run"]["config"]["search"] == {"workers": 2, "n_trials": 3}  # only what was set
    with pytest.raises(ConfigError, match="run directory .* is not reachable"):
        run_record("search", study.attrs, study.storage.url)  # no vault sealed there yet
    (rundir.path / "vault").mkdir()
    assert run_record("search", study.attrs, study.storage.url) == (cfg, rundir.path.resolve())
    other = RunDir.create(tmp_path / "elsewhere", "r")
    with pytest.raises(ConfigError, match=r"belongs to the run in .*runs/r; choose another run name"):
        claim_run(study, cfg, other)
