"""bench/multi_target_run.py runs end to end and writes its figures (a smoke test: one seed, one trial)."""

import sys

from bench_support import ROOT, run_bench

sys.path.insert(0, str(ROOT / "bench"))

from multi_target_run import halves  # noqa: E402


def test_the_task_is_each_digits_left_half_to_its_right_half():
    (X_train, Y_train), (X_test, Y_test) = halves(0)
    assert X_train.shape[1] == Y_train.shape[1] == 32 and len(X_train) + len(X_test) == 1797
    assert len(Y_test) == len(X_test) and Y_train.max() <= 16


def test_the_multi_target_bench_prints_a_table_and_writes_its_json(tmp_path):
    printed, figures = run_bench("multi_target_run", tmp_path / "mt.json", "--seeds", "1", "--trials", "1")
    assert "| ridge (RidgeCV) |" in printed
    assert set(figures["mean"]) == {"knobs run (mlp)", "ridge (RidgeCV)", "sklearn MLPRegressor"}
    assert all(arm["r2"] < 1 for arm in figures["mean"].values())
