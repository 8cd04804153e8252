"""Warm starts: an earlier study's finished trials fed to this study's sampler.

Why fed and never stored: the earlier trials ran on other data, other epochs or another space, so
they are evidence for the sampler's model, not results of this study. Kept out of storage they are
never counted against ``n_trials``, never ``study.best`` or in ``top_trials``, never in a report,
and a resumed study reads them again from their source instead of holding a second copy.

What is fed: complete and pruned trials (a pruned one's reports tell the model where bad regions
are; ``knobs.search._history``), each with ``attrs["warm_start"]`` naming the source and a negative
number (never one of this study's), its config renamed onto this space. Failed, running and fixed
trials (the autopilot's steps change keys outside the space) are not.

What overlaps: every axis of this space must be in the source under the same name (or one that
``rename`` maps to it) with the same kind and conditions, and the other way round; both studies
must have the same direction. Bounds and options may differ: a source trial outside this space
(an axis narrowed, an option removed, off a new step grid) is **dropped, not clipped** — clipped,
it would claim the value measured at x for a boundary point it never ran, a false observation
exactly where a narrowed search tends to end. Anything else is refused in one message naming each
mismatch and the fix.

Example:
    >>> import knobs
    >>> space = knobs.Space({"lr": knobs.Float(1e-4, 1e-1, log=True)})
    >>> study = knobs.Study(space, sampler=knobs.search.Bayes(),               # doctest: +SKIP
    ...                     warm_start=knobs.study.WarmStart("runs/exp1", rename={"learning_rate": "lr"}))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from knobs.errors import ConfigError, KnobsError
from knobs.search._base import _valid
from knobs.search._history import WARM_START
from knobs.space import Space
from knobs.storage import Storage, get_storage
from knobs.trial import FrozenTrial, TrialState

__all__ = ["WarmStart", "WarmTrials", "load_warm_start", "RUN_STUDY"]

#: the study a run directory's study.db holds (``knobs run`` / ``knobs tune``).
RUN_STUDY = "search"
_FIX = ("map renamed axes with rename={'old name': 'new name'} (search.warm_start_rename), give shared axes the "
        "same kind and conditions, or start without a warm start")


@dataclass(frozen=True)
class WarmStart:
    """Where an earlier study lives and how its axes map onto this space.

    Args:
        source: a run directory (its ``study.db``), a SQLite file, or a database URL.
        rename: ``{name in the source: name here}`` for axes that were renamed.
        study: the study's name in the source; None: the run's (``"search"``) or the only one.
    """

    source: str | Path
    rename: Mapping[str, str] = field(default_factory=dict)
    study: str | None = None


@dataclass(frozen=True)
class WarmTrials:
    """What a warm start fed: the trials, how many finished trials the source had, how many were
    dropped (outside this space), the source's URL and study name, and the axes renamed
    (``{name in the source: name here}``)."""

    trials: tuple[FrozenTrial, ...]
    finished: int
    dropped: int
    url: str
    name: str
    rename: Mapping[str, str] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What a run's ``warm_start`` event says: the source, the trials fed, dropped and renamed."""
        return {"source": self.url, "study": self.name, "fed": len(self.trials), "finished": self.finished,
                "dropped": self.dropped, "renamed": dict(self.rename)}


def load_warm_start(warm: Any, space: Space, direction: str) -> WarmTrials | None:
    """The source's trials mapped onto ``space``; None for no warm start.

    Raises:
        ConfigError: a bad argument, a source that cannot be read, spaces that do not overlap
            (one message: every mismatch, then the fix), or no trial inside this space.
    """
    if warm is None:
        return None
    warm = WarmStart(warm) if isinstance(warm, (str, Path)) else warm
    if not isinstance(warm, WarmStart):
        raise ConfigError(f"warm_start must be a run directory, a study file or URL, or a knobs.study.WarmStart; "
                          f"got {type(warm).__name__}")
    rename = _check_rename(warm.rename)
    url = _source_url(warm.source)
    try:
        store = get_storage(url, create=False)
    except KnobsError as e:
        raise ConfigError(f"warm_start {str(warm.source)!r} cannot be read: {e}") from None
    try:
        name = _study_name(store, warm)
        record = store.get_study(name)
        source_space = Space.from_json(record.space)
        trials = store.get_trials(record.id, [TrialState.COMPLETE, TrialState.PRUNED])
    finally:
        store.close()
    where = f"warm_start study {name!r} in {store.url}"
    _check_overlap(where, source_space, record.direction, space, direction, rename)
    finished = [t for t in trials if not t.attrs.get("fixed")]
    fed = []
    for t in finished:
        config = {rename.get(k, k): v for k, v in t.config.items()}
        if _valid(space, config):
            fed.append(FrozenTrial(-(len(fed) + 1), config, t.state, t.value, dict(t.intermediate),
                                   attrs={WARM_START: f"{store.url}#{name}"}))
    if finished and not fed:
        raise ConfigError(f"{where}: none of its {len(finished)} finished trials lies inside this space (every one "
                          f"is outside the new bounds or options); widen the space or start without a warm start")
    return WarmTrials(tuple(fed), len(finished), len(finished) - len(fed), store.url, name, dict(rename))


