"""Checking the arguments of the augmenters that are not options, and picking options by prefix.

The options themselves are pydantic models (``ImageAugmentOptions``, ``EDAOptions`` on
``knobs._validation``); what is left here are the checks of plain arguments (a seed, a class
count) in the same words, and how a trial's hyperparameters become options.
"""

from __future__ import annotations

from typing import Any, Mapping

from knobs._validation import expect_count
from knobs.errors import ConfigError

__all__ = ["check_count", "pick_params"]


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
