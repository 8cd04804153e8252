"""docs/summary.md, read as the schema of summary.json, and a check of a summary against it.

Why the doc is the source of truth: a schema kept in code next to a hand-written page drifts; a
page that is parsed by the test suite cannot. The page's tables are the grammar (see its "How to
read the tables"): rows ``| `path` | type | meaning |`` and, for one split's metrics,
``| `key` | task | type | meaning |``.

    from summary_schema import check_summary
    assert check_summary(json.loads(path.read_text())) == []
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DOC", "Field", "load_schema", "check_summary"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "summary.md"
BASE_TYPES = ("string", "integer", "number", "boolean", "object", "list", "metrics")
TASKS = ("all", "classification", "binary", "regression", "multilabel", "segmentation")
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$")


@dataclass(frozen=True)
class Field:
    """One documented key: its base type, whether it may be null or absent, and (metrics) its task."""

    path: str
    base: str
    nullable: bool = False
    optional: bool = False
    task: str = "all"
    #: an ``open object``: its documented keys are checked, other keys are free-form
    open: bool = False

    @property
    def tasks(self) -> set[str]:
        """The tasks whose splits hold this metric (its task column may list several: "classification, multilabel")."""
        return {name.rstrip("?") for name in re.split(r",\s*", self.task)}

    @property
    def optional_for(self) -> set[str]:
        """The tasks whose splits may leave this metric out (marked "?" in the task column: "binary, multilabel?")."""
        return {name.rstrip("?") for name in re.split(r",\s*", self.task) if name.endswith("?")}


def parse_type(text: str, path: str) -> tuple[str, bool, bool, bool]:
    """``"optional number or null"`` → ``("number", True, True, False)``; ``"open object"`` →
    ``("object", False, False, True)``; an unknown word is an error."""
    words = text.strip()
    optional = words.startswith("optional ")
    words = words.removeprefix("optional ")
    is_open = words.startswith("open object")
    words = words.removeprefix("open ")
    nullable = words.endswith(" or null")
    base = words.removesuffix(" or null")
    if base not in BASE_TYPES:
        raise ValueError(f"docs/summary.md: `{path}` has type {text.strip()!r}; use one of {BASE_TYPES}")
    return base, nullable, optional, is_open


def load_schema(doc: Path | str = DOC) -> tuple[dict[str, Field], dict[str, Field]]:
    """``(fields by path, metric fields by key)`` from the tables of ``doc``."""
    fields: dict[str, Field] = {}
    metrics: dict[str, Field] = {}
    for line in Path(doc).read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if not match:
            continue
        path, cells = match.group(1), [c.strip() for c in match.group(2).split("|")]
        if len(cells) == 3 and {t.rstrip("?") for t in re.split(r",\s*", cells[0])} <= set(TASKS):  # | key | task(s) |
            base, nullable, optional, _ = parse_type(cells[1], path)
            target, field = metrics, Field(path, base, nullable, optional, cells[0])
        else:  # | key | type | meaning |
            base, nullable, optional, is_open = parse_type(cells[0], path)
            target, field = fields, Field(path, base, nullable, optional, open=is_open)
        if path in target:
            raise ValueError(f"docs/summary.md documents `{path}` twice")
        target[path] = field
    return fields, metrics


def check_summary(summary: dict[str, Any], doc: Path | str = DOC) -> list[str]:
    """Every way ``summary`` departs from the documented schema, one sentence each ([] = it matches)."""
    fields, metrics = load_schema(doc)
    data = summary.get("data") or {}
    problems: list[str] = []
    _check_object(summary, "", fields, metrics, data, problems)
    return problems


def _check_object(value: dict, path: str, fields: dict, metrics: dict, data: dict, problems: list) -> None:
    prefix = f"{path}." if path else ""
    children = {p[len(prefix):]: f for p, f in fields.items()
                if p.startswith(prefix) and "." not in p[len(prefix):] and not p[len(prefix):].endswith("[]")}
    is_open = path in fields and fields[path].open
    for key in value:
        if key not in children and not is_open:
            problems.append(f"`{prefix}{key}` is in summary.json but not documented in docs/summary.md")
    for key, field in children.items():
        if key not in value:
            if not field.optional:
                problems.append(f"`{prefix}{key}` is documented but missing from summary.json")
            continue
        _check_value(value[key], field, fields, metrics, data, problems)


def _check_value(value: Any, field: Field, fields: dict, metrics: dict, data: dict, problems: list) -> None:
    if value is None:
        if not field.nullable:
            problems.append(f"`{field.path}` is null but documented as {field.base}")
        return
    if not _is(value, field.base):
        problems.append(f"`{field.path}` is {type(value).__name__} {value!r:.60} but documented as {field.base}")
        return
    if field.base == "metrics":
        _check_metrics(value, field.path, metrics, data, problems)
    elif field.base == "object" and any(p.startswith(field.path + ".") for p in fields):
        _check_object(value, field.path, fields, metrics, data, problems)
    elif field.base == "list" and field.path + "[]" in fields:
        for item in value:
            _check_value(item, fields[field.path + "[]"], fields, metrics, data, problems)


def _check_metrics(value: dict, path: str, metrics: dict, data: dict, problems: list) -> None:
    task = data.get("task")
    binary = task == "classification" and data.get("n_classes") == 2
    wanted = {k: f for k, f in metrics.items()
              if {"all", task, *(("binary",) if binary else ())} & f.tasks}
    for key in value:
        if key not in wanted:
            problems.append(f"`{path}.{key}` is in summary.json but not documented as a {task} metric")
    for key, field in wanted.items():
        if key not in value:
            if not (field.optional or task in field.optional_for):
                problems.append(f"`{path}.{key}` ({task} metric) is documented but missing from summary.json")
            continue
        _check_value(value[key], Field(f"{path}.{key}", field.base, field.nullable), {}, {}, data, problems)


def _is(value: Any, base: str) -> bool:
    if base == "string":
        return isinstance(value, str)
    if base == "boolean":
        return isinstance(value, bool)
    if base == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "list":
        return isinstance(value, list)
    return isinstance(value, dict)  # object, metrics
