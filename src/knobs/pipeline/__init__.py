"""The practice cycle from one config (``knobs run``)."""

from knobs.pipeline.stages._cycle import RunResult, run
from knobs.pipeline.ui._display import Display

__all__ = ["Display", "RunResult", "run"]
