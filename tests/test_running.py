"""The progress of trials running in workers: read from the study's storage, one bar per trial."""

from __future__ import annotations

import io
import time

from rich.console import Console

import knobs
from knobs.pipeline import Display
from knobs.pipeline.ui._running import TrialProgress, running_progress, watch_running
from knobs.search import Random

SPACE = knobs.Space({"x": knobs.Float(0.0, 1.0)})


def test_running_trials_are_read_from_the_study_while_the_block_runs(tmp_path):
    study = knobs.Study(SPACE, sampler=Random(seed=0), storage=f"sqlite:///{tmp_path / 'study.db'}", name="s")
    done, busy, fresh = study.ask(), study.ask(), study.ask()
    study.tell(done, 0.5)
    busy.report(1, 0.9)
    busy.report(2, 0.7)  # as a worker process reports, straight to the storage
    seen = []
    expected = [TrialProgress(busy.number, 2, 0.7), TrialProgress(fresh.number, 0, None)]
    with watch_running(study, seen.append, interval_s=0.02):
        deadline = time.monotonic() + 30  # waited for, not slept on: a loaded machine runs the thread late
        while not (seen and seen[-1] == expected) and time.monotonic() < deadline:
            time.sleep(0.02)
    assert seen and seen[-1] == expected
    count = len(seen)
    time.sleep(0.1)
    assert len(seen) == count  # the thread stopped with the block
    assert running_progress(study.trials) == seen[-1]


def test_one_bar_per_running_trial_and_finished_ones_go():
    out = io.StringIO()
    with Display(console=Console(file=out, width=100)).search(total=4, done=0, epochs=5, metric="val_loss") as bars:
        bars.running([TrialProgress(0, 2, 0.5), TrialProgress(1, 0, None)])
        names = {t.description: t for t in bars.progress.tasks}
        assert names["trial 0"].completed == 2 and names["trial 0"].fields["info"] == "val_loss 0.5000"
        assert names["trial 1"].completed == 0 and not names["epochs"].visible
        bars.running([TrialProgress(1, 3, 0.25)])
        names = {t.description: t for t in bars.progress.tasks}
        assert "trial 0" not in names and names["trial 1"].completed == 3
