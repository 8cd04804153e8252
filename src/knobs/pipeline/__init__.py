"""The practice cycle from one config (``knobs run``), and the commands built on a run's config:
``diagnose_config`` (``knobs diagnose --config``) and ``check_config`` (``knobs check``)."""

from knobs.pipeline.commands._diagnose import check_config, diagnose_config
from knobs.pipeline.stages._cycle import RunResult, run
from knobs.pipeline.ui._display import Display

__all__ = ["Display", "RunResult", "check_config", "diagnose_config", "run"]
