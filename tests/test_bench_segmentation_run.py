"""bench/segmentation_run.py runs end to end and writes its figures (a smoke test: one seed, one trial)."""

import sys

import numpy as np

from bench_support import ROOT, run_bench

sys.path.insert(0, str(ROOT / "bench"))

from segmentation_run import BACKGROUND, task  # noqa: E402


def test_every_ink_pixel_is_its_digit_and_the_rest_background():
    (X_train, m_train), (X_test, m_test) = task(0)
    assert X_train.shape[1:] == (1, 8, 8) and m_train.shape[1:] == (8, 8) and len(X_train) + len(X_test) == 1797
    ink = X_train[:, 0] * 16 >= 4
    assert (m_train[~ink] == BACKGROUND).all() and (m_train[ink] < BACKGROUND).all()
    assert all(len(np.unique(m[m != BACKGROUND])) == 1 for m in m_train[:50])  # one digit per image


def test_the_segmentation_bench_prints_a_table_and_writes_its_json(tmp_path):
    printed, figures = run_bench("segmentation_run", tmp_path / "seg.json", "--seeds", "1", "--trials", "1")
    assert "| a pixel alone (ink → the commonest digit) |" in printed
    assert set(figures["mean"]) == {"knobs run (searched)", "the same model, PyTorch defaults",
                                    "a pixel alone (ink → the commonest digit)"}
    assert all(0 <= arm["mean_iou"] <= 1 for arm in figures["mean"].values())
