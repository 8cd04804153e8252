"""bench/dense_tasks.py runs end to end and writes its figures (a smoke test: one seed, one epoch)."""

from bench_support import run_bench


def test_the_dense_task_bench_prints_a_table_and_writes_its_json(tmp_path):
    printed, figures = run_bench("dense_tasks", tmp_path / "dense.json", "--seeds", "1", "--epochs", "1")
    assert "segmentation: mean IoU" in printed
    assert figures["seeds"] == 1 and 0 <= figures["segmentation"]["net_mean_iou"] <= 1
    assert 0 <= figures["multilabel"]["net_macro_f1"] <= 1
