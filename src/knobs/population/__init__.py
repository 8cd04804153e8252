"""Population training: many configurations of one small model trained at once on one device.

``train_population`` stacks P members' parameters and runs them as one vmapped program with
per-member learning rate, weight decay, momentum/betas, dropout, L1, clipping, schedule, early
stopping (best weights restored) and divergence handling; ``PopulationObjective`` trains a batch
of a study's trials in such populations, grouped by architecture, reporting every epoch to each
trial so pruners work, and ``PopulationExecutor`` is the ``Study.optimize`` executor that asks
the batches and tells each trial (``optimize_population`` is the shorthand).

Example:
    >>> import torch
    >>> from knobs.population import train_population
    >>> X, y = torch.randn(96, 8), torch.randint(0, 3, (96,))
    >>> results = train_population("mlp", {"width": 16, "depth": 1},
    ...                            [{"lr": 1e-2}, {"lr": 1e-3, "dropout": 0.2}],
    ...                            train=(X, y), val=(X, y), epochs=2, batch_size=32, device="cpu")
    >>> [r.diverged for r in results]
    [False, False]
"""

from knobs.population._executor import PopulationExecutor
from knobs.population._members import FAMILIES, MEMBER_KEYS, OPTIMIZERS, SHARED_KEYS, group_members, population_key
from knobs.population._objective import PopulationObjective, optimize_population
from knobs.population._tracking import MemberResult
from knobs.population._train import train_population

__all__ = [
    "FAMILIES", "MEMBER_KEYS", "MemberResult", "OPTIMIZERS", "PopulationExecutor", "PopulationObjective", "SHARED_KEYS",
    "group_members", "optimize_population", "population_key", "train_population",
]
