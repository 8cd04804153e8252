"""The data checks of a split-mode run are answered while its rows load (before they are standardized in
place), and only where something reports them: the run's preflight (`checks.data`), the autopilot's
diagnosis, `knobs check` and `knobs diagnose --config` — not with `checks.data = false`, and not in a
worker process or `lr-find`, which never report them (each answered them, a pass over every row)."""

import json

import pytest

from knobs.pipeline import Display, check_config, diagnose_config, run
from knobs.pipeline.commands._lr_range import find_lr
from knobs.pipeline.inputs import _prepared
from knobs.pipeline.stages import _remote
from knobs.pipeline.stages._inputs import load_inputs, reports_data_checks
from knobs.pipeline.trials import _preflight
from test_run_memory import _arrays, _config

DATA_CHECKS = {"finite", "duplicates", "feature_scale", "constant_features"}


@pytest.fixture
def answered(monkeypatch):
    """How many times the data checks were answered, wherever (while the rows load, or in the preflight)."""
    calls = []

    def counted(real):
        def data_check_results(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)
        return data_check_results

    monkeypatch.setattr(_prepared, "data_check_results", counted(_prepared.data_check_results))
    monkeypatch.setattr(_preflight, "data_check_results", counted(_preflight.data_check_results))
    return calls


@pytest.fixture
def rows(tmp_path):
    return _arrays(tmp_path, rows=800, width=16)[0]


def _preflight_names(result):
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    [preflight] = [e["results"] for e in events if e["event"] == "preflight"]
    return {r["name"] for r in preflight}


def test_a_run_with_checks_data_off_never_answers_them_and_still_runs(tmp_path, rows, answered):
    result = run(_config(tmp_path, rows, checks={"overfit_tiny": False, "data": False}), display=Display(quiet=True))
    assert answered == []
    assert 0 <= result.summary["test"]["accuracy"] <= 1  # trained and tested
    names = _preflight_names(result)
    assert "initial_loss" in names and not names & DATA_CHECKS


def test_a_run_with_checks_data_on_answers_them_once_before_the_rows_change(tmp_path, rows, answered):
    inputs = load_inputs(_config(tmp_path, rows))
    assert len(answered) == 1 and inputs.data.data_checks[0].name == "finite"
    result = run(_config(tmp_path, rows), display=Display(quiet=True))
    assert len(answered) == 2  # the run's own load: answered there, the preflight reads the answers
    assert DATA_CHECKS <= _preflight_names(result)


def test_the_autopilot_keeps_them_answered_with_checks_data_off(tmp_path, rows, answered):
    cfg = _config(tmp_path, rows, checks={"overfit_tiny": False, "data": False}, autopilot={"enabled": True})
    assert reports_data_checks(cfg)  # its diagnosis weighs them
    assert load_inputs(cfg).data.data_checks is not None and len(answered) == 1
    assert not reports_data_checks(_config(tmp_path, rows, checks={"data": False}))


def test_callers_that_never_report_them_do_not_answer_them(tmp_path, rows, answered):
    cfg = _config(tmp_path, rows)  # checks.data on
    assert load_inputs(cfg, data_checks=False).data.data_checks is None and answered == []
    find_lr(cfg, steps=5)
    assert answered == []
    run_dir = tmp_path / "runs" / "worker"
    run_dir.mkdir(parents=True)
    objective = _remote.PipelineObjective(cfg, run_dir, f"sqlite:///{run_dir / 'study.db'}", "worker")
    try:
        assert _remote._built(objective) is not None
    finally:
        _remote.release(objective)
    assert answered == []


def test_check_and_diagnose_answer_them_as_they_report_them(tmp_path, rows, answered):
    off = _config(tmp_path, rows, checks={"overfit_tiny": False, "initial_loss": False, "data": False})
    assert not {r.name for r in check_config(off)} & DATA_CHECKS and answered == []
    report = diagnose_config(off, epochs=1)  # a diagnosis weighs them whatever [checks] says
    assert len(answered) == 1 and DATA_CHECKS <= {c.name for c in report.checks}
