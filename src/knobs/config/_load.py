"""Reading a TOML config and turning pydantic's errors into one clear ``ConfigError``
(``knobs._validation.validation_message``: the wording every option set shares)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from knobs._validation import validation_message
from knobs.config._schema import SPACE_KEYS, RunConfig
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
        raise ConfigError(validation_message(e, RunConfig, origin=origin, elsewhere=SPACE_KEYS)) from None


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any, origin: str = "config") -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for depth, key in enumerate(parents):
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            section = ".".join(parents[:depth + 1])
            raise ConfigError(f"{origin}: key '{section}' must be a table ([{section}]), got {node!r}")
    node[leaf] = value

