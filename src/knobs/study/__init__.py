"""``Study``: ask / tell / optimize over a space, with a sampler, a pruner and durable storage.

``Executor``, ``TrialResult``, ``run_objective`` and ``run_loop`` are the executor seam: how
``optimize`` runs claimed trials, written against ``Study``'s public ``claim`` / ``finish_many`` /
``stop_requested`` (see ``knobs.study.Executor`` for the call order).

Example:
    >>> import knobs
    >>> space = knobs.Space({"lr": knobs.Float(1e-4, 1e-1, log=True)})
    >>> study = knobs.Study(space, storage="sqlite:///study.db", name="demo")  # doctest: +SKIP
    >>> trial = study.ask(); study.tell(trial, 0.25)                          # doctest: +SKIP
"""

from knobs.study._callbacks import once_per_batch
from knobs.study._executor import Executor, TrialResult, run_loop, run_objective
from knobs.study._study import Study
from knobs.study._warm import WarmStart

__all__ = ["Study", "WarmStart", "once_per_batch", "Executor", "TrialResult", "run_objective", "run_loop"]
