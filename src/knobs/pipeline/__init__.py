"""The practice cycle from one config (``knobs run``), and the commands built on a run's config:
``diagnose_config`` (``knobs diagnose --config``) and ``check_config`` (``knobs check``).

NOTE: the names load on first use (PEP 562), so a subpackage that needs no torch — ``knobs worker``
reporting a wrong database URL or study name — stays quick to import.
"""

import importlib

_EXPORTS = {"run": "knobs.pipeline.stages._cycle", "RunResult": "knobs.pipeline.stages._cycle",
            "Display": "knobs.pipeline.ui._display", "check_config": "knobs.pipeline.commands._diagnose",
            "diagnose_config": "knobs.pipeline.commands._diagnose"}

__all__ = ["Display", "RunResult", "check_config", "diagnose_config", "run"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'knobs.pipeline' has no attribute {name!r}")
