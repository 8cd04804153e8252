"""bench/multilabel_run.py runs end to end and writes its figures (a smoke test: one seed, one trial, few strips)."""

import sys

import numpy as np

from bench_support import ROOT, run_bench

sys.path.insert(0, str(ROOT / "bench"))

from multilabel_run import strips  # noqa: E402


def test_a_strip_shows_the_digits_its_labels_name():
    images = np.stack([np.full((8, 8), float(c + 1)) for c in range(10)])  # image c: every pixel c + 1
    X, Y = strips(images, np.arange(10), 50, np.random.default_rng(0))
    assert X.shape == (50, 1, 8, 24) and Y.shape == (50, 10)
    for x, y in zip(X, Y):
        shown = {int(round(v * 16)) - 1 for v in np.unique(x) if v > 0}
        assert shown == set(np.flatnonzero(y)) and 1 <= len(shown) <= 3


def test_the_multilabel_bench_prints_a_table_and_writes_its_json(tmp_path):
    printed, figures = run_bench("multilabel_run", tmp_path / "ml.json", "--seeds", "1", "--trials", "1",
                                 "--strips", "240")
    assert "| knobs run (convnet), a threshold per label |" in printed
    assert figures["seeds"] == 1 and set(figures["mean"]) >= {"knobs run (mlp)", "logistic regression per label"}
    assert all(0 <= arm["macro_f1"] <= 1 for arm in figures["mean"].values())
