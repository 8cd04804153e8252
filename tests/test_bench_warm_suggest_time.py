"""bench/warm_suggest_time.py: the per-suggestion cost of weighing warm-start sources, vetted against unvetted."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import warm_suggest_time as wst  # noqa: E402


def test_the_history_holds_a_marked_source_and_the_runs_own_trials():
    space = wst.REAL_PROBLEMS["lcbench_digits"].space()
    trials = wst.history(space, 40, 20, seed=0)
    assert sum(wst.WARM_START in t.attrs for t in trials) == 40 and len(trials) == 60


def test_it_times_both_samplers_at_each_size_and_writes_them(tmp_path):
    out = tmp_path / "t.json"
    result = wst.main(["--repeats", "1", "--out", str(out)])
    assert [r["own_trials"] for r in result["rows"]] == [20, 40, 80]
    assert all(r["vetted_ms"] > 0 and r["unvetted_ms"] > 0 for r in result["rows"])
    assert json.loads(out.read_text()) == result
