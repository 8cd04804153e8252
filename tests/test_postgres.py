"""PostgreSQL studies on a real server: the storage contract, atomic claims across processes,
`knobs worker` joining a study, and clear errors for a wrong URL or study name."""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest
from typer.testing import CliRunner

import knobs
from knobs.cli import app
from knobs.errors import KnobsError
from knobs.search import Random
from knobs.storage import SQLStorage, get_storage, list_studies
from knobs.trial import TrialState

# The storage contract suite of test_storage.py, run again with the `storage` fixture below.
from test_storage import (  # noqa: F401 — collected here as PostgreSQL tests
    test_create_trials_is_all_or_nothing, test_heartbeat_moves_forward, test_list_studies_summary, test_numbers_are_atomic_across_threads,
    test_report_many_attrs_and_finish_trials_are_one_atomic_write, test_study_records, test_trial_lifecycle,
)

SPACE = knobs.Space({"x": knobs.Float(0.0, 1.0), "opt": knobs.Choice(["sgd", "adam"])})


@pytest.fixture
def storage(postgres_url):
    store = SQLStorage(postgres_url)
    yield store
    store.close()


def claim_and_sleep(config, trial):
    """Module-level (picklable): record who ran the trial; slow enough that workers overlap."""
    trial.set_attr("pid", os.getpid())
    trial.report(1, config["x"])
    time.sleep(0.15)
    return config["x"]


def test_postgres_json_and_reopen(postgres_url):
    study = knobs.Study(SPACE, sampler=Random(seed=3), storage=postgres_url, name="pg")
    study.optimize(claim_and_sleep, n_trials=2)
    again = knobs.Study.load(postgres_url, "pg")
    assert [t.config for t in again.trials] == [t.config for t in study.trials]
    assert again.trials[0].intermediate == {1: again.trials[0].value} and isinstance(again.sampler, Random)
    assert list_studies(postgres_url)[0]["n_complete"] == 2
    assert study.storage.connect_url.startswith("postgresql://knobs:knobs@")  # workers get the password
    assert "***" in study.storage.url  # messages do not


def test_three_processes_claim_each_trial_once(postgres_url):
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=postgres_url, name="claims")
    study.optimize(claim_and_sleep, n_trials=9, workers=3)
    trials = study.trials
    assert [t.number for t in trials] == list(range(9)) and all(t.state is TrialState.COMPLETE for t in trials)
    assert len({(t.config["x"], t.config["opt"]) for t in trials}) == 9  # no config ran twice
    by_pid = Counter(t.attrs["pid"] for t in trials)
    assert len(by_pid) >= 2 and os.getpid() not in by_pid  # really run by several worker processes
    reference = knobs.Study(SPACE, sampler=Random(seed=0))
    reference.optimize(lambda config, trial: config["x"], n_trials=9)
    # the stored sampler state travels with each claim: the same sequence as one process
    assert [t.config for t in trials] == [t.config for t in reference.trials]


