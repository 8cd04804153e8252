"""bench/warm_start_ceiling.py: a warm start from another cold run of the target itself.

Why: docs/benchmarks.md reads item 6's ceiling from this benchmark; if the stored run were written back with other
values, or not fed to the warm run as its source, or the counts compared with the wrong cold run, the ceiling would
be wrong without any test failing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import warm_start_ceiling as wsc  # noqa: E402
import warm_start_real as wsr  # noqa: E402


def stored_run(space, seed, trials=9):
    configs = space.sample(seed, trials)
    return {"configs": configs, "values": [0.1 + 0.01 * i for i in range(trials - 1)] + [None]}


def test_a_stored_run_is_written_back_as_a_study_a_warm_start_reads_whole(tmp_path):
    from knobs import Study
    from knobs.search import Bayes

    space = wsr.REAL_PROBLEMS["lcbench_digits"].space()
    run = stored_run(space, 0)
    url = f"sqlite:///{tmp_path}/source.db"
    wsc.stored_study(space, run, url)
    warm = Study(space, sampler=Bayes(seed=0), storage=f"sqlite:///{tmp_path}/warm.db", name="search",
                 warm_start=url)
    fed = sorted(warm.warm_trials, key=lambda t: -t.number)  # numbered -1, -2, ... in the source's order
    assert [t.config for t in fed] == run["configs"][:-1]  # a warm start feeds finished trials: the failed one
    assert [t.value for t in fed] == run["values"][:-1]    # stayed failed, and is left out
    source = Study.load(url, "search", sampler=Bayes(seed=0))
    assert [t.state.name for t in source.trials] == ["COMPLETE"] * 8 + ["FAILED"]


def test_the_summary_compares_each_seed_with_its_own_cold_run(tmp_path):
    space = wsr.REAL_PROBLEMS["lcbench_digits"].space()
    stored = {}
    for seed, cold_best in ((0, 0.05), (1, 0.20)):
        cold = {"configs": space.sample(seed, 40), "values": [0.5] * 39 + [cold_best]}
        stored[("lcbench_digits", seed)] = {"cold": cold, "related": {"values": [0.3] * 19 + [0.04]},
                                            "unrelated": {"values": [0.6] * 20}}
    rows = [{"target": "lcbench_digits", "seed": 0, "same task": {"values": [0.1] * 20}, "source best": 0.2},
            {"target": "lcbench_digits", "seed": 1, "same task": {"values": [0.25] * 9 + [0.2] * 11},
             "source best": 0.05}]
    s = wsc.summarize(rows, stored, trials=20)["lcbench_digits"]
    assert s["seeds"] == 2
    assert s["same task"] == {"mean_best_at_10": pytest.approx(0.15), "mean_best_at_20": pytest.approx(0.15),
                              "within": 1}  # seed 1 ties its cold run's best: reached
    assert s["related"]["within"] == 2 and s["unrelated"]["within"] == 0
    assert s["cold_mean_best"] == pytest.approx(0.125) and s["replay_within"] == 1  # seed 1's source best 0.05 <= 0.20
    assert "| lcbench_digits (2) | same task | 0.1500 / 0.1500 | 1 of 2 |" in wsc.format_table(
        {"lcbench_digits": s}, 20)


@pytest.mark.slow
def test_each_seed_is_warm_started_from_the_next_seeds_cold_run(tmp_path):
    space = wsr.REAL_PROBLEMS["lcbench_digits"].space()
    rows = []
    for seed in (0, 1):
        run = stored_run(space, seed)
        rows.append({"target": "lcbench_digits", "seed": seed, "cold": run, "related source": run,
                     "unrelated source": run, "related": run, "unrelated": run})
    path = tmp_path / "stored.json"
    path.write_text(json.dumps({"trials": 9, "rows": rows}))
    out = tmp_path / "ceiling.json"
    headline = wsc.main(["--runs", str(path), "--trials", "2", "--out", str(out)])
    assert headline["lcbench_digits"]["seeds"] == 2
    written = json.loads(out.read_text())
    assert [r["source best"] for r in written["rows"]] == [0.1, 0.1]  # the next seed's cold run (cyclic) as source
    assert [len(r["same task"]["values"]) for r in written["rows"]] == [2, 2]
    # a warm run starts from a model of its source, not from the cold run's Sobol design
    assert written["rows"][0]["same task"]["configs"][0] != rows[0]["cold"]["configs"][0]
