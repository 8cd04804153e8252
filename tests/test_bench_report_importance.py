"""bench/report_importance.py: the importance's time per study size, measured outside the test suite."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import report_importance  # noqa: E402


def test_it_times_each_size_and_writes_what_the_importance_put_first(tmp_path):
    out = tmp_path / "r.json"
    result = report_importance.main(["--repeats", "1", "--sizes", "50", "200", "--out", str(out)])
    assert [r["trials"] for r in result["rows"]] == [50, 200]
    assert all(r["ms"] > 0 and r["first"] == "lr" for r in result["rows"])
    assert json.loads(out.read_text()) == result
