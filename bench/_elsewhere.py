"""Run a bench script's arms with another knobs source first on the path (``--before DIR``).

Why a subprocess: two versions of knobs cannot share one interpreter. The script is run again
with ``--arms-only`` (which must print its rows as JSON on the last line) and ``DIR`` (a ``src``
folder, e.g. ``git archive <commit> src | tar -x -C /tmp/base``) on ``PYTHONPATH``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["run_elsewhere"]


def run_elsewhere(src: str, script: str, args: list[str]) -> Any:
    """The JSON that ``script --arms-only *args`` prints last, run with ``src`` on the path."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, script, "--arms-only", *args], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
