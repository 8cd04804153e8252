"""A database password never reaches a run's files: events, the study's run record, summary,
report, the terminal. The study itself is still opened with the real URL."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

import knobs
from knobs.cli import app
from knobs.config import parse_config
from knobs.storage import mask_password

SECRET = "pw-4e1b-never-written"  # the knobs_masked role's password (.ci/postgres.sh)


@pytest.mark.parametrize("url, masked", [
    ("postgresql://ann:s3cret@db:5432/k", "postgresql://ann:***@db:5432/k"),
    ("postgresql+psycopg://ann:s3cret@db/k?sslmode=require", "postgresql+psycopg://ann:***@db/k?sslmode=require"),
    ("postgresql://ann@db/k", "postgresql://ann@db/k"),
    ("sqlite:///runs/x/study.db", "sqlite:///runs/x/study.db"),
    ("ray://ann:s3cret@head:10001", "ray://ann:***@head:10001"),
    ("auto", "auto"),
])
def test_mask_password_hides_only_the_password(url, masked):
    assert mask_password(url) == masked


def test_the_config_written_for_others_has_no_password():
    cfg = parse_config({"search": {"storage": "postgresql://ann:s3cret@db/k", "executor": "ray",
                                   "ray_address": "ray://ann:ray-s3cret@head:10001"}})
    dumped = cfg.public_dump()
    assert "s3cret" not in repr(dumped)
    assert dumped["search"]["storage"] == "postgresql://ann:***@db/k"
    assert cfg.search.storage == "postgresql://ann:s3cret@db/k"  # the run itself keeps the real one


@pytest.mark.slow
def test_a_run_with_a_password_in_its_storage_url_writes_it_nowhere(postgres_url, tmp_path):
    url = postgres_url.replace("://knobs:knobs@", f"://knobs_masked:{SECRET}@", 1)
    if SECRET not in url:
        pytest.skip("the test server's URL is not the default one; the knobs_masked role is .ci/postgres.sh's")
    try:
        knobs.Study(knobs.Space({"x": knobs.Float(0, 1)}), storage=url, name="probe")
    except knobs.errors.KnobsError as e:
        message = f"no knobs_masked role on the test server ({e}); run .ci/postgres.sh"
        if os.environ.get("KNOBS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    config = tmp_path / "c.toml"
    config.write_text(f'runs_dir = "{tmp_path / "runs"}"\n[search]\nsampler = "random"\nn_trials = 2\n'
                      '[search.space]\nlr = { low = 1e-3, high = 1e-2, log = true }\nwidth = 16\n'
                      '[train]\nepochs = 2\n[checks]\noverfit_tiny = false\n[ensemble]\ntop_k = 2\n')
    result = CliRunner().invoke(app, ["run", "-c", str(config), "--name", "secret", "--storage", url])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "secret"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"events.jsonl", "summary.json", "report.html"} <= {p.name for p in files}
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in result.output
    record = knobs.Study.load(url, "secret").attrs["run"]
    assert SECRET not in repr(record) and "knobs_masked:***@" in record["config"]["search"]["storage"]
    # a worker rebuilds the run from that record and still reaches the study through its own --storage
    result = CliRunner().invoke(app, ["worker", "--storage", url, "--study", "secret", "--n-trials", "1"])
    assert result.exit_code == 0 and "1 trials finished here" in result.output, result.output
    assert SECRET not in result.output
