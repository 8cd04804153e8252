"""One BLAS thread for the sampler's small linear algebra.

Why: a Bayes suggestion solves systems of a few dozen rows many times (the GP fit's restarts, the
acquisition's L-BFGS-B polish). Multithreaded BLAS buys nothing at that size, and when workers train
beside the driver its threads wait for busy cores: a 7-D suggestion at 30–40 trials took 141 ms
instead of 39 ms with one core busy. Pinning to one thread (threadpoolctl, which scikit-learn
already uses) keeps the fast time on a busy machine and costs nothing on an idle one; the caller's
setting is restored on exit, so the user's own NumPy code keeps its threads.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

__all__ = ["blas_threads"]

_controller = None


def blas_threads(n: int | None) -> ContextManager:
    """A context in which NumPy/SciPy's BLAS uses ``n`` threads (None: leave it as it is)."""
    global _controller
    if n is None:
        return contextlib.nullcontext()
    if _controller is None:
        # NOTE: building the controller scans the loaded libraries (milliseconds); once per process.
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=n, user_api="blas")