def same_study(warm: WarmTrials, storage: Storage, name: str) -> bool:
    """Whether ``warm`` was read from the study ``name`` in ``storage`` itself."""
    return warm.name == name and _file_or_url(warm.url) == _file_or_url(storage.url)


def _check_rename(rename: Any) -> dict[str, str]:
    if not isinstance(rename, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in rename.items()):
        raise ConfigError(f"warm_start rename must map old axis names to new ones ({{'lr': 'learning_rate'}}), "
                          f"got {rename!r}")
    if len(set(rename.values())) < len(rename):
        raise ConfigError(f"warm_start rename maps two axes to one name: {dict(rename)!r}")
    return dict(rename)


def _source_url(source: Any) -> str:
    """A database URL for a run directory, a SQLite file or a URL."""
    if not isinstance(source, (str, Path)) or not str(source).strip():
        raise ConfigError(f"warm_start needs a run directory, a study file or a database URL, got {source!r}")
    if isinstance(source, str) and "://" in source:
        return source
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "study.db").is_file():
            raise ConfigError(f"warm_start {str(source)!r} is a folder without a study.db: name a run directory, "
                              f"a study file, or the database URL of a run with search.storage")
        path = path / "study.db"
    elif not path.is_file():
        raise ConfigError(f"warm_start {str(source)!r} does not exist: name a run directory (runs/<name>), its "
                          f"study.db, or a database URL")
    return f"sqlite:///{path.resolve()}"


def _study_name(store: Storage, warm: WarmStart) -> str:
    names = store.study_names()
    if warm.study is not None:
        if warm.study not in names:
            raise ConfigError(f"warm_start: no study named {warm.study!r} in {store.url}; studies there: "
                              f"{', '.join(map(repr, names)) or 'none'}")
        return warm.study
    if len(names) == 1:
        return names[0]
    if RUN_STUDY in names:
        return RUN_STUDY
    raise ConfigError(f"warm_start: {store.url} holds {len(names)} studies ({', '.join(map(repr, names)) or 'none'}); "
                      f"name one with WarmStart(study=...)")


def _check_overlap(where: str, source: Space, source_direction: str, space: Space, direction: str,
                   rename: dict[str, str]) -> None:
    """Raise one ConfigError listing every way the spaces fail to overlap."""
    problems = []
    if source_direction != direction:
        problems.append(f"it was to {source_direction} its values, this study is to {direction} (the same "
                        f"search.metric is needed)")
    unknown = sorted(set(rename) - set(source.names))
    if unknown:
        problems.append(f"rename names {', '.join(map(repr, unknown))}, which it lacks (its axes: "
                        f"{', '.join(source.names)})")
    params = {rename.get(n, n): _renamed(source[n].to_json(), rename) for n in source.names}
    mine = {n: space[n].to_json() for n in space.names}
    if sorted(set(mine) - set(params)):
        problems.append(f"this space's {', '.join(map(repr, sorted(set(mine) - set(params))))} is not among its axes "
                        f"({', '.join(source.names)})")
    if sorted(set(params) - set(mine)):
        problems.append(f"its {', '.join(map(repr, sorted(set(params) - set(mine))))} is not in this space")
    for name in sorted(set(mine) & set(params)):
        ours, theirs = mine[name], params[name]
        if ours["type"] != theirs["type"]:
            problems.append(f"{name!r} is a {theirs['type']} there and a {ours['type']} here")
        elif ours["when"] != theirs["when"]:
            problems.append(f"{name!r} is active when {theirs['when'] or 'always'} there and when "
                            f"{ours['when'] or 'always'} here")
        elif not _overlaps(ours, theirs):
            problems.append(f"{name!r} shares no value with it ({_span(theirs)} there, {_span(ours)} here)")
    if problems:
        raise ConfigError(f"{where} cannot warm-start this study: {'; '.join(problems)}. Fix: {_FIX}")


def _renamed(param: dict[str, Any], rename: dict[str, str]) -> dict[str, Any]:
    return {**param, "when": {rename.get(parent, parent): values for parent, values in param["when"].items()}}


def _overlaps(ours: dict[str, Any], theirs: dict[str, Any]) -> bool:
    if ours["type"] == "choice":
        return any(option in theirs["options"] for option in ours["options"])
    return ours["low"] <= theirs["high"] and theirs["low"] <= ours["high"]


def _span(param: dict[str, Any]) -> str:
    return repr(param["options"]) if param["type"] == "choice" else f"[{param['low']}, {param['high']}]"


def _file_or_url(url: str) -> str:
    prefix = "sqlite:///"
    return str(Path(url[len(prefix):]).resolve()) if url.startswith(prefix) else url
