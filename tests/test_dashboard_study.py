"""The dashboard's read-only study reader (``knobs.dashboard._study``) reads what knobs' own storage
reads — every state, values, steps, times, attrs, heartbeats —, first whole and then incrementally
while the study changes; a state it does not know is named with its trial."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from knobs.dashboard._study import StudyReader, StudyUnreadable
from knobs.storage import SQLStorage
from knobs.trial import TrialState


def _study(path: Path) -> tuple[SQLStorage, int]:
    storage = SQLStorage(f"sqlite:///{path.resolve()}")
    study = storage.create_study("search", direction="maximize", space=None)
    return storage, study.id


def _same_as_storage(reader: StudyReader, storage: SQLStorage, study_id: int) -> None:
    snapshot = reader.read()
    assert list(snapshot.trials) == storage.get_trials(study_id)
    assert [t.number for t in snapshot.trials] == sorted(t.number for t in snapshot.trials)


def _beats(path: Path) -> dict[int, float]:
    """The running trials' heartbeats by trial number, straight from the file."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT number, heartbeat FROM knobs_trials WHERE state = 'running' "
                                 "AND heartbeat IS NOT NULL"))


def test_the_reader_reads_what_knobs_storage_reads_first_whole_then_as_it_changes(tmp_path: Path):
    path = tmp_path / "study.db"
    storage, study = _study(path)
    for k in range(6):
        storage.create_trial(study, {"lr": 10.0 ** -k, "width": 16 * (k + 1), "optimizer": "adam"})
    storage.report_many(study, [(n, step, 1.0 / (n + step)) for n in range(6) for step in range(1, n + 2)])
    storage.finish_trial(study, 0, TrialState.COMPLETE, 0.9, {"curve": {"epoch": [1], "val_loss": [0.1]}})
    storage.finish_trial(study, 1, TrialState.PRUNED, 0.4)
    storage.finish_trial(study, 2, TrialState.FAILED, None, {"fail_reason": "Diverged", "traceback": "..."})
    storage.heartbeat(study, [4, 5])
    reader = StudyReader(path)
    _same_as_storage(reader, storage, study)
    assert reader.read().heartbeats == _beats(path) and {4, 5} <= set(_beats(path))  # the running trials' last beats
    storage.finish_trial(study, 3, TrialState.COMPLETE, 0.95, {"best_epoch": 2})  # while the reader watches
    storage.report_many(study, [(4, 9, 0.01)])
    storage.create_trial(study, {"lr": 0.5, "width": 8, "optimizer": "sgd"})
    _same_as_storage(reader, storage, study)
    assert reader.read().heartbeats == _beats(path) and 3 not in _beats(path)
    storage.close()


def test_a_state_the_reader_does_not_know_is_named_with_its_trial(tmp_path: Path):
    path = tmp_path / "study.db"
    storage, study = _study(path)
    storage.create_trial(study, {"lr": 0.1})
    storage.create_trial(study, {"lr": 0.2})
    storage.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE knobs_trials SET state = 'waiting' WHERE number = 1")
    with pytest.raises(StudyUnreadable, match="trial 1 has the unknown state 'waiting'"):
        StudyReader(path).read()


def test_a_nan_in_one_trials_attrs_is_the_only_text_the_standard_parser_reads(tmp_path: Path, monkeypatch):
    import json
    import math

    path = tmp_path / "study.db"
    storage, study = _study(path)
    for k in range(300):
        storage.create_trial(study, {"lr": 0.1})
        curve = {"epoch": [1, 2], "val_loss": [float("nan") if k == 7 else 1.0, 0.5]}
        storage.finish_trial(study, k, TrialState.COMPLETE, 0.5, {"curve": curve})
    storage.close()
    parsed: list[int] = []
    standard = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(len(text)) or standard(text, *a, **k))
    trials = StudyReader(path).read().trials
    assert math.isnan(trials[7].attrs["curve"]["val_loss"][0]) and trials[8].attrs["curve"]["val_loss"][0] == 1.0
    assert len(parsed) == 1 and parsed[0] < 100  # (before: the whole column, 300 trials' attrs, went there)


def test_a_damaged_json_text_is_named_by_its_row(tmp_path: Path):
    path = tmp_path / "study.db"
    storage, study = _study(path)
    for k in range(3):
        storage.create_trial(study, {"lr": 0.1 * (k + 1)})
    storage.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE knobs_trials SET config = '{\"lr\": 0.2' WHERE number = 1")
    with pytest.raises(StudyUnreadable, match=r"row 1 of knobs_trials holds damaged JSON \('\{\"lr\": 0.2'"):
        StudyReader(path).read()
