"""The runs folder and each run in it, read into ``knobs.report.RunRecord``s for the views.

Why a cache keyed by file signatures: the page asks about a run many times a second while a run
works, and a study of 10,000 trials takes a noticeable fraction of a second to read. A run is read
again only when the size or modification time of one of its files changed, and then only what is
new (``EventsReader``, ``StudyReader``).

Why every failure becomes a sentence: one damaged study.db, a half-written log line or a run from
an older knobs must not hide the other runs nor the parts of that run that are fine; ``problems``
says what is wrong, for that run only.

Only entries of RUNS_DIR are runs, and a run's files are read only where they resolve inside it:
a name with ``..`` or a slash, an absolute path, or a link pointing elsewhere reads nothing.

A run whose study lives in a database (``search.storage``, PostgreSQL) is read from there — but only
from a database the person starting the dashboard named (``knobs dashboard --storage URL``, the URL
with its password): the run's own log holds the URL with its password masked, and a dashboard that
connected wherever a run folder said would hand the reader's credentials (PGPASSWORD, ~/.pgpass) to
any host a shared run folder names. A run naming a database not given says which URL to give.
"""

from __future__ import annotations

import gc
import json
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from knobs.dashboard._events import CURVE_KEYS, EventsReader, EventsState, masked, run_starts
from knobs.dashboard._study import StudyCounts, StudyReader, StudySnapshot, StudyUnreadable
from knobs.report import RunRecord
from knobs.storage._url import mask_password
from knobs.trial import FrozenTrial, TrialState

__all__ = ["RunsFolder", "RunSource", "LoadedRun", "UnknownRun", "trial_curve", "collector_paused", "RUN_FILES",
           "ACTIVE_S"]

RUN_FILES = ("summary.json", "events.jsonl", "study.db", "study.db-wal")
"""The files whose changes a run's views depend on (their signature keys the cache)."""

ACTIVE_S = 60.0
"""A run without a summary whose files changed (or whose running trial beat) this recently is
running; an older one stopped without finishing. The same grace as a study's stale trials."""


class UnknownRun(LookupError):
    """No run of that name in the runs folder (or a name that would reach outside it)."""


@dataclass
class LoadedRun:
    """One run as the dashboard shows it."""

    name: str
    path: Path
    record: RunRecord
    state: str  # "running", "finished" or "failed" (stopped without a summary)
    problems: list[str]
    config: dict[str, Any]
    direction: str
    metric: str
    started_at: float | None
    source: str | None
    partial: bool  # no summary.json (yet): the summary is built from the log and the study
    signature: tuple
    events: EventsState = field(default_factory=EventsState)
    heartbeats: dict[int, float] = field(default_factory=dict)

    @property
    def trials(self) -> tuple[FrozenTrial, ...]:
        return tuple(self.record.trials)

    @property
    def best(self) -> FrozenTrial | None:
        return best_trial(self.record.trials, self.direction)

    def row(self) -> dict[str, Any]:
        """The runs list's line for this run."""
        best = self.record.summary.get("best_trial") or {}
        value = best.get("value") if isinstance(best, dict) else None
        if value is None and self.best is not None:
            value = self.best.value
        states: dict[str, int] = {}
        for trial in self.record.trials:
            states[trial.state.value] = states.get(trial.state.value, 0) + 1
        return {"name": self.name, "state": self.state, "trials": len(self.record.trials), "states": states,
                "best_value": _number(value), "metric": self.metric, "direction": self.direction,
                "started_at": self.started_at, "source": self.source, "problems": self.problems,
                "partial": self.partial, "seed": self.config.get("seed")}


