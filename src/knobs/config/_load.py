"""Reading a TOML config and turning pydantic's errors into one clear ``ConfigError``."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from knobs.config._schema import RunConfig
from knobs.errors import ConfigError

__all__ = ["load_config", "parse_config"]


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read ``path`` (TOML) or take the defaults, apply dotted ``overrides``, validate.

    Raises:
        ConfigError: missing file, TOML syntax, unknown key (with a suggestion) or bad value.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config {p} is a directory; give a TOML file, e.g. {p / 'config.toml'} "
                              "(see docs/config.md)")
        if not p.is_file():
            raise ConfigError(f"config file not found: {p} (give a TOML file, see docs/config.md)")
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: not valid TOML: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: not a text file (byte {e.start} is not UTF-8); a config is a UTF-8 TOML "
                              "file (see docs/config.md)") from None
        except OSError as e:
            raise ConfigError(f"config file {p} cannot be read ({e.strerror}); check its permissions") from None
    origin = str(path) if path else "config"
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value, origin)
    return parse_config(raw, origin=origin)


def parse_config(raw: dict[str, Any], origin: str = "config") -> RunConfig:
    """Validate a plain dict as a ``RunConfig``."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, raw, origin)) from None


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, origin: str = "config") -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for depth, key in enumerate(parents):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            section = ".".join(parents[:depth + 1])
            raise ConfigError(f"{origin}: key '{section}' must be a table ([{section}]), got {node!r}")
    node[leaf] = value


def _describe(error: ValidationError, raw: dict[str, Any], origin: str) -> str:
    """The first problem, worded for a person: key path, what is wrong, what is expected."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        return f"{origin}: unknown key '{key}'{_suggest(loc)}"
    got = first.get("input")
    msg = first["msg"].removeprefix("Value error, ")  # a validator's own message, already worded for a person
    return f"{origin}: key '{key}': {msg} (got {got!r})"


def _suggest(loc: list[str]) -> str:
    """' (did you mean …?) — valid keys: …' for an unknown key at ``loc``."""
    model: type[BaseModel] = RunConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None) if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return ""
        model = annotation
    valid = sorted(model.model_fields)
    close = difflib.get_close_matches(loc[-1], valid, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    section = ".".join(loc[:-1]) or "top level"
    return f"{hint}; valid keys in {section}: {', '.join(valid)}"
