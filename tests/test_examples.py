"""Every example runs: ``knobs run --config examples/<name>/test.toml`` from the example's folder.

Each folder of ``examples/`` holds a full-scale ``knobs.toml`` and a tiny ``test.toml`` of the same
layout; this test runs every ``test.toml`` found (an example added later is picked up as it is) the
way its README says — from its own folder, since a config's paths (``data.source``,
``model.builder = "models.py:build"``) are read relative to the working directory — with the run
directory in a temporary folder. It checks what a user looks at: summary.json and report.html
exist and the test metrics are finite numbers.

An example whose data is missing (a path of its test.toml that does not exist) or whose optional
dependency is not installed (the run stops naming a ``pip install``) is skipped with that reason.
"""

import json
import math
from pathlib import Path

import pytest

from knobs.cli import main
from knobs.config import load_config
from knobs.data import BUILTIN

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# NOTE: examples whose tiny run a dedicated test already makes (with more to check than this file does):
# running them twice cost CI ~18 s each.
RUN_ELSEWHERE = {"efficientnet_cifar10": "tests/test_backbone_run.py"}
TEST_CONFIGS = sorted(c for c in EXAMPLES.glob("*/test.toml") if c.parent.name not in RUN_ELSEWHERE)


def missing_data(config: Path) -> str | None:
    """The first data path of ``config`` (read from its folder) that does not exist, or None."""
    cfg = load_config(config)
    builtin = cfg.data.source.startswith("builtin:") or cfg.data.source in BUILTIN
    paths = [] if cfg.data.builder is not None or builtin else [cfg.data.source]
    paths += [cfg.data.test_path] if cfg.data.test_path else []
    return next((path for path in paths if not (config.parent / path).exists()), None)


def test_there_are_examples_to_run():
    assert TEST_CONFIGS, f"no examples/*/test.toml under {EXAMPLES}"
    root = Path(__file__).resolve().parents[1]
    for name, test_file in RUN_ELSEWHERE.items():  # the one running it instead exists and names it
        assert (EXAMPLES / name / "test.toml").exists() and name in (root / test_file).read_text()


@pytest.mark.parametrize("config", TEST_CONFIGS, ids=[c.parent.name for c in TEST_CONFIGS])
def test_example_runs_at_tiny_scale(config, tmp_path, monkeypatch, capsys):
    absent = missing_data(config)
    if absent is not None:
        pytest.skip(f"{config.parent.name}: its data {absent!r} is missing (see {config.parent.name}/README.md)")
    monkeypatch.chdir(config.parent)
    code = main(["run", "--config", "test.toml", "--runs-dir", str(tmp_path), "--quiet"])
    out = capsys.readouterr()
    text = out.out + out.err
    if code == 2 and "pip install" in text:
        pytest.skip(f"{config.parent.name}: an optional dependency is missing: {text.strip().splitlines()[-1]}")
    assert code == 0, text
    (run,) = [p for p in tmp_path.iterdir() if (p / "summary.json").exists()]
    summary = json.loads((run / "summary.json").read_text())
    assert (run / "report.html").stat().st_size > 0
    metrics = summary["test"]
    assert metrics and metrics["n"] > 0
    for key, value in metrics.items():
        if isinstance(value, float):
            assert math.isfinite(value), f"{config.parent.name}: test {key} = {value}"


def test_an_example_whose_data_is_missing_is_named(tmp_path):
    (tmp_path / "models.py").write_text("")
    config = tmp_path / "test.toml"
    config.write_text('[data]\nsource = "tiny/train"\ntest = "tiny/test"\n')
    assert missing_data(config) == "tiny/train"
    (tmp_path / "tiny" / "train").mkdir(parents=True)
    assert missing_data(config) == "tiny/test"
    config.write_text('[data]\nsource = "digits"\n')
    assert missing_data(config) is None
