"""The dashboard's reading of events.jsonl (``knobs.dashboard._events``): what it keeps is what the
standard library reads line by line, whatever the log holds and however it arrives in pieces; and
a line only the standard library can read costs that line, not the whole log."""

from __future__ import annotations

import json
import math
from pathlib import Path

from dashboard_runs import write_run
from knobs.dashboard._events import EventsReader, EventsState, masked
from knobs.dashboard._figures import dashboard_views
from knobs.dashboard._runs import RunsFolder

URL = "postgresql://ann:s3cret@db.local/knobs"


def _log_lines() -> list[str]:
    """A log with everything a real one may hold: a run_start naming a database with its password,
    epochs (folds, a diverged NaN, an infinity), trials, a damaged line, a blank one, a JSON value
    that is no object, a record of another kind carrying the URL."""
    epoch = lambda trial, e, **v: json.dumps({"time": 1.0 + e, "event": "epoch", "trial": trial, "epoch": e, **v})
    return [
        json.dumps({"time": 1.0, "event": "run_start", "config": {"search": {"storage": URL}}, "source": "digits"}),
        epoch(0, 1, train_loss=1.0, val_loss=1.2, lr=0.1),
        epoch(0, 2, train_loss=0.8, val_loss=float("nan"), lr=0.1),  # (json.dumps writes NaN: orjson refuses it)
        epoch(1, 1, fold=0, val_loss=0.9), epoch(1, 1, fold=1, val_loss=float("inf")),
        '{"time": 3.0, "event": "ep{"time": 4.0, "event": "epoch", "trial": 2, "epoch": 1}',  # glued after a crash
        "",
        "[1, 2]",
        json.dumps({"time": 5.0, "event": "trial", "number": 0, "state": "complete"}),
        json.dumps({"time": 6.0, "event": "note", "where": URL}),
        epoch(True, 1, val_loss=0.5),  # (a bool is no trial number: it was filed as trial 1's epoch)
        json.dumps({"time": 7.0, "event": "run_start", "config": {"seed": 2}, "resumed": True}),
        epoch(2, 1, val_loss=0.7),
    ]


def _reference(lines: list[str]) -> EventsState:
    """The log as ``json.loads`` reads it one line at a time: the behaviour to keep."""
    state = EventsState()
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            if line.strip():
                state.bad_lines.append(number)
            continue
        if record.get("event") not in ("epoch", "trial"):
            record = masked(record)
        state.records.append(record)
        if record.get("event") == "epoch" and isinstance(record.get("trial"), int) and \
                not isinstance(record.get("trial"), bool):
            state.epochs.setdefault(record["trial"], []).append(record)
        elif record.get("event") == "run_start":
            state.run_start = state.run_start or record
            state.last_start = record
    return state


def _same(a: EventsState, b: EventsState) -> None:
    plain = lambda value: json.dumps(value, sort_keys=True)  # (NaN == NaN as text)
    assert plain(a.records) == plain(b.records)
    assert plain({str(k): v for k, v in a.epochs.items()}) == plain({str(k): v for k, v in b.epochs.items()})
    assert (a.run_start, a.last_start, a.bad_lines) == (b.run_start, b.last_start, b.bad_lines)


def test_the_log_is_read_as_the_standard_library_reads_it_line_by_line_in_any_pieces(tmp_path: Path):
    lines = _log_lines()
    text = "".join(line + "\n" for line in lines)
    expected = _reference(lines)
    assert URL not in json.dumps(expected.records) and math.isnan(expected.epochs[0][1]["val_loss"])
    for cut in (len(text), 1, text.index("[1, 2]") + 3, text.index('"trial": 2, "epoch": 1, "val_loss"')):
        path = tmp_path / f"events-{cut}.jsonl"
        path.write_text(text[:cut])
        reader = EventsReader(path)
        _, first = reader.read()
        with open(path, "a") as handle:
            handle.write(text[cut:])
        state, second = reader.read()
        _same(state, expected)
        assert first + second == state.records and state.partial_bytes == 0
    assert reader.problems() == ["events.jsonl: lines 6, 8 are not a JSON record and left out"]


def test_a_line_only_the_standard_library_reads_is_the_only_line_it_parses(tmp_path: Path, monkeypatch):
    lines = [json.dumps({"time": 1.0 + n, "event": "epoch", "trial": n // 5, "epoch": n % 5 + 1, "val_loss": 0.5})
             for n in range(2000)]
    lines[1000] = json.dumps({"time": 9.0, "event": "epoch", "trial": 999, "epoch": 1, "val_loss": float("nan")})
    path = tmp_path / "events.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    parsed: list[int] = []
    standard = json.loads
    monkeypatch.setattr(json, "loads", lambda text, *a, **k: parsed.append(len(text)) or standard(text, *a, **k))
    state, _ = EventsReader(path).read()
    assert len(state.records) == 2000 and math.isnan(state.epochs[999][0]["val_loss"])
    # NOTE: before, one NaN sent the whole log (here 190 kB; 12 MB for 10,000 trials) through json.loads
    assert sum(parsed) <= len(lines[1000]) + 1


def test_the_dashboards_views_are_those_of_the_log_read_line_by_line(tmp_path: Path):
    root = tmp_path / "runs"
    run = write_run(root, "r", n_complete=4, pruned=3, failed=1, running=1, summary=False)
    with open(run / "events.jsonl", "a") as handle:  # the pruned trials' epochs: what the band reads from the log
        for trial in (4, 5, 6):
            for epoch in (1, 2):
                handle.write(json.dumps({"time": 2.0, "event": "epoch", "trial": trial, "epoch": epoch,
                                         "train_loss": 3.0 - epoch / 4, "val_loss": 3.1 - epoch / 5 + trial / 100,
                                         "val_accuracy": 0.2, "lr": 0.5}) + "\n")
    loaded = RunsFolder(root).run("r").load()
    views = [view.to_json() for view in dashboard_views(loaded)]
    median = next(t for t in views[1]["figure"]["data"] if t.get("name") == "median of all trials")
    assert median["customdata"][:2] == [8, 7]  # epoch 1: 4 complete, 3 pruned, 1 running; epoch 2: not the running one
    loaded.events = _reference((run / "events.jsonl").read_text().splitlines())
    assert [view.to_json() for view in dashboard_views(loaded)] == views


def test_a_trial_searched_on_balanced_accuracy_reports_it_as_it_runs_and_when_stored():
    from knobs.dashboard._runs import trial_curve
    from knobs.trial import FrozenTrial, TrialState

    # a pruned trial's reports are its searched metric's values: drawn as that metric
    reported = FrozenTrial(0, {}, TrialState.PRUNED, None, intermediate={1: 0.6, 2: 0.7})
    curve = trial_curve(reported, EventsState(), "val_balanced_accuracy")
    assert curve["val_balanced_accuracy"] == [0.6, 0.7] and curve["val_loss"] == [None, None]
    stored = FrozenTrial(1, {}, TrialState.COMPLETE, 0.7, attrs={"curve": {"epoch": [1], "val_balanced_accuracy": [0.7]}})
    assert trial_curve(stored, EventsState(), "val_balanced_accuracy")["val_balanced_accuracy"] == [0.7]
