"""`knobs run --executor population`: trials trained in populations, recorded as one-by-one trials are."""

import csv
import json

import numpy as np
import pytest

from knobs.cli import main
from knobs.config import build_space, load_config
from knobs.data import Vault, VaultWarning
from knobs.errors import ConfigError
from knobs.pipeline import Display, run
from knobs.pipeline.inputs._population_check import check_population, splitting_keys
from knobs.pipeline.commands._predict import predict_file
from knobs.study import Study
from knobs.train import load_checkpoint
from knobs.trial import TrialState

pytestmark = pytest.mark.slow

SPACE = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "weight_decay": {"low": 1e-6, "high": 1e-3, "log": True},
         "optimizer": {"choices": ["adam", "adamw", "nesterov"]}, "width": 16, "depth": 1}
FAST = {"search.n_trials": 6, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "ensemble.top_k": 3, "search.space": SPACE}

TOML = """
[search]
sampler = "random"
n_trials = 6
[search.space]
lr = { low = 1e-3, high = 1e-2, log = true }
weight_decay = { low = 1e-6, high = 1e-3, log = true }
optimizer = { choices = ["adam", "adamw", "nesterov"] }
width = 16
depth = 1
[train]
epochs = 3
patience = 2
[ensemble]
top_k = 3
"""


def _cfg(tmp_path, name, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, **more})


def _trials(path):
    return Study.load(f"sqlite:///{path / 'study.db'}", "search").trials


