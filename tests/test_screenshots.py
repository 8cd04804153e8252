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
