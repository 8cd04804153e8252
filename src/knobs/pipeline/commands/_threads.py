"""The torch threads of a command that applies a finished run: the run's own ``train.threads``.

Why: a run caps torch's intra-op threads at ``train.threads`` (default 1, ``stages/_inputs.load_inputs``)
so that it shares the machine it runs on; ``knobs predict`` and ``knobs evaluate`` run the same
models on the same machines, and without the cap torch takes every core. They apply the setting the
run was started with (its last ``run_start`` event in events.jsonl: a resumed run's config is
the one that finished it), or ``--threads`` when given.
"""

from __future__ import annotations

from pathlib import Path

import torch

from knobs.config import TrainConfig
from knobs.errors import ConfigError
from knobs.report._page import read_events

__all__ = ["run_threads", "use_run_threads"]

_DEFAULT = TrainConfig.model_fields["threads"].default


def run_threads(run_dir: str | Path) -> int:
    """``train.threads`` of the run in ``run_dir`` (the schema's default when its log does not say)."""
    starts = [e for e in read_events(Path(run_dir) / "events.jsonl") if e.get("event") == "run_start"]
    config = starts[-1].get("config") if starts else None
    threads = ((config or {}).get("train") or {}).get("threads") if isinstance(config, dict) else None
    if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1:
        return threads
    return _DEFAULT


def use_run_threads(run_dir: str | Path, threads: int | None = None) -> int:
    """Cap torch's intra-op threads at ``threads``, or at the run's ``train.threads``; the number used.

    Raises:
        ConfigError: ``threads`` is not a positive integer.
    """
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"--threads must be a positive integer (torch threads), got {threads!r}")
    chosen = run_threads(run_dir) if threads is None else threads
    torch.set_num_threads(chosen)
    return chosen