def test_unreachable_postgres_is_one_clear_error(tmp_path, monkeypatch):
    # NOTE: "at once" asserted as the mechanism, not the clock: a refused connection is no transient
    # error, so the storage's retry loop (up to two minutes of backoff) never sleeps on it.
    from knobs.storage import _retry

    def backoff(seconds):
        raise AssertionError(f"a refused connection was retried (backoff of {seconds:.3f} s)")

    monkeypatch.setattr(_retry.time, "sleep", backoff)
    with pytest.raises(KnobsError, match=r"cannot be reached: .*refused.*is the server running"):
        knobs.Study(SPACE, storage="postgresql://knobs:secret@127.0.0.1:1/nowhere", name="s")
    runner = CliRunner()
    for args in (["worker", "--storage", "postgresql://knobs:secret@127.0.0.1:1/nowhere", "--study", "s"],
                 ["studies", "list", "postgresql://knobs:secret@127.0.0.1:1/nowhere"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "cannot be reached" in result.output
        assert "secret" not in result.output  # the password is masked


def test_worker_for_a_missing_study_names_those_there(postgres_url):
    knobs.Study(SPACE, storage=postgres_url, name="present")
    result = CliRunner().invoke(app, ["worker", "--storage", postgres_url, "--study", "absent"])
    assert result.exit_code == 2
    assert "no study named 'absent'" in result.output and "'present'" in result.output
    # a study that `knobs run` did not create has no run config to rebuild an objective from
    result = CliRunner().invoke(app, ["worker", "--storage", postgres_url, "--study", "present"])
    assert result.exit_code == 2 and "not created by `knobs run` / `knobs tune`" in result.output
    assert [t.state for t in knobs.Study.load(postgres_url, "present").trials] == []  # nothing written


@pytest.mark.slow
def test_tune_in_postgres_then_a_worker_joins(postgres_url, tmp_path):
    """One end-to-end run: `knobs tune --storage PG --workers 2`, then `knobs worker` adds a trial."""
    config = tmp_path / "c.toml"
    config.write_text(f'runs_dir = "{tmp_path / "runs"}"\n[search]\nsampler = "random"\nn_trials = 3\n'
                      '[search.space]\nlr = { low = 1e-3, high = 1e-2, log = true }\nwidth = 32\n'
                      '[train]\nepochs = 2\n[checks]\noverfit_tiny = false\ninitial_loss = false\n'
                      '[ensemble]\ntop_k = 2\n')
    runner = CliRunner()
    result = runner.invoke(app, ["tune", "-c", str(config), "--name", "pgrun", "--storage", postgres_url,
                                 "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    study = knobs.Study.load(postgres_url, "pgrun")
    assert len(study.trials) == 3 and all(t.state is TrialState.COMPLETE for t in study.trials)
    assert study.attrs["run"]["run_dir"] == str((tmp_path / "runs" / "pgrun").resolve())
    result = runner.invoke(app, ["worker", "--storage", postgres_url, "--study", "pgrun"])
    assert result.exit_code == 0 and "0 trials finished here; 3 of 3" in result.output  # budget reached
    result = runner.invoke(app, ["worker", "--storage", postgres_url, "--study", "pgrun", "--n-trials", "1"])
    assert result.exit_code == 0 and "1 trials finished here" in result.output, result.output
    trials = knobs.Study.load(postgres_url, "pgrun").trials
    assert len(trials) == 4 and trials[3].state is TrialState.COMPLETE and trials[3].attrs["epochs_run"] == 2
    assert len({t.config["lr"] for t in trials}) == 4
    checkpoints = sorted(p.name for p in (tmp_path / "runs" / "pgrun" / "checkpoints").glob("trial-*.pt"))
    best_two = sorted(trials, key=lambda t: t.value)[:2]
    assert checkpoints == sorted(f"trial-{t.number}.pt" for t in best_two)
    assert get_storage(postgres_url, create=False).study_names() == ["pgrun"]


def test_a_population_reports_and_tells_in_batches_on_postgres(postgres_url):
    import torch

    from knobs.population import PopulationObjective, optimize_population
    from knobs.prune import Median

    torch.manual_seed(0)
    X, y = torch.randn(96, 8), torch.randint(0, 3, (96,))
    space = knobs.Space({"lr": knobs.Float(1e-3, 1e-1, log=True)})
    study = knobs.Study(space, sampler=Random(seed=0), pruner=Median(n_startup_trials=2), storage=postgres_url,
                        name="population")
    objective = PopulationObjective("mlp", (X, y), (X, y), fixed={"width": 8, "depth": 1}, epochs=3, batch_size=32,
                                    device="cpu")
    optimize_population(study, objective, n_trials=8, population=4)
    trials = knobs.Study.load(postgres_url, "population").trials
    assert len(trials) == 8 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert all(t.intermediate and t.attrs.get("best_epoch") is not None for t in trials
               if t.state is TrialState.COMPLETE)
