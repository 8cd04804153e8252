"""bench/warm_start_real.py: warm starts on fixed real-training targets, through ``knobs.Study(warm_start=...)``.

Why: docs/benchmarks.md reads item 6's targets from this benchmark; if a warm run were not fed its source, or the
trial that reaches cold's best, the points or the predictive check were miscounted, the reading would be wrong
without any test failing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import warm_start_real as wsr  # noqa: E402


@pytest.mark.slow
def test_a_seed_runs_both_sources_then_cold_and_warm_runs_of_the_same_target():
    spec = wsr.TARGETS["dev"]["lcbench_digits"]
    row = wsr.one_seed(("lcbench_digits", spec, 0, 9))  # 9 source trials: enough for the model (7-D needs 8)
    assert all(len(row[arm]["values"]) == 9 for arm in ("related source", "unrelated source", "cold", "related", "unrelated"))
    # the cold run starts from its Sobol design; a warm one from a model of its source
    assert row["related"]["configs"][0] != row["cold"]["configs"][0]
    assert row["related"]["configs"][0] != row["unrelated"]["configs"][0]
    target = wsr.objectives(spec, 0)["target"]
    assert row["cold"]["values"][0] == target(row["cold"]["configs"][0])  # the target is one fixed function


def synthetic_rows(trials=20):
    """Two seeds whose errors are a known function of one axis: the cold run's, and sources and warm runs
    whose values the test sets."""
    space = wsr.REAL_PROBLEMS["lcbench_digits"].space()
    rows = []
    for seed in (0, 1):
        configs = space.sample(seed, trials)
        lr = [c["lr"] for c in configs]
        run = {"configs": configs, "values": [0.5 - 0.04 * i / trials for i in range(trials)]}  # cold: best last
        rows.append({"target": "lcbench_digits", "seed": seed, "cold": run,
                     "related source": {"configs": configs, "values": lr},
                     "unrelated source": {"configs": configs, "values": [-x for x in lr]},
                     "related": {"configs": configs, "values": [0.6] * 11 + [0.45] + [0.6] * (trials - 12)},
                     "unrelated": {"configs": configs, "values": [0.4] + [0.7] * (trials - 2) + [None]}})
    return rows


def test_the_summary_counts_reaching_points_and_means_per_target():
    s = wsr.summarize(synthetic_rows(), trials=20)["lcbench_digits"]
    cell = s["per_seed"][0]
    assert cell["cold"] == [0.5 - 0.04 * 9 / 20, 0.5 - 0.04 * 19 / 20, 0.5 - 0.04 * 19 / 20]
    assert cell["related reaches cold at"] == 12 and cell["related points vs cold"] == pytest.approx(100 * (0.462 - 0.45))
    assert cell["unrelated reaches cold at"] == 1 and cell["unrelated points vs cold"] == pytest.approx(6.2)
    assert s["within_20"] == {"related": 2, "unrelated": 2} and s["below_minus_1"] == {"related": 0, "unrelated": 0}
    assert s["mean_best_at_10_20_end"]["related"] == [0.6, 0.45, 0.45]


def test_another_cold_run_is_the_floor_of_item_6s_counts():
    """Three cold runs ending at 0.10, 0.12 and 0.105 (best at 20: 0.11, 0.13, 0.12); every ordered pair counted."""
    cells = {0: {"cold": [0.3, 0.11, 0.10]}, 1: {"cold": [0.3, 0.13, 0.12]}, 2: {"cold": [0.3, 0.12, 0.105]}}
    floor = wsr.cold_pairs(cells, trials=40)
    # b's best at 20 <= a's at 40: (a=1, b=0) 0.11 <= 0.12, (a=1, b=2) 0.12 <= 0.12: 2 of 6 pairs
    assert floor["within_20"] == pytest.approx(2 / 6, abs=1e-3)
    # b more than 1 point behind a at 40: (a=0, b=1) 2 points, (a=2, b=1) 1.5 points: 2 of 6
    assert floor["below_minus_1"] == pytest.approx(2 / 6, abs=1e-3)
    assert wsr.cold_pairs({0: cells[0]}, 40) == {"within_20": 0.0, "below_minus_1": 0.0}
    summary = wsr.summarize(synthetic_rows(), trials=20)["lcbench_digits"]
    assert summary["another_cold_run"] == {"within_20": 1.0, "below_minus_1": 0.0}  # two identical cold runs
    assert "another cold run" in wsr.format_table({"lcbench_digits": summary}, 20)


def test_the_predictive_check_tells_an_informative_source_from_a_reversed_one():
    rows = synthetic_rows()
    space = wsr.REAL_PROBLEMS["lcbench_digits"].space()
    for r in rows:  # the cold run's errors follow its learning rate
        r["cold"] = {"configs": r["cold"]["configs"], "values": [c["lr"] for c in r["cold"]["configs"]]}
    rho = wsr.summarize(rows, trials=20)["lcbench_digits"]["predictive_rho_mean"]
    assert rho["related"] > 0.8 and rho["unrelated"] < -0.8 and rho["cold, next seed"] > 0.5
    assert wsr.predictive_rho(rows[0]["related source"], rows[1]["cold"], space) > 0.8


def test_merge_joins_the_arms_of_runs_with_the_same_cold_run_and_refuses_others(tmp_path):
    rows = synthetic_rows()
    first = [{k: v for k, v in r.items() if k != "unrelated"} for r in rows]
    second = [{"target": r["target"], "seed": r["seed"], "cold": r["cold"], "related, two-task": r["unrelated"]}
              for r in rows[:1]]
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, part in zip(paths, (first, second)):
        path.write_text(wsr.json.dumps({"trials": 20, "rows": part}))
    trials, merged = wsr.merge_rows(paths)
    assert trials == 20 and [r["seed"] for r in merged] == [0]  # the seeds both files hold
    assert wsr.warm_arms(merged[0]) == ["related", "related, two-task"]
    second[0]["cold"] = rows[1]["cold"] | {"values": [0.1] * 20}
    paths[1].write_text(wsr.json.dumps({"trials": 20, "rows": second}))
    with pytest.raises(SystemExit, match="cold run"):
        wsr.merge_rows(paths)


def test_merge_by_variants_adds_up_files_of_other_seeds_and_pairs_a_variant_with_the_default(tmp_path):
    """Seeds 0 and 1 from two files each holding one seed's default and vet arms, and a third file's extra arm
    on seed 0 only: every seed that holds the asked variants, with their arms alone."""
    rows = synthetic_rows()
    for r in rows:
        r["related, vet"] = {"configs": r["cold"]["configs"], "values": [0.3] * 20}
        r["unrelated, vet"] = r["unrelated"]
    extra = {"target": "lcbench_digits", "seed": 0, "cold": rows[0]["cold"], "related, two-task": rows[0]["related"]}
    paths = [tmp_path / f"{i}.json" for i in range(3)]
    for path, part in zip(paths, ([rows[0]], [rows[1]], [extra])):
        path.write_text(wsr.json.dumps({"trials": 20, "rows": part}))
    _, merged = wsr.merge_rows(paths, ["default", "vet"])
    assert [r["seed"] for r in merged] == [0, 1]
    assert all(wsr.warm_arms(r) == ["related", "unrelated", "related, vet", "unrelated, vet"] for r in merged)
    table = wsr.paired_table(merged, "vet", 20)
    # related: vet 0.3 against the default's 0.6 / 0.45 / 0.45 on both seeds; unrelated: the same runs
    assert "| lcbench_digits (2) | related | -0.3000 ± 0.0000 (2 / 0) | -0.1500 ± 0.0000 (2 / 0) |" in table
    assert "| lcbench_digits (2) | unrelated | +0.0000 ± 0.0000 (0 / 0) |" in table
    against = wsr.paired_table(merged, "default", 20, base="vet")  # the other way round, by name
    assert "| lcbench_digits (2) | related | +0.3000 ± 0.0000 (0 / 2) |" in against


def test_keep_chances_keep_a_source_that_ranks_the_run_and_drop_a_reversed_one():
    """The run's errors follow log(lr); the related source's too, the unrelated one's the other way round."""
    row = synthetic_rows()[0]
    configs = row["cold"]["configs"]
    errors = [math.log(c["lr"]) for c in configs]
    row["related"] = row["unrelated"] = {"configs": configs, "values": errors}
    row["related source"]["values"], row["unrelated source"]["values"] = errors, [-e for e in errors]
    assert all(p > 0.9 and not dropped for p, dropped in wsr.keep_chances(row, "related"))
    assert all(p < 0.05 and dropped for p, dropped in wsr.keep_chances(row, "unrelated"))
    assert "| lcbench_digits | unrelated | 0 |" in wsr.keep_chance_table([row])