class RunsFolder:
    """RUNS_DIR: its run directories by name, each read lazily and cached."""

    def __init__(self, root: Path, storage: Iterable[str] = ()) -> None:
        self.root = Path(root).resolve()
        self.storage = tuple(storage)  # the database URLs (with passwords) runs may keep their studies in
        self._runs: dict[str, RunSource] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """The run directories now in the folder (those holding a run file), by name."""
        try:
            entries = sorted(os.listdir(self.root))
        except OSError:
            return []
        names = []
        for name in entries:
            path = self._inside(name)
            if path is not None and any((path / f).exists() for f in RUN_FILES[:3]):
                names.append(name)
        with self._lock:
            for gone in set(self._runs) - set(names):
                del self._runs[gone]
        return names

    def run(self, name: str) -> "RunSource":
        """The run called ``name``; ``UnknownRun`` for anything but an entry of this folder."""
        if not isinstance(name, str) or name not in self.names():
            raise UnknownRun(name)
        path = self._inside(name)
        if path is None:  # NOTE: gone or re-pointed between the listing and now
            raise UnknownRun(name)
        with self._lock:
            source = self._runs.get(name)
            if source is None or source.path != path:
                source = self._runs[name] = RunSource(name, path, self.root, self.storage)
            return source

    def rows(self) -> list[dict[str, Any]]:
        """The runs list: one line per run, without reading every trial (``RunSource.brief``)."""
        return self._each(RunSource.brief)

    def load_all(self) -> list[LoadedRun]:
        """Every run that can be loaded now (one deleted meanwhile is skipped)."""
        return self._each(RunSource.load)

    def _each(self, read: Callable[[RunSource], Any]) -> list[Any]:
        """``read`` of every run, skipping one deleted meanwhile."""
        out = []
        for name in self.names():
            try:
                out.append(read(self.run(name)))
            except UnknownRun:
                continue
        return out

    def _inside(self, name: str) -> Path | None:
        """``root/name`` resolved, if it is a directory inside the root (a link to elsewhere is not)."""
        if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
            return None
        try:
            path = (self.root / name).resolve()
        except (OSError, RuntimeError):
            return None
        return path if path != self.root and path.is_relative_to(self.root) and path.is_dir() else None