def test_population_run_writes_what_a_one_by_one_run_writes(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(TOML)
    runs = tmp_path / "runs"
    assert main(["run", "-c", str(config), "--runs-dir", str(runs), "--name", "pop", "--executor", "population",
                 "--population", "4", "-q"]) == 0
    d = tmp_path / "runs" / "pop"
    summary = json.loads((d / "summary.json").read_text())
    assert summary["search"]["executor"] == "population" and summary["search"]["population"] == 4
    trials = _trials(d)
    assert len(trials) == 6 and all(t.state is TrialState.COMPLETE for t in trials)
    events = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
    for t in trials:  # the attributes, reports and epoch events of a one-by-one trial
        assert {"best_epoch", "epochs_run", "val_loss", "val_accuracy", "curve"} <= set(t.attrs)
        assert sorted(t.intermediate) == list(range(1, t.attrs["epochs_run"] + 1))
        epochs = [e for e in events if e["event"] == "epoch" and e["trial"] == t.number]
        assert [e["epoch"] for e in epochs] == t.attrs["curve"]["epoch"]
        assert {"train_loss", "val_loss", "val_accuracy", "lr", "seconds"} <= set(epochs[0])
    best = min(trials, key=lambda t: t.value)
    kept = sorted(int(p.stem.split("-")[1]) for p in d.glob("checkpoints/trial-*.pt"))
    assert kept == sorted(t.number for t in sorted(trials, key=lambda t: t.value)[:3])
    assert load_checkpoint(d / "checkpoints" / "best.pt")["extra"]["trial"] == best.number
    assert summary["best_trial"]["number"] == best.number and summary["test"]["n"] == 270
    assert "Learning curves of the best trial" in (d / "report.html").read_text()
    # knobs predict reads the population run's final model like any other
    with pytest.warns(VaultWarning):
        X_test, y_test = Vault(d / "vault").open(reason="test of knobs predict on a population run")
    np.save(tmp_path / "test.npy", X_test)
    with open(predict_file(d, tmp_path / "test.npy"), newline="") as handle:
        predictions = np.array([int(r["prediction"]) for r in csv.DictReader(handle)])
    assert float(np.mean(predictions == y_test)) == pytest.approx(summary["test"]["accuracy"], abs=1e-9)


@pytest.mark.parametrize("balance", [{}, {"balance.class_weight": [1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5],
                                          "balance.loss": "focal", "balance.sampler": "smote"}])
def test_a_population_trial_equals_the_same_trial_run_alone(tmp_path, balance):
    pop = run(_cfg(tmp_path, "pop", **{"search.executor": "population", "search.population": 3, **balance}),
              display=Display(quiet=True), final_test=False)
    solo = run(_cfg(tmp_path, "solo", **balance), display=Display(quiet=True), final_test=False)
    together, alone = _trials(pop.path), _trials(solo.path)
    assert [t.config for t in together] == [t.config for t in alone]  # the same seeded sampler sequence
    for a, b in zip(together, alone):
        assert a.value == pytest.approx(b.value, rel=1e-4)
        assert a.attrs["best_epoch"] == b.attrs["best_epoch"] and a.attrs["epochs_run"] == b.attrs["epochs_run"]
        assert a.attrs["population"] is True and "population" not in b.attrs


@pytest.mark.parametrize("overrides, match", [
    ({"search.workers": 2}, "search.workers = 2"),
    ({"model.family": "text_bag"}, "model.family 'text_bag'"),
    ({"balance.sampler": "oversample"}, "balance.sampler = 'oversample'"),
    ({"augment": {"hflip": 0.5}}, r"\[augment\]"),
    ({"transfer": {"source": "runs/x/checkpoints/best.pt"}}, r"\[transfer\]"),
    ({"train.precision": "fp16"}, "train.precision = 'fp16'"),
    ({"train.accumulate": 2}, "train.accumulate = 2: population mode steps every member on each batch"),
    ({"search.metric": "val_balanced_accuracy"}, "search.metric = \"val_balanced_accuracy\": population mode"),
    ({"data.folds": 3}, "data.folds = 3"),
    ({"train.schedule": "plateau"}, "train.schedule: 'plateau'"),
    ({"search.space": {**SPACE, "optimizer": {"choices": ["adam", "rmsprop"]}}}, "search.space.optimizer: optimizer 'rmsprop'"),
    ({"search.space": {**SPACE, "rho": {"low": 0.8, "high": 0.99}}}, "search.space.rho: population mode cannot set 'rho'"),
    ({"search.space": {**SPACE, "augment.hflip": {"low": 0.0, "high": 0.5}}}, "search.space.augment.hflip"),
])
def test_what_population_mode_cannot_honour_is_one_config_error(overrides, match):
    cfg = load_config(None, {**FAST, "search.executor": "population", **overrides})
    space, fixed = build_space(cfg.search.space)
    with pytest.raises(ConfigError, match=match):
        check_population(cfg, space, fixed)


def test_population_settings_without_population_mode_and_bad_input_through_the_cli(tmp_path, capsys):
    cfg = load_config(None, {**FAST, "search.population": 8})
    with pytest.raises(ConfigError, match="search.population = 8 applies to search.executor"):
        check_population(cfg, *build_space(cfg.search.space))
    for key, value in (("search.ray_address", "auto"), ("search.trial_resources", {"cpu": 2})):
        cfg = load_config(None, {**FAST, key: value})  # a Ray setting without Ray would be ignored
        with pytest.raises(ConfigError, match=f"{key} = .* applies to search.executor = \"ray\""):
            check_population(cfg, *build_space(cfg.search.space))
    runs = tmp_path / "runs"
    assert main(["run", "--runs-dir", str(runs), "--executor", "population", "--workers", "2", "-q"]) == 2
    assert "search.workers = 2" in capsys.readouterr().err and not runs.exists()
    config = tmp_path / "aug.toml"
    config.write_text("[model]\nfamily = \"convnet\"\n[search.space]\nlr = { low = 1e-3, high = 1e-2 }\n"
                      "[augment]\nhflip = 0.5\n")
    assert main(["run", "-c", str(config), "--runs-dir", str(runs), "--executor", "population", "-q"]) == 2
    assert "[augment]: population mode" in capsys.readouterr().err  # printed as written, not read as markup
    assert main(["run", "--runs-dir", str(runs), "--address", "auto", "-q"]) == 2
    assert "search.ray_address = 'auto' applies to search.executor" in capsys.readouterr().err and not runs.exists()
    space, _ = build_space({"lr": {"low": 1e-3, "high": 1e-2}, "width": {"low": 16, "high": 64},
                            "optimizer": {"choices": ["adam", "adamw"]}})
    assert splitting_keys(space) == ["width"]  # adam and adamw share a population


def test_a_worker_joining_a_population_run_trains_populations(tmp_path, capsys):
    cfg = _cfg(tmp_path, "pop", **{"search.executor": "population", "search.population": 3, "search.n_trials": 3,
                                   "search.space": {**SPACE, "optimizer": "adam"}})  # one population per batch
    d = run(cfg, display=Display(quiet=True), final_test=False).path
    url = f"sqlite:///{d / 'study.db'}"
    # a population trains in one process: --workers 2 is refused, and nothing is written
    assert main(["worker", "--storage", url, "--study", "search", "--n-trials", "3", "--workers", "2"]) == 2
    assert "population run" in capsys.readouterr().err and len(_trials(d)) == 3
    assert main(["worker", "--storage", url, "--study", "search", "--n-trials", "3"]) == 0
    trials = _trials(d)
    assert len(trials) == 6 and all(t.state is TrialState.COMPLETE for t in trials)
    assert all(t.attrs["population"] is True for t in trials[3:])  # trained together, not one by one
    events = [json.loads(line) for line in (d / "events.jsonl").read_text().splitlines()]
    joined = [e for e in events if e["event"] == "epoch" and e["trial"] >= 3 and e["epoch"] == 1]
    assert len(joined) == 3 and len({e["seconds"] for e in joined}) == 1  # one population epoch, shared
    assert (d / "checkpoints" / "best.pt").exists()


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_only_members_that_can_be_in_the_top_k_write_checkpoints(direction):
    from types import SimpleNamespace

    from knobs.pipeline.trials._population import PopulationTrials
    from knobs.population import MemberResult
    from knobs.train import History
    from knobs.trial import FrozenTrial

    sign = 1 if direction == "minimize" else -1
    told = [FrozenTrial(number=n, config={}, state=TrialState.COMPLETE, value=sign * v) for n, v in enumerate([1, 2, 3])]
    study = SimpleNamespace(trials=told, direction=direction)
    cfg = SimpleNamespace(ensemble=SimpleNamespace(top_k=3))
    values = {3: 0.5, 4: 2.5, 5: 2.0, 6: 9.0, 7: float("nan"), 8: None}  # the top 3: 0.5, 1, 2 (a tie: kept)
    trials = [SimpleNamespace(number=n) for n in values]
    results = [MemberResult(index=i, params={}, history=History(records=[], best_epoch=None),
                            best_value=None if v is None else sign * v, state_dict=None)
               for i, v in enumerate(values.values())]
    trials_of = PopulationTrials(cfg, None, {}, None, None, study=study)
    assert trials_of._contenders(trials, results) == {3, 5}
    assert PopulationTrials(cfg, None, {}, None, None)._contenders(trials, results) == {3, 4, 5, 6}  # no study
    study.trials = told[:1]  # fewer than k known and in the batch together: each one can be in the top k
    assert trials_of._contenders(trials[:2], results[:2]) == {3, 4}


def test_a_population_run_killed_mid_batch_resumes_and_retries_the_batch(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "c.toml"
    config.write_text('[search]\nsampler = "random"\nn_trials = 6\nexecutor = "population"\npopulation = 3\n'
                      '[search.space]\nlr = { low = 1e-3, high = 1e-2, log = true }\nwidth = 16\ndepth = 1\n'
                      '[train]\nepochs = 40\n[checks]\noverfit_tiny = false\ninitial_loss = false\n')
    command = [sys.executable, "-m", "knobs.cli", "tune", "-c", str(config), "--runs-dir", str(tmp_path / "runs"),
               "--name", "k", "-q"]
    events = tmp_path / "runs" / "k" / "events.jsonl"

    def second_batch_started():
        lines = events.read_text().splitlines() if events.exists() else []
        return any('"event": "epoch"' in line and json.loads(line)["trial"] >= 3 for line in lines)

    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not second_batch_started():
        assert proc.poll() is None and time.monotonic() < deadline, "the second batch never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert subprocess.run(command, capture_output=True).returncode == 0  # the same command resumes
    trials = _trials(tmp_path / "runs" / "k")
    lost = [t for t in trials if t.state is TrialState.FAILED]
    assert [t.number for t in lost] == [3, 4, 5] and {t.attrs["fail_reason"] for t in lost} == {"abandoned: process died"}
    retries = {t.attrs["retry_of"]: t for t in trials if "retry_of" in t.attrs}
    assert sorted(retries) == [3, 4, 5] and all(retries[t.number].config == t.config for t in lost)
    assert all(t.attrs.get("population") for t in retries.values())  # the retries trained as a population
    assert sum(t.state is TrialState.COMPLETE for t in trials) == 6  # the budget, nothing finished lost
    assert (tmp_path / "runs" / "k" / "checkpoints" / "best.pt").exists()
