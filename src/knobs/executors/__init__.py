"""Running a study's trials elsewhere: as Ray tasks. Generic: any study, any objective.

Local worker processes need nothing from here: ``study.optimize(objective, workers=4)``. A worker
that joins a study of ``knobs run`` (``knobs worker``) rebuilds the run's objective, so it lives
with the run: ``knobs.pipeline.commands``.

Example:
    >>> from knobs.executors import RayExecutor
    >>> study.optimize(objective, n_trials=40, workers=8,
    ...                executor=RayExecutor(address="auto", cpus=1, gpus=0.5))  # doctest: +SKIP
"""

from knobs.executors._ray import RayExecutor
__all__ = ["RayExecutor"]
