"""bench/screenshots.py: a run directory becomes one PNG per width, of that width."""

import struct
import sys
from pathlib import Path

import pytest

from browser_support import require_browser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import screenshots  # noqa: E402


def _png_size(path: Path) -> tuple[int, int]:
    return struct.unpack(">II", path.read_bytes()[16:24])


@pytest.mark.browser
def test_a_run_directory_gives_one_png_per_width(tmp_path):
    require_browser()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "report.html").write_text("<html><body><h1>a report</h1></body></html>")
    written = screenshots.main([str(run_dir), "--out", str(tmp_path / "img"), "--name", "r"])
    assert written == [tmp_path / "img" / "r-1280.png", tmp_path / "img" / "r-420.png"]
    assert [_png_size(p) for p in written] == [(1280, screenshots.HEIGHT), (420, screenshots.HEIGHT)]


def test_a_path_that_is_no_report_exits_with_the_reason(tmp_path):
    with pytest.raises(SystemExit, match="is not a file; give a run directory"):
        screenshots.page_url(str(tmp_path / "nothing"))


@pytest.mark.browser
def test_each_dashboard_view_becomes_one_png_and_a_missing_view_is_named(tmp_path, capsys):
    require_browser()
    from dashboard_runs import write_run

    runs = tmp_path / "runs"
    write_run(runs, "a", n_complete=6, failed=1)
    write_run(runs, "b", n_complete=5, seed=1)
    only = {"runs", "history", "compare", "groups", "confusion"}  # (a page of each kind; one width: CI's time)
    written = screenshots.shoot_dashboard(runs, tmp_path / "img", widths=(420,), only=only)
    assert {p.name for p in written} == {f"{v}-420.png" for v in only - {"confusion"}}
    for path in written:
        width, height = _png_size(path)
        assert 0 < width <= int(path.stem.rsplit("-", 1)[1]) and height > 0  # the element alone
    assert "no confusion view" in capsys.readouterr().err  # (these runs have no test confusion matrix)
