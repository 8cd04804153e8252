"""The Makefile's test targets and its system step: what they run, and that a system piece that
cannot be installed is a printed warning, never a failed `make`."""

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


def _dry_run(target: str) -> str:
    """The pytest line `make -n <target>` would run."""
    out = subprocess.run(["make", "-n", "-C", str(ROOT), target, "SYSTEM=none"], capture_output=True, text=True,
                         check=True).stdout
    return next(line for line in out.splitlines() if "-m pytest" in line)


def _report_chars(line: str) -> str:
    return next(arg[2:] for arg in line.split() if arg.startswith("-r"))


def test_make_test_reports_skips_and_the_slowest_tests():
    line = _dry_run("test")
    assert set(_report_chars(line)) >= set("sfE")  # skip reasons, and failures and errors still listed
    assert "--durations=15" in line.split() and "not slow" not in line


def test_make_test_fast_leaves_out_the_slow_mark():
    line = _dry_run("test-fast")
    assert '-m "not slow"' in line and "s" in _report_chars(line)


def _workers(line: str) -> int:
    args = line.split()
    return int(args[args.index("-n") + 1])


def test_the_tests_run_in_up_to_four_processes_a_file_each_or_in_one_when_asked():
    for target in ("test", "test-fast"):
        line = _dry_run(target)
        assert 1 <= _workers(line) <= min(4, os.cpu_count() or 1) and "--dist loadfile" in line
    out = subprocess.run(["make", "-n", "-C", str(ROOT), "test", "SYSTEM=none", "TEST_WORKERS=0"],
                         capture_output=True, text=True, check=True).stdout
    assert _workers(next(line for line in out.splitlines() if "-m pytest" in line)) == 0


def _copy(tmp_path: Path, postgres_script: str) -> Path:
    """The Makefile in a scratch folder whose .ci/postgres.sh is ``postgres_script``."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "postgres.sh").write_text(postgres_script)
    return tmp_path


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_as_root_a_failed_install_is_a_warning_and_make_succeeds(tmp_path):
    folder = _copy(tmp_path, "#!/usr/bin/env bash\necho 'no server here' >&2\nexit 1\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    _executable(fake / "apt-get", "#!/bin/sh\necho 'E: no network' >&2\nexit 100\n")
    done = subprocess.run(["make", "-C", str(folder), "system", f"WORDNET_DIR={tmp_path / 'no-wordnet'}",
                           "CHROMIUM=knobs-no-such-chromium"],
                          capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert "warning: WordNet could not be installed; its tests will be skipped" in done.stdout
    assert "warning: no PostgreSQL server started; its tests will be skipped" in done.stdout
    assert "warning: Chromium could not be installed; the browser tests will be skipped" in done.stdout
    (tmp_path / "wordnet").mkdir()
    (tmp_path / "wordnet" / "index.noun").write_text("")
    _executable(fake / "chromium", "#!/bin/sh\n")
    again = subprocess.run(["make", "-C", str(folder), "system", f"WORDNET_DIR={tmp_path / 'wordnet'}"],
                           capture_output=True, text=True, env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert again.returncode == 0 and "WordNet" not in again.stdout  # present: not installed again
    assert "Chromium" not in again.stdout


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to act as another user")
def test_without_root_nothing_is_installed_and_make_succeeds():
    with tempfile.TemporaryDirectory() as scratch:  # not under pytest's tmp_path, which only root may enter
        Path(scratch).chmod(0o755)
        folder = _copy(Path(scratch), "#!/usr/bin/env bash\necho 'postgres.sh ran' ; exit 1\n")
        done = subprocess.run(["runuser", "-u", "nobody", "--", "make", "-C", str(folder), "system",
                               "CHROMIUM=knobs-no-such-chromium"],
                              capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "postgres.sh ran" not in done.stdout and "installing" not in done.stdout
    assert "PostgreSQL tests are skipped unless a server answers" in done.stdout
    assert "no Chromium and no root apt-get to install it; the browser tests will be skipped" in done.stdout
