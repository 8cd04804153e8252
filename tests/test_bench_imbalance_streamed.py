"""bench/imbalance_streamed.py runs end to end and writes its figures (a smoke test: one seed, one trial, one
epoch, a small tail), when the CIFAR-10 archive of ../shared/data is here."""

import sys

import pytest

from bench_support import ROOT, run_bench

sys.path.insert(0, str(ROOT / "bench"))

from imbalance_streamed import ARCHIVE, long_tail  # noqa: E402


def test_the_long_tail_falls_from_head_to_head_over_factor():
    counts = long_tail([f"c{i}" for i in range(10)], head=400, factor=20.0)
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    assert counts["c0"] == 400 and counts["c9"] == 20


@pytest.mark.slow
@pytest.mark.skipif(not ARCHIVE.is_file(), reason=f"the CIFAR-10 archive {ARCHIVE} is not on this machine")
def test_the_streamed_imbalance_bench_prints_a_table_and_writes_its_json(tmp_path):
    printed, figures = run_bench("imbalance_streamed", tmp_path / "imb.json", "--seeds", "1", "--trials", "1",
                                 "--epochs", "1", "--head", "40", "--test-per-class", "5", "--arms", "none",
                                 "oversample")
    assert "| oversample |" in printed and set(figures["means"]) == {"none", "oversample"}
    assert figures["class_counts"]["airplane"] == 40 and figures["class_counts"]["truck"] == 2
    assert all(0 <= arm["test_accuracy"] <= 1 for arm in figures["means"].values())
