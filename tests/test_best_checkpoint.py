"""checkpoints/best.pt and the top-k trial checkpoints while several workers finish trials at once."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import torch

import knobs
from knobs.config import ModelConfig
from knobs.data import Standardizer
from knobs.pipeline.rundir._best import publish_best
from knobs.pipeline.rundir._members import keep_top, save_trial_checkpoint, trial_checkpoint
from knobs.pipeline.rundir._rundir import RunDir
from knobs.search import Random
from knobs.train import load_checkpoint

SPACE = knobs.Space({"x": knobs.Float(0.0, 1.0)})
DATA = SimpleNamespace(input_shape=(4,), n_classes=3, task="classification", scaler=Standardizer("none").fit(torch.zeros(2, 4).numpy()),
                       target=None)


def open_run(tmp_path):
    rundir = RunDir.create(tmp_path, "run")
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=f"sqlite:///{tmp_path / 'study.db'}", name="s")
    return rundir, study


def finish(rundir, study, trial, value):
    """What a worker does: write the trial's checkpoint, then the study is told its value."""
    save_trial_checkpoint(trial_checkpoint(rundir, trial.number), torch.nn.Linear(4, 3), {"x": trial.config["x"]},
                          trial.number, value, ModelConfig(), DATA)
    study.tell(trial, value)


def published(rundir):
    return load_checkpoint(rundir.best_checkpoint)["extra"]["trial"]


def test_best_pt_is_the_studys_best_whatever_order_trials_finish_in(tmp_path):
    rundir, study = open_run(tmp_path)
    first, second = study.ask(), study.ask()  # both start when no trial has finished
    finish(rundir, study, second, 0.2)
    events = []
    assert publish_best(rundir, study, lambda n, v: events.append((n, v))) == second.number
    finish(rundir, study, first, 0.3)  # worse, finishing last: it must not replace best.pt
    assert publish_best(rundir, study, lambda n, v: events.append((n, v))) == second.number
    assert published(rundir) == second.number
    assert events == [(second.number, 0.2)]  # published once: best.pt is not rewritten for nothing
    assert not list(rundir.path.glob("checkpoints/.*.tmp"))


def test_best_pt_is_read_again_only_when_it_changed(tmp_path, monkeypatch):
    import os
    import shutil

    from knobs.pipeline.rundir import _best

    rundir, study = open_run(tmp_path)
    a, b = study.ask(), study.ask()
    finish(rundir, study, a, 0.2)
    assert publish_best(rundir, study) == a.number
    loads = []
    monkeypatch.setattr(_best, "load_checkpoint", lambda path: loads.append(path) or load_checkpoint(path))
    finish(rundir, study, b, 0.5)
    assert publish_best(rundir, study) == a.number and loads == []  # unchanged since it was written here
    # another publisher replaces best.pt (a new file): the number is read from it again
    tmp = rundir.best_checkpoint.with_name("other.tmp")
    shutil.copyfile(trial_checkpoint(rundir, b.number), tmp)
    os.replace(tmp, rundir.best_checkpoint)
    assert publish_best(rundir, study) == a.number and len(loads) == 1 and published(rundir) == a.number


def test_nothing_to_publish_before_a_complete_trial(tmp_path):
    rundir, study = open_run(tmp_path)
    study.tell(study.ask(), state="failed")
    assert publish_best(rundir, study) is None and not rundir.best_checkpoint.exists()


class PausedStudy:
    """Another driver's view of the study whose read pauses until ``go``: the window in which a
    worker elsewhere tells a better trial."""

    def __init__(self, study, go):
        self.study, self.go, self.direction = study, go, study.direction

    @property
    def trials(self):
        trials = self.study.trials
        assert self.go.wait(10)
        return trials


def test_a_publisher_that_read_the_study_earlier_cannot_publish_after_a_newer_one(tmp_path):
    rundir, study = open_run(tmp_path)
    finish(rundir, study, study.ask(), 0.5)
    go = threading.Event()
    slow = threading.Thread(target=publish_best, args=(rundir, PausedStudy(study, go)))
    slow.start()  # reads the study (trial 0 best), then waits
    time.sleep(0.1)
    finish(rundir, study, study.ask(), 0.1)  # meanwhile a better trial is told ...
    fresh = threading.Thread(target=publish_best, args=(rundir, study))
    fresh.start()  # ... and its driver publishes it
    time.sleep(0.1)
    go.set()
    slow.join(10)
    fresh.join(10)
    assert published(rundir) == study.best.number == 1


def test_keep_top_keeps_running_unknown_and_top_k_checkpoints(tmp_path):
    rundir, study = open_run(tmp_path)
    trials = [study.ask() for _ in range(5)]
    for trial, value in zip(trials[:4], [0.4, 0.1, 0.3, 0.2]):
        finish(rundir, study, trial, value)
    running = trials[4]  # written its checkpoint, not yet told (another worker's trial)
    save_trial_checkpoint(trial_checkpoint(rundir, running.number), torch.nn.Linear(4, 3), {}, running.number, 0.0,
                          ModelConfig(), DATA)
    stray = trial_checkpoint(rundir, 99)  # a trial this snapshot does not know
    stray.write_bytes(b"")
    assert keep_top(rundir, study, k=2) == [0, 2]
    names = sorted(p.name for p in rundir.path.glob("checkpoints/trial-*.pt"))
    assert names == ["trial-1.pt", "trial-3.pt", "trial-4.pt", "trial-99.pt"]
