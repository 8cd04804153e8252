"""The search benchmark's problems (bench/problems.py, bench/problems_real.py) and its JSON line.

Why: other engineers tune knobs.Bayes against these tables; a problem whose space is invalid, whose
objective fails or drifts between calls, or a family missing from the JSON line would silently
change what they optimize for.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")
pytest.importorskip("sklearn")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import search  # noqa: E402
from problems_real import FASHION_DIR, SST2_TRAIN  # noqa: E402

DATA_MISSING = not (FASHION_DIR.exists() and SST2_TRAIN.exists())
pytestmark = pytest.mark.skipif(DATA_MISSING, reason="Fashion-MNIST (Debian) or SST-2 data missing")


@pytest.mark.parametrize("name", list(search.ALL_PROBLEMS))
def test_space_is_valid_and_objective_finite_and_deterministic(name):
    problem = search.ALL_PROBLEMS[name]
    space = problem.space()
    config = space.sample(np.random.default_rng(7), 1)[0]
    space.validate(config)
    first = search._evaluate(problem, config)
    assert math.isfinite(first), f"{name}: {first} for {config}"
    assert search._evaluate(problem, config) == first


def test_logreg_is_deterministic_with_l1_too_whatever_numpys_global_seed():
    # liblinear's l1 solver shuffles with NumPy's global generator unless given a random_state: the same config
    # gave 0.1825 / 0.1820 / 0.1822 under three global seeds before the problem fixed it
    problem = search.ALL_PROBLEMS["logreg_cancer"]
    config = {"C": 10.0, "penalty": "l1", "class_weight": "balanced", "intercept_scaling": 5.0}
    values = []
    for seed in range(3):
        np.random.seed(seed)
        values.append(search._evaluate(problem, config))
    assert values == [values[0]] * 3


def test_every_family_has_dev_and_check_problems():
    for family in search.FAMILIES:
        assert search.select_problems("dev", [family]), family
        assert search.select_problems("check", [family]), family
    assert not set(search.select_problems("dev")) & set(search.select_problems("check"))


def test_optuna_asks_the_same_space():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    for name in ("model_choice_digits", "sst2_embag", "mlp_solver_cancer"):
        problem = search.ALL_PROBLEMS[name]
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(8):
            config = problem.suggest_optuna(study.ask())
            problem.space().validate(config)  # inactive parameters absent, active ones in range


def test_json_line_carries_every_family(tmp_path, capsys):
    one_per_family = ["levy4", "svc_cancer", "lcbench_digits", "convnet_digits", "model_choice_digits",
                      "sst2_linear"]
    search.main(["--set", "dev", "--problems", *one_per_family, "--seeds", "1", "--budgets", "1", "2",
                 "--optimizers", "knobs.Random", "knobs.Random(qmc)", "--median-configs", "1",
                 "--timing-reps", "0", "--no-reference", "--out", str(tmp_path / "s.json")])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    families = line["sets"]["dev"]["families"]
    assert set(families) == set(search.FAMILIES)
    for family in families.values():
        assert set(family["score"]) == {"knobs.Random", "knobs.Random(qmc)"}
        cell = family["score"]["knobs.Random"]["2"]
        assert math.isfinite(cell["mean"]) and cell["se"] == 0.0  # one seed
        assert family["suggest_ms_median"]["knobs.Random"] >= 0
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["headline"] == line
    versions = saved["environment"]["versions"]  # what the figures came from
    assert versions["numpy"] == np.__version__ and versions["optuna"] and versions["torch"]


def test_first_seed_runs_fresh_seeds_that_merge_with_earlier_ones(tmp_path, capsys):
    common = ["--seeds", "2", "--budgets", "2", "--optimizers", "knobs.Random",
              "--median-configs", "4", "--timing-reps", "0", "--no-reference"]
    search.main(["--problems", "levy4", "svc_cancer", *common, "--out", str(tmp_path / "a.json")])
    search.main(["--problems", "levy4", *common, "--first-seed", "2", "--out", str(tmp_path / "b.json")])
    runs = {(r["problem"], r["seed"]): r["values"] for f in ("a", "b")
            for r in json.loads((tmp_path / f"{f}.json").read_text())["runs"]}
    assert sorted(s for p, s in runs if p == "levy4") == [0, 1, 2, 3] and runs["levy4", 2] != runs["levy4", 0]
    capsys.readouterr()
    search.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--markdown",
                 "--out", str(tmp_path / "m.json")])
    families = json.loads((tmp_path / "m.json").read_text())["sets"]["dev"]["families"]
    assert families["synthetic"]["seeds"] == 4 and families["sklearn"]["seeds"] == 2  # each on the seeds it has
    assert "| sklearn (svc_cancer) [2 seeds] | 2 |" in capsys.readouterr().out


def test_a_factory_is_an_optimizer():
    import functools

    from knobs.search import Random

    result = search.run_family_table({"mine": functools.partial(Random, qmc=True), "knobs.Random": "knobs.Random"},
                                     ["levy4"], seeds=2, budgets=(3, 5), reference=None, progress=False,
                                     median_configs=8)
    scores = result["sets"]["dev"]["families"]["synthetic"]["score"]
    assert set(scores) == {"mine", "knobs.Random"} and set(scores["mine"]) == {"3", "5"}
    assert len(result["runs"]) == 4 and all(len(r["values"]) == 5 for r in result["runs"])


def test_merge_makes_one_table_of_runs_made_apart(tmp_path, capsys):
    common = ["--seeds", "2", "--budgets", "2", "4", "--optimizers", "knobs.Random", "knobs.Random(qmc)",
              "--median-configs", "4", "--timing-reps", "0", "--no-reference"]
    search.main(["--set", "dev", "--problems", "levy4", *common, "--out", str(tmp_path / "a.json")])
    search.main(["--set", "check", "--problems", "levy6", *common, "--out", str(tmp_path / "b.json")])
    search.main(["--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "c.json")])
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["sets"]["dev"]["families"]["synthetic"]["problems"] == ["levy4"]
    assert line["sets"]["check"]["families"]["synthetic"]["problems"] == ["levy6"]
    saved = json.loads((tmp_path / "c.json").read_text())
    assert len(saved["runs"]) == 8 and set(saved["medians"]) == {"levy4", "levy6"}


def test_a_merge_keeps_the_arms_and_problems_asked_for_so_one_arm_short_of_seeds_cuts_no_other(tmp_path, capsys):
    common = ["--budgets", "2", "4", "--median-configs", "4", "--timing-reps", "0", "--no-reference",
              "--problems", "levy4", "branin"]
    search.main([*common, "--seeds", "2", "--optimizers", "knobs.Random", "knobs.Random(qmc)",
                 "--out", str(tmp_path / "a.json")])
    search.main([*common, "--seeds", "2", "--first-seed", "2", "--optimizers", "knobs.Random",
                 "--out", str(tmp_path / "b.json")])
    files = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    capsys.readouterr()
    both = search.main(["--merge", *files])["sets"]["dev"]["families"]["synthetic"]
    assert both["seeds"] == 2  # qmc ran seeds 0-1 only
    alone = search.main(["--merge", *files, "--arms", "knobs.Random", "--problems", "levy4"])
    family = alone["sets"]["dev"]["families"]["synthetic"]
    assert family["seeds"] == 4 and family["problems"] == ["levy4"] and set(family["score"]) == {"knobs.Random"}
    for wrong in (["--arms", "knobs.Bayes"], ["--problems", "hartmann6"]):
        with pytest.raises(SystemExit):
            search.main(["--merge", *files, *wrong])
        assert "not in the files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search.main(["--arms", "knobs.Random", "--problems", "levy4"])
    assert "--arms and --paired read the runs of --merge" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        search.main(["--merge", *files, str(tmp_path / "not-run.json")])
    err = capsys.readouterr().err
    assert "--merge: no such file" in err and "not-run.json" in err and "Traceback" not in err


def test_paired_differences_are_taken_seed_by_seed(tmp_path, capsys):
    common = ["--budgets", "2", "4", "--median-configs", "4", "--timing-reps", "0", "--no-reference",
              "--problems", "levy4", "branin", "--seeds", "3"]
    search.main([*common, "--optimizers", "knobs.Random", "same=search:_knobs_random", "knobs.Random(qmc)",
                 "--out", str(tmp_path / "a.json")])
    capsys.readouterr()
    merged = search.merge_results([tmp_path / "a.json"])
    args = (merged["runs"], merged["medians"], merged["best_any"], merged["budgets"])
    same = search.paired(*args, "same", "knobs.Random")["dev"]["synthetic"]
    assert same["seeds"] == 3
    assert all(c == {"mean": 0.0, "se": 0.0, "ahead": 0, "behind": 0} for c in same["diff"].values())
    assert set(same["per_problem"]) == {"levy4", "branin"}
    assert all(c == {"mean": 0.0, "se": 0.0} for row in same["per_problem"].values() for c in row["diff"].values())
    qmc = search.paired(*args, "knobs.Random(qmc)", "knobs.Random")["dev"]["synthetic"]["diff"]["4"]
    table = merged["sets"]["dev"]["families"]["synthetic"]["score"]
    assert qmc["mean"] == pytest.approx(table["knobs.Random(qmc)"]["4"]["mean"] - table["knobs.Random"]["4"]["mean"],
                                        abs=2e-4)  # the mean of differences is the difference of means
    assert qmc["ahead"] + qmc["behind"] <= 3
    search.main(["--merge", str(tmp_path / "a.json"), "--paired", "knobs.Random(qmc)", "knobs.Random"])
    printed = capsys.readouterr().out
    assert "knobs.Random(qmc) minus knobs.Random, seed by seed" in printed and "levy4" in printed and "repeats" in printed
    with pytest.raises(SystemExit):
        search.main(["--merge", str(tmp_path / "a.json"), "--paired", "knobs.Bayes", "knobs.Random"])
    assert "not among the merged optimizers" in capsys.readouterr().err


def test_repeat_share_counts_bit_equal_values_after_the_first_trials():
    assert search.repeat_share([1.0, 2.0, 1.0, 2.0, 3.0, 3.0], after=2) == 3 / 4  # 1.0, 2.0 and the second 3.0
    assert search.repeat_share([1.0, None, None, 2.0], after=1) == 0.0  # failed trials repeat nothing
    assert search.repeat_share([0.5] * 3, after=10) == 0.0


def test_a_merge_without_out_prints_and_leaves_the_stored_results_alone(tmp_path, capsys, monkeypatch):
    stored = tmp_path / "search.json"
    stored.write_text("the stored results")
    monkeypatch.setattr(search, "RESULTS", stored)
    common = ["--seeds", "1", "--budgets", "2", "--optimizers", "knobs.Random", "--median-configs", "4",
              "--timing-reps", "0", "--no-reference", "--problems", "levy4"]
    search.main([*common, "--out", str(tmp_path / "a.json")])
    capsys.readouterr()
    search.main(["--merge", str(tmp_path / "a.json")])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sets"]["dev"]
    assert stored.read_text() == "the stored results"
    search.main(common)  # a run without --out still writes the default file
    assert json.loads(stored.read_text())["runs"]