class RunSource:
    """One run directory: its readers, and the last load while its files are unchanged."""

    def __init__(self, name: str, path: Path, root: Path, storage: tuple[str, ...] = ()) -> None:
        self.name, self.path, self.root, self.storage = name, path, root, storage
        self.events = EventsReader(path / "events.jsonl")
        self.study = StudyReader(path / "study.db")
        self._own_study = self.study
        self._loaded: LoadedRun | None = None
        self._brief: tuple[tuple, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def signature(self) -> tuple:
        """(file, modification time, size) of the run's files; changes whenever the run writes."""
        out = []
        for name in RUN_FILES:
            try:
                stat = os.stat(self.path / name)
                out.append((name, stat.st_mtime_ns, stat.st_size))
            except OSError:
                out.append((name, None, None))
        return tuple(out)

    def brief(self) -> dict[str, Any]:
        """The runs list's line: the full load's if it is current, else what summary.json, the log's
        run_start records and the study's counts per state say (no trial or epoch is read)."""
        signature = self.signature()
        with self._lock:
            loaded = self._loaded
            if loaded is not None and loaded.signature == signature and not _state_may_change(loaded):
                return loaded.row()
            if self._brief is not None and self._brief[0] == signature and self._brief[1]["state"] != "running":
                return self._brief[1]
        problems: list[str] = []
        summary, summary_mtime = self._read_summary(problems)
        first, last = (None, None) if self._outside("events.jsonl") else run_starts(self.path / "events.jsonl")
        counts = None
        if self._choose_study(_dict(_dict((last or {}).get("config")).get("search")), problems) and \
                (self.study.path is None or self._readable("study.db", problems)):
            try:
                counts = self.study.counts()
            except FileNotFoundError:
                pass
            except StudyUnreadable as e:
                problems.append(f"{e}; the trials are not shown")
        config = _dict((last or {}).get("config"))
        search = _dict(config.get("search"))
        best = _dict((summary or {}).get("best_trial"))
        direction = _direction(summary, counts)
        value = best.get("value") if best.get("value") is not None else (counts.best_value if counts else None)
        data = _dict((summary or {}).get("data"))
        beats = [counts.last_heartbeat] if counts is not None and counts.last_heartbeat is not None else []
        started = (first or {}).get("time")
        row = {"name": self.name, "state": _state(signature, summary_mtime, last or {}, beats),
               "trials": sum(counts.states.values()) if counts else 0, "states": dict(counts.states) if counts else {},
               "best_value": _number(value), "metric": str(best.get("metric") or search.get("metric") or "value"),
               "direction": direction, "started_at": started if isinstance(started, (int, float)) else (
                   counts.created_at if counts else None),
               "source": str(data.get("source") or (last or {}).get("source") or "") or None,
               "problems": problems, "partial": summary is None, "seed": config.get("seed")}
        with self._lock:
            self._brief = (signature, row)
        return row

    def load(self) -> LoadedRun:
        """The run now: cached while its files are unchanged — except a run shown running whose files
        have been quiet for ``ACTIVE_S``, which is looked at again so it turns 'failed'."""
        signature = self.signature()
        with self._lock:
            loaded = self._loaded
            if loaded is not None and loaded.signature == signature and not _state_may_change(loaded):
                return loaded
            with collector_paused():
                self._loaded = self._load(signature)
            return self._loaded

    def _load(self, signature: tuple) -> LoadedRun:
        problems: list[str] = []
        events = self._read_events(problems)
        start = events.last_start or {}
        config = _dict(start.get("config"))
        search_cfg = _dict(config.get("search"))
        study = self._read_study(problems) if self._choose_study(search_cfg, problems) else None
        summary, summary_mtime = self._read_summary(problems)
        trials = study.trials if study is not None else ()
        direction = _direction(summary, study)
        metric = str(_dict((summary or {}).get("best_trial")).get("metric") or search_cfg.get("metric") or "value")
        partial = summary is None
        if partial:
            summary = _partial_summary(self.name, self.path, start, study, trials, direction, metric)
        first = events.run_start or {}
        started = first.get("time") if isinstance(first.get("time"), (int, float)) else (
            study.created_at if study is not None else None)
        source = _dict(summary.get("data")).get("source") or start.get("source")
        state = _state(signature, summary_mtime, start, study.heartbeats.values() if study is not None else ())
        record = RunRecord(summary=summary, trials=trials, path=self.path, events=events.records)
        return LoadedRun(name=self.name, path=self.path, record=record, state=state, problems=problems,
                         config=config, direction=direction, metric=metric, started_at=started,
                         source=None if source is None else str(source), partial=partial, signature=signature,
                         events=events, heartbeats=dict(study.heartbeats) if study is not None else {})

    def _read_events(self, problems: list[str]) -> EventsState:
        if not self._readable("events.jsonl", problems):
            return EventsState()
        state, _ = self.events.read()
        problems.extend(self.events.problems())
        return state

    def new_events(self) -> list[dict[str, Any]]:
        """The records appended to events.jsonl since the last read (for the live stream)."""
        if self._outside("events.jsonl"):
            return []
        return self.events.read()[1]

    def _choose_study(self, search: dict[str, Any], problems: list[str]) -> bool:
        """Point ``self.study`` at where the run keeps its study: its study.db, or the database of
        ``search.storage`` when the dashboard was given that URL; False (and a sentence in
        ``problems``) when it was not."""
        logged = search.get("storage")
        if not isinstance(logged, str) or not logged or logged.startswith("sqlite"):
            self.study = self._own_study
            return True
        shown = mask_password(logged)
        given = next((url for url in self.storage if mask_password(url) == shown), None)
        if given is None:
            password = " (its password in place of ***)" if "***" in shown else ""
            problems.append(f"this run keeps its study in {shown}; start knobs dashboard with --storage '{shown}'"
                            f"{password} to show its trials")
            return False
        if self.study.url != given:
            self.study = StudyReader(given, name=self.name)
        return True

    def _read_study(self, problems: list[str]) -> StudySnapshot | None:
        if self.study.path is not None and not self._readable("study.db", problems):
            return None
        try:
            return self.study.read()
        except FileNotFoundError:
            return None
        except StudyUnreadable as e:
            problems.append(f"{e}; the trials are not shown")
            return None

    def _read_summary(self, problems: list[str]) -> tuple[dict[str, Any] | None, float | None]:
        path = self.path / "summary.json"
        if not self._readable("summary.json", problems):
            return None, None
        try:
            mtime = path.stat().st_mtime
            summary = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as e:
            problems.append(f"summary.json cannot be read ({type(e).__name__}: {e}); the summary is built from the "
                            "log and the study instead")
            return None, None
        if not isinstance(summary, dict):
            problems.append("summary.json holds no JSON object; the summary is built from the log and the study instead")
            return None, None
        return masked(summary), mtime

    def _readable(self, name: str, problems: list[str]) -> bool:
        if self._outside(name):
            problems.append(f"{name} is a link to outside the runs folder; it is not read")
            return False
        return True

    def _outside(self, name: str) -> bool:
        """Whether the run's file ``name`` resolves outside the runs folder (a link elsewhere)."""
        try:
            return not (self.path / name).resolve().is_relative_to(self.root)
        except (OSError, RuntimeError):
            return True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a run is read, or its views computed: reading
    10,000 trials and 50,000 log records makes only acyclic objects, yet the collector walked them
    again and again — 0.1 to 0.3 of the 0.6–0.8 s CPU of a large study's first read; once read, they
    made each full collection during the views 0.2 s. (Process-wide; a thread that finds it off
    leaves it as it was.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def best_trial(trials: Any, direction: str) -> FrozenTrial | None:
    """The best complete trial with a finite value (earlier on ties), as the study ranks them."""
    sign = -1.0 if direction == "maximize" else 1.0
    complete = [t for t in trials if t.state is TrialState.COMPLETE and _number(t.value) is not None]
    return min(complete, key=lambda t: (sign * t.value, t.number), default=None)


def trial_curve(trial: FrozenTrial, events: EventsState, metric: str) -> dict[str, list]:
    """A trial's per-epoch curves as columns (``epoch`` and ``CURVE_KEYS``): what it stored at its end
    (``attrs["curve"]``), else its epoch records in the log (a running or pruned trial; with folds, the
    latest fold), else its reported values (the metric only)."""
    stored = trial.attrs.get("curve")
    if isinstance(stored, dict) and stored.get("epoch"):
        return {k: list(stored.get(k) or []) for k in ("epoch", *CURVE_KEYS)}
    records = events.epochs.get(trial.number)
    if records:
        fold = records[-1].get("fold")
        records = [r for r in records if r.get("fold") == fold]
        return {k: [r.get(k) for r in records] for k in ("epoch", *CURVE_KEYS)}
    steps = sorted(trial.intermediate)
    out: dict[str, list] = {k: [] for k in ("epoch", *CURVE_KEYS)}
    out["epoch"] = steps
    out[metric if metric in CURVE_KEYS else "val_loss"] = [trial.intermediate[s] for s in steps]
    for key in CURVE_KEYS:
        out[key] = out[key] or [None] * len(steps)
    return out


def _partial_summary(name: str, path: Path, start: dict[str, Any], study: StudySnapshot | None,
                     trials: Any, direction: str, metric: str) -> dict[str, Any]:
    """What a run without summary.json can say: its source and search from the run_start record
    and the study, its best trial so far."""
    config = start.get("config") if isinstance(start.get("config"), dict) else {}
    search = config.get("search") if isinstance(config.get("search"), dict) else {}
    summary: dict[str, Any] = {"name": name, "run_dir": str(path), "n_trials": len(trials),
                               "search": {"direction": direction, "space": study.space if study else None,
                                          "sampler": search.get("sampler"), "pruner": search.get("pruner")}}
    if start.get("source") is not None:
        summary["data"] = {"source": start["source"]}
    best = best_trial(trials, direction)
    if best is not None:
        summary["best_trial"] = {"number": best.number, "value": best.value, "metric": metric, "config": best.config,
                                 "best_epoch": best.attrs.get("best_epoch"),
                                 "val_accuracy": best.attrs.get("val_accuracy"), "val_loss": best.attrs.get("val_loss")}
    return summary


def _direction(summary: dict[str, Any] | None, study: StudySnapshot | StudyCounts | None) -> str:
    search = (summary or {}).get("search")
    given = search.get("direction") if isinstance(search, dict) else None
    if given in ("minimize", "maximize"):
        return given
    return study.direction if study is not None and study.direction in ("minimize", "maximize") else "minimize"


def _state(signature: tuple, summary_mtime: float | None, start: dict[str, Any], beats: Iterable[float]) -> str:
    """finished (a summary newer than the latest run_start: a resumed run works again), running
    (files or a trial's heartbeat fresher than ``ACTIVE_S``), else failed (stopped without one)."""
    started = start.get("time") if isinstance(start.get("time"), (int, float)) else None
    if summary_mtime is not None and (started is None or started <= summary_mtime + 1.0):
        return "finished"
    now = time.time()
    touched = max((mtime / 1e9 for _, mtime, _ in signature if mtime is not None), default=0.0)
    if now - touched < ACTIVE_S or any(now - beat < ACTIVE_S for beat in beats):
        return "running"
    return "failed"


def _state_may_change(loaded: LoadedRun) -> bool:
    """A running run turns 'failed' by time alone (no file changes): re-check it after the grace."""
    if loaded.state != "running":
        return False
    touched = max((mtime / 1e9 for _, mtime, _ in loaded.signature if mtime is not None), default=0.0)
    return time.time() - touched >= ACTIVE_S


def _dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (an older run's summary may differ)."""
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
