"""bench/dense_tasks.py runs end to end and writes its figures (a smoke test: one seed, one epoch)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_dense_task_bench_prints_a_table_and_writes_its_json(tmp_path):
    out = tmp_path / "dense.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "dense_tasks.py"), "--seeds", "1", "--epochs", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "segmentation: mean IoU" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["seeds"] == 1 and 0 <= figures["segmentation"]["net_mean_iou"] <= 1
    assert 0 <= figures["multilabel"]["net_macro_f1"] <= 1
