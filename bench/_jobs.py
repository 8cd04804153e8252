"""One way for the benchmarks to run independent tasks: in ``jobs`` processes, or in this one.

Why in this one for ``jobs == 1``: a traceback from the task itself, and no pickling of what it returns.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable


def map_jobs(fn: Callable[[Any], Any], tasks: Iterable[Any], jobs: int) -> list[Any]:
    """``[fn(t) for t in tasks]``, in order, over ``jobs`` processes when ``jobs > 1``."""
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            return list(pool.map(fn, tasks))
    return [fn(t) for t in tasks]
