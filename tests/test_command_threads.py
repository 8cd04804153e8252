"""`knobs predict` and `knobs evaluate` run torch on the run's `train.threads` (or `--threads`), as
training does, instead of every core of a shared machine."""

import json

import numpy as np
import pytest
import torch

from knobs.cli import main
from knobs.config import load_config
from knobs.pipeline import Display, run
from knobs.pipeline.commands._threads import run_threads

FAST = {"search.n_trials": 1, "search.sampler": "random", "train.epochs": 1, "train.patience": 1,
        "checks.overfit_tiny": False, "checks.initial_loss": False, "ensemble.enabled": False,
        "search.space": {"lr": 1e-2, "width": {"low": 8, "high": 16}, "depth": 1, "optimizer": "adam"}}


def _table(path, n, seed):
    rng = np.random.default_rng(seed)
    rows = ["a,b,label"]
    for _ in range(n):
        a, b = rng.normal(), rng.normal()
        rows.append(f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def three_thread_run(tmp_path_factory):
    """A finished CSV run trained with train.threads = 3, and a labelled file to apply it to."""
    tmp = tmp_path_factory.mktemp("threads")
    _table(tmp / "train.csv", 80, 0)
    _table(tmp / "new.csv", 20, 1)
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp / "runs"), "name": "t", "train.threads": 3,
                             "data.source": str(tmp / "train.csv"), "data.target": "label"})
    before = torch.get_num_threads()
    result = run(cfg, display=Display(quiet=True))
    torch.set_num_threads(before)  # NOTE: the run capped this process's threads at 3
    return tmp, result.path


@pytest.fixture
def threads_set(monkeypatch):
    """Every value given to torch.set_num_threads (none reaches torch: the test process keeps its own)."""
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    return calls


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_the_runs_train_threads_reach_torch(three_thread_run, threads_set, command, tmp_path):
    tmp, run_dir = three_thread_run
    extra = ["--output", str(tmp_path / "p.csv")] if command == "predict" else []
    assert main([command, "--run", str(run_dir), "--input", str(tmp / "new.csv"), *extra]) == 0
    assert threads_set == [3]


@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_threads_option_overrides_the_runs_setting(three_thread_run, threads_set, command, tmp_path):
    tmp, run_dir = three_thread_run
    extra = ["--output", str(tmp_path / "p.csv")] if command == "predict" else []
    assert main([command, "--run", str(run_dir), "--input", str(tmp / "new.csv"), "--threads", "2", *extra]) == 0
    assert threads_set == [2]
    assert main([command, "--run", str(run_dir), "--input", str(tmp / "new.csv"), "--threads", "0", *extra]) == 2
    assert threads_set == [2]  # refused before anything ran


def test_a_run_whose_log_does_not_say_gets_the_default_and_the_last_start_wins(tmp_path):
    assert run_threads(tmp_path) == 1
    starts = [{"event": "run_start", "config": {"train": {"threads": 4}}},
              {"event": "trial"}, "not json",
              {"event": "run_start", "config": {"train": {"threads": 2}}}]
    (tmp_path / "events.jsonl").write_text("\n".join(s if isinstance(s, str) else json.dumps(s) for s in starts))
    assert run_threads(tmp_path) == 2
