"""The practice cycle from one config (``knobs run``)."""

from knobs.pipeline._cycle import RunResult, run
from knobs.pipeline._display import Display

__all__ = ["Display", "RunResult", "run"]
