"""Warm starts (issue 17, item 6): an earlier study's trials fed to the sampler, never stored."""

from __future__ import annotations

import json

import pytest

from knobs.config import load_config
from knobs.errors import ConfigError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._python_run import run_config
from knobs.pipeline.stages._study import open_study
from knobs.search import Random
from knobs.search._bayes import Bayes
from knobs.search._history import WARM_START, model_history
from knobs.space import Choice, Float, Int, Space
from knobs.study import Study, WarmStart
from knobs.trial import FrozenTrial, TrialState

SPACE = Space({"x": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
               "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})


def bowl(config, trial=None):
    """Best at x = 7, n = 3, act = tanh (a shape both studies share)."""
    return (config["x"] - 7.0) ** 2 + (config["n"] - 3) ** 2 + (config["act"] != "tanh") * 4.0


def source_study(tmp_path, space=SPACE, objective=bowl, n=16, name="search", pruned=0, direction="minimize"):
    """An earlier study in ``tmp_path/earlier/study.db`` (a run directory's layout)."""
    folder = tmp_path / "earlier"
    folder.mkdir(exist_ok=True)
    url = f"sqlite:///{folder / 'study.db'}"
    with Study(space, sampler=Random(seed=3), storage=url, name=name, direction=direction) as study:
        study.optimize(objective, n_trials=n)
        for _ in range(pruned):
            trial = study.ask()
            trial.report(1, 99.0)
            study.tell(trial, state="pruned")
        failed = study.ask()
        study.tell(failed, state="failed")
    return folder


class Recording(Bayes):
    """Bayes that keeps what each suggestion saw (how many of this study's trials, how many fed)."""

    def suggest(self, space, trials, n=1, *, direction="minimize"):
        self.seen = getattr(self, "seen", []) + [(sum(WARM_START not in t.attrs for t in trials),
                                                 sum(WARM_START in t.attrs for t in trials))]
        return super().suggest(space, trials, n, direction=direction)


def test_fed_trials_reach_the_sampler_but_are_never_this_studys(tmp_path):
    folder = source_study(tmp_path, pruned=2)
    sampler = Recording(seed=0)
    study = Study(SPACE, sampler=sampler, storage=f"sqlite:///{tmp_path / 'new.db'}", warm_start=folder)
    warm = study.warm_trials
    assert len(warm) == 18  # 16 complete + 2 pruned; the failed one is not fed
    assert sorted(t.number for t in warm) == list(range(-18, 0))
    assert all(t.attrs[WARM_START].endswith("#search") for t in warm)
    study.optimize(lambda c, t: bowl(c) + 100.0, n_trials=3)  # worse than every fed value
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert study.best.number >= 0 and study.best.value >= 100.0
    assert all(t.number >= 0 for t in study.top_trials(5))
    assert sampler.seen == [(0, 18), (1, 18), (2, 18)]


def test_a_resume_feeds_them_again_and_stores_none(tmp_path):
    folder = source_study(tmp_path)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with Study(SPACE, sampler=Bayes(seed=0), storage=url, warm_start=folder) as study:
        study.optimize(bowl, n_trials=2)
        crashed = study.ask()  # left running, as a crash leaves it
    sampler = Recording(seed=0)
    again = Study.load(url, sampler=sampler, warm_start=WarmStart(folder))
    again.stale_after_s = 0.0
    again.optimize(bowl, n_trials=2)
    numbers = [t.number for t in again.trials]
    assert numbers == list(range(len(numbers))) and crashed.number in numbers
    assert len(again.trials) <= 6  # 2 + the abandoned one (+ its retry) + 2: no fed trial stored
    assert {fed for _, fed in sampler.seen} == {17 - 1}  # 16 complete fed each time, not 32
    assert len(again.warm_trials) == 16


def test_bayes_starts_from_the_fed_optimum(tmp_path):
    folder = source_study(tmp_path, n=24)
    cold = Study(SPACE, sampler=Bayes(seed=1))
    cold.optimize(bowl, n_trials=3)
    warm = Study(SPACE, sampler=Bayes(seed=1), warm_start=folder)
    warm.optimize(bowl, n_trials=3)
    assert min(t.value for t in warm.trials) < min(t.value for t in cold.trials)
    assert min(t.value for t in warm.trials) < min(t.value for t in warm.warm_trials)  # it improves on them


def test_renamed_axes_map_with_rename_and_are_refused_without(tmp_path):
    old = Space({"learning_rate": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
                 "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})
    folder = source_study(tmp_path, space=old, objective=lambda c, t: c["learning_rate"])
    with pytest.raises(ConfigError) as e:
        Study(SPACE, sampler=Bayes(), warm_start=folder)
    message = str(e.value)
    assert "'x' is not among its axes" in message and "'learning_rate' is not in this space" in message
    assert "rename={'old name': 'new name'}" in message and message.count("Fix:") == 1
    study = Study(SPACE, sampler=Bayes(), warm_start=WarmStart(folder, rename={"learning_rate": "x"}))
    assert len(study.warm_trials) == 16 and all("x" in t.config for t in study.warm_trials)


def test_narrowed_axes_drop_the_trials_outside_and_never_clip_them(tmp_path):
    folder = source_study(tmp_path, n=30)
    narrow = Space({"x": Float(2.0, 6.0), "n": Int(1, 5), "act": Choice(["relu", "tanh"]),
                    "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})
    source = Study.load(f"sqlite:///{folder / 'study.db'}")
    inside = [t for t in source.trials if t.state == TrialState.COMPLETE and 2.0 <= t.config["x"] <= 6.0
              and t.config["n"] <= 5 and t.config["act"] != "gelu"]
    study = Study(narrow, sampler=Bayes(), warm_start=folder)
    assert sorted(t.config["x"] for t in study.warm_trials) == sorted(t.config["x"] for t in inside)
    assert study._warm.dropped == 30 - len(inside) > 0
    wider = Space({"x": Float(-5.0, 20.0), "n": Int(0, 8), "act": Choice(["relu", "tanh", "gelu", "silu"]),
                   "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})
    assert len(Study(wider, sampler=Bayes(), warm_start=folder).warm_trials) == 30


@pytest.mark.parametrize("space, words", [
    (Space({"x": Int(0, 10), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
            "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})}), "'x' is a float there and a int here"),
    (Space({"x": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
            "slope": Float(0.01, 0.3, log=True, when={"act": ["relu", "gelu"]})}), "'slope' is active when"),
    (Space({"x": Float(20.0, 30.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
            "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})}), "'x' shares no value"),
    (Space({"x": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
            "slope": Float(0.01, 0.3, log=True, when={"act": "relu"}), "extra": Float(0, 1)}),
     "'extra' is not among its axes"),
], ids=["kind", "condition", "disjoint", "new-axis"])
def test_other_mismatches_are_refused_in_one_message(tmp_path, space, words):
    folder = source_study(tmp_path, n=4)
    with pytest.raises(ConfigError, match="cannot warm-start this study") as e:
        Study(space, sampler=Bayes(), warm_start=folder)
    assert words in str(e.value) and "Fix:" in str(e.value)


def test_bad_sources_samplers_and_directions_are_named(tmp_path):
    folder = source_study(tmp_path, n=4)
    with pytest.raises(ConfigError, match="does not exist"):
        Study(SPACE, sampler=Bayes(), warm_start=tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="without a study.db"):
        Study(SPACE, sampler=Bayes(), warm_start=tmp_path / "empty")
    with pytest.raises(ConfigError, match="Random does not keep"):
        Study(SPACE, sampler=Random(), warm_start=folder)
    with pytest.raises(ConfigError, match="it was to minimize its values, this study is to maximize"):
        Study(SPACE, sampler=Bayes(), direction="maximize", warm_start=folder)
    with pytest.raises(ConfigError, match="this study itself"):
        Study(SPACE, sampler=Bayes(), storage=f"sqlite:///{folder / 'study.db'}", name="search", warm_start=folder)
    with pytest.raises(ConfigError, match="rename names 'nope'"):
        Study(SPACE, sampler=Bayes(), warm_start=WarmStart(folder, rename={"nope": "x"}))


def test_each_studys_losses_are_standardized_on_their_own():
    space = Space({"x": Float(0.0, 1.0)})
    own = [FrozenTrial(0, {"x": 0.1}, TrialState.COMPLETE, 0.5), FrozenTrial(1, {"x": 0.2}, TrialState.COMPLETE, 0.7)]
    fed = [FrozenTrial(-1 - i, {"x": x}, TrialState.COMPLETE, v, attrs={WARM_START: "a"})
           for i, (x, v) in enumerate([(0.3, 10.0), (0.4, 20.0), (0.5, 30.0)])]
    losses = [round(loss, 3) for _, loss in model_history(own + fed, "minimize", space, needed=2)]
    assert losses == [-1.0, 1.0, -1.225, 0.0, 1.225]


@pytest.mark.slow
def test_a_run_warm_starts_from_an_earlier_run_directory(tmp_path):
    fast = {"runs_dir": str(tmp_path / "runs"), "search.n_trials": 3, "train.epochs": 2, "train.patience": 1,
            "checks.overfit_tiny": False, "ensemble.enabled": False, "data.rows": 300,
            "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 16, "high": 32}}}
    first = run(load_config(None, {**fast, "name": "exp1", "search.sampler": "random"}),
                display=Display(quiet=True), final_test=False)
    narrowed = Space({"lr": Float(1e-3, 1e-2, log=True), "width": Int(16, 24)})
    cfg = load_config(None, {**fast, "name": "exp2", "search.warm_start": str(first.path)})
    study = open_study(cfg, "sqlite://", "search", narrowed)
    assert 0 < len(study.warm_trials) <= 3 and all(16 <= t.config["width"] <= 24 for t in study.warm_trials)
    renamed = Space({"learning_rate": Float(1e-3, 1e-2, log=True), "width": Int(16, 32)})
    with pytest.raises(ConfigError, match="'learning_rate' is not among its axes"):
        open_study(cfg, "sqlite://", "search", renamed)
    cfg = load_config(None, {**fast, "search.warm_start": str(first.path),
                             "search.warm_start_rename": {"lr": "learning_rate"}})
    assert len(open_study(cfg, "sqlite://", "search", renamed).warm_trials) == 3
    assert open_study(cfg, "sqlite://", "search", renamed).warm_start["renamed"] == {"lr": "learning_rate"}
    # the run says in events.jsonl what it was fed: the source, how many trials, what was dropped
    warm = run(load_config(None, {**fast, "name": "exp3", "search.n_trials": 1, "search.warm_start": str(first.path),
                                  "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True},
                                                   "width": {"low": 16, "high": 24}}}),
               display=Display(quiet=True), final_test=False)
    events = [json.loads(line) for line in (warm.path / "events.jsonl").read_text().splitlines()]
    fed = [e for e in events if e["event"] == "warm_start"]
    kept = sum(16 <= t.config["width"] <= 24 for t in Study.load(f"sqlite:///{first.path / 'study.db'}").trials)
    assert len(fed) == 1 and (fed[0]["fed"], fed[0]["finished"], fed[0]["dropped"]) == (kept, 3, 3 - kept)
    assert fed[0]["renamed"] == {} and fed[0]["study"] == "search" and fed[0]["source"].endswith("exp1/study.db")
    cold = run(load_config(None, {**fast, "name": "exp4", "search.n_trials": 1}), display=Display(quiet=True),
               final_test=False)
    assert '"event": "warm_start"' not in (cold.path / "events.jsonl").read_text()


def test_the_config_keys_are_checked():
    with pytest.raises(ConfigError, match="warm_start_rename is set without search.warm_start"):
        load_config(None, {"search.warm_start_rename": {"lr": "learning_rate"}})
    cfg = load_config(None, {"search.warm_start": "runs/exp1"})
    assert cfg.search.warm_start.endswith("/runs/exp1") and cfg.search.warm_start.startswith("/")
    assert load_config(None, {"search.warm_start": "sqlite:///x.db"}).search.warm_start == "sqlite:///x.db"
    assert run_config(warm_start="runs/exp1").search.warm_start == cfg.search.warm_start  # knobs.run's shortcut
