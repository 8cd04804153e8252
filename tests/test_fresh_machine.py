"""What `make test` does on a fresh machine: without WordNet every test that needs it is skipped
with the reason in the summary (``-rs``), nothing errors; CI (KNOBS_REQUIRE_WORDNET=1) fails
instead of skipping. An installed WordNet is hidden with KNOBS_TEST_HIDE_WORDNET=1 (conftest.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Every test file that reaches EDA's synonyms (grep: alpha_sr, TextAugment, find_wordnet).
WORDNET_FILES = [str(TESTS / "test_text_augment.py"), str(TESTS / "test_text_eda_runs.py")]


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("KNOBS_WORDNET", "KNOBS_REQUIRE_WORDNET")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
                          env={**environ, "KNOBS_TEST_HIDE_WORDNET": "1", **env}, cwd=TESTS.parent,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_without_wordnet_its_tests_skip_with_the_reason_and_the_rest_pass():
    done = _pytest("-m", "not slow", *WORDNET_FILES)
    assert done.returncode == 0, done.stdout[-3000:]
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped and all("no WordNet" in line and "apt-get install -y wordnet-base" in line for line in skipped)


def test_ci_requiring_wordnet_fails_where_it_is_missing():
    done = _pytest("-m", "wordnet", "-x", WORDNET_FILES[0], KNOBS_REQUIRE_WORDNET="1")
    assert done.returncode == 1 and "KNOBS_REQUIRE_WORDNET=1" in done.stdout, done.stdout[-3000:]


def test_the_eda_benchmark_skips_its_wordnet_arm_by_name(monkeypatch, tmp_path):
    from knobs.augment import _thesaurus

    monkeypatch.setattr(_thesaurus, "SEARCHED", (str(tmp_path / "none"),))
    monkeypatch.delenv("KNOBS_WORDNET", raising=False)
    monkeypatch.syspath_prepend(str(TESTS.parent / "bench"))
    import data_text_eda

    assert data_text_eda.skipped_arms() == {"eda": "no WordNet"}  # "none" needs no thesaurus: it runs
    result = {"data": "d", "seeds": 1, "arms": {"eda": {"skipped": "no WordNet"}}}
    assert data_text_eda.table(result).splitlines()[-1] == "eda    skipped: no WordNet"
