"""Running a study's trials elsewhere: as Ray tasks, or from a worker process that joins a study
created by ``knobs run`` / ``knobs tune``.

Local worker processes need nothing from here: ``study.optimize(objective, workers=4)``.

Example:
    >>> from knobs.executors import RayExecutor
    >>> study.optimize(objective, n_trials=40, workers=8,
    ...                executor=RayExecutor(address="auto", cpus=1, gpus=0.5))  # doctest: +SKIP
"""

from knobs.executors._ray import RayExecutor
from knobs.pipeline.commands._worker import serve

__all__ = ["RayExecutor", "serve"]
