"""The one way knobs reports bad input: a ``KnobsError`` whose message names the culprit.

Why a hierarchy of our own: the CLI turns every ``KnobsError`` into one readable line and exit
code 2, while genuine bugs still surface as tracebacks. Each subclass is also a ``ValueError`` so
library users can catch the familiar type.
"""

from __future__ import annotations

__all__ = ["KnobsError", "ConfigError", "DataError", "SpaceError", "TrialError"]


class KnobsError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


class ConfigError(KnobsError):
    """A configuration key or value is wrong (unknown key, out-of-range value, bad type)."""


class DataError(KnobsError):
    """The data is wrong or missing (file not found, labels out of range, NaN, shape mismatch)."""


class SpaceError(KnobsError):
    """A search space is malformed (empty, low >= high, log scale with low <= 0, duplicates)."""


class TrialError(KnobsError):
    """A trial was used wrongly (told twice, reported after it finished, unknown number)."""
