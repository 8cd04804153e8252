"""Checking the arguments of the augmenters that are not options, and picking options by prefix.

The options themselves are pydantic models (``ImageAugmentOptions``, ``EDAOptions`` on
``knobs._validation``); what is left here are the checks of plain arguments (a seed, a class
count) in the same words, and how a trial's hyperparameters become options.
"""

from __future__ import annotations

from typing import Any, Mapping

from knobs._validation import expect_count
from knobs.errors import ConfigError

__all__ = ["check_count", "merge_options", "pick_params"]


def check_count(key: str, value: Any, low: int = 0) -> int:
    """An integer >= ``low`` (a float such as 4.0 from a search space counts), else ``ConfigError``."""
    try:
        return expect_count(value, low)
    except ValueError as error:
        raise ConfigError(f"{key}: {error}, got {value!r}") from None


def pick_params(params: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries of a trial's ``params`` under ``prefix``, with the prefix removed.

    Example:
        >>> pick_params({"lr": 0.1, "augment.rotation": 10.0}, "augment.")
        {'rotation': 10.0}
    """
    if not isinstance(params, Mapping):
        raise ConfigError(f"params: expected a dict of hyperparameters, got {type(params).__name__}")
    return {key[len(prefix):]: value for key, value in params.items()
            if isinstance(key, str) and key.startswith(prefix)}


def merge_options(config: Any, options: Mapping[str, Any], what: str) -> Any:
    """``config`` with options given as keywords laid over it (``ImageAugment(hflip=0.5)``, as torchvision's
    transforms and Keras' layers take them); unknown names are then the options model's own message.

    Raises:
        ConfigError: an option given both in ``config`` and as a keyword, or keywords beside an options object.
    """
    if not options:
        return config
    if config is None:
        return dict(options)
    if not isinstance(config, Mapping):
        raise ConfigError(f"{what}: give the options as a config object or as keywords, not both "
                          f"({', '.join(options)} beside a {type(config).__name__})")
    twice = sorted(set(config) & set(options))
    if twice:
        raise ConfigError(f"{what}: {', '.join(twice)} given twice, in the config dict and as a keyword; keep one")
    return {**config, **options}
