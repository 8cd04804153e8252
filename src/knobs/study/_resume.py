"""Opening a study: create it, or find it and check it is the same study, and the JSON forms of
its sampler and pruner.

Why stored as ``{"class": name, ...}`` JSON and rebuilt from the module namespace
(``getattr(knobs.search, name)``): no pickles in storage, and a study reopened by another
process or another knobs version continues with the same sampler sequence.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from knobs.errors import ConfigError, KnobsError
from knobs.space import Space
from knobs.storage import Storage, StudyRecord, jsonable

__all__ = ["StudyMismatch", "open_record", "find_record", "sampler_json", "pruner_json", "load_sampler_state",
           "rebuild_sampler", "rebuild_pruner", "default_sampler"]


class StudyMismatch(ConfigError):
    """A stored study differs from the one asked for; ``what`` names the difference for a run
    (``"search.space (parameters that differ: width)"``) so the pipeline can word it for ``--name``."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


def default_sampler() -> Any:
    """``knobs.search.Random(seed=None)``, imported late (search imports the space layer)."""
    from knobs import search

    return search.Random(seed=None)


def open_record(storage: Storage, name: str, *, space: Space, direction: str, load_if_exists: bool) -> StudyRecord:
    """The stored study ``name``: created when missing, else checked against space/direction."""
    record = storage.get_study(name)
    if record is None:
        try:
            return storage.create_study(name, direction=direction, space=space.to_json())
        except KnobsError:  # another worker created it a moment ago
            record = storage.get_study(name)
            if record is None:
                raise
    if not load_if_exists:
        raise KnobsError(f"a study named {name!r} already exists in {storage.url}; pass "
                         "load_if_exists=True to continue it, or choose another name")
    _check_same(record, storage, space, direction)
    return record


def find_record(storage: Storage, name: str | None) -> StudyRecord:
    """The study ``name`` (or the only one when ``name`` is None); the message lists the others."""
    names = storage.study_names()
    if name is None and len(names) == 1:
        name = names[0]
    record = storage.get_study(name) if name is not None else None
    if record is None:
        there = ", ".join(repr(n) for n in names) or "none"
        what = "no study name given and several" if name is None and names else f"no study named {name!r}"
        raise KnobsError(f"{what} in {storage.url}; studies there: {there}")
    return record


def _check_same(record: StudyRecord, storage: Storage, space: Space, direction: str) -> None:
    where = f"study {record.name!r} in {storage.url}"
    if record.direction != direction:
        raise StudyMismatch(f"{where} was created with direction={record.direction!r}, not {direction!r}; "
                            "use the same direction or another study name",
                            what=f"search.metric (its study is to {record.direction}, this config's to {direction})")
    stored = (record.space or {}).get("params", {})
    given = space.to_json()["params"]
    changed = sorted(n for n in set(stored) | set(given) if stored.get(n) != given.get(n))
    if changed:
        raise StudyMismatch(f"{where} was created with a different space (parameters that differ: "
                            f"{', '.join(changed)}); use the same space or another study name",
                            what=f"search.space (parameters that differ: {', '.join(changed)})")


def sampler_json(sampler: Any) -> dict[str, Any]:
    """Class, constructor arguments (when JSON-able) and ``state_dict()`` of a sampler."""
    return {"class": type(sampler).__name__, "params": _init_params(sampler), "state": sampler.state_dict()}


def _init_params(obj: Any) -> dict[str, Any]:
    """The constructor arguments an object stored as attributes (scikit-learn style)."""
    names = [p for p in inspect.signature(type(obj).__init__).parameters if p not in ("self", "args", "kwargs")]
    params = {n: getattr(obj, n) for n in names if hasattr(obj, n)}
    try:
        return jsonable(params, "params")
    except KnobsError:
        return {}


def pruner_json(pruner: Any) -> dict[str, Any] | None:
    if pruner is None:
        return None
    params = pruner.get_params() if hasattr(pruner, "get_params") else {}
    return {"class": type(pruner).__name__, "params": params}


def load_sampler_state(sampler: Any, stored: dict[str, Any] | None) -> None:
    """Continue a stored sequence when the stored sampler is of the same class."""
    if stored and stored.get("class") == type(sampler).__name__ and stored.get("state") is not None:
        sampler.load_state_dict(stored["state"])


def rebuild_sampler(stored: dict[str, Any] | None) -> Any:
    """``knobs.search.<class>(**params)`` with its stored state; Random when the class is not knobs'."""
    from knobs import search

    cls = getattr(search, str((stored or {}).get("class")), None)
    try:
        sampler = cls(**(stored or {}).get("params", {})) if isinstance(cls, type) else None
    except (TypeError, KnobsError):
        sampler = None
    if sampler is None:
        if stored:
            warnings.warn(f"the stored sampler {stored.get('class')!r} is not a knobs.search class; "
                          "continuing with knobs.search.Random (pass sampler= to choose)", stacklevel=3)
        return default_sampler()
    load_sampler_state(sampler, stored)
    return sampler


def rebuild_pruner(stored: dict[str, Any] | None) -> Any:
    """``knobs.prune.<class>(**params)``, or None when none was stored."""
    from knobs import prune

    if not stored:
        return None
    cls = getattr(prune, str(stored.get("class")), None)
    if not isinstance(cls, type):
        warnings.warn(f"the stored pruner {stored.get('class')!r} is not a knobs.prune class; "
                      "continuing without pruning (pass pruner= to choose)", stacklevel=3)
        return None
    return cls(**stored.get("params", {}))
