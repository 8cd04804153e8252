"""Minibatches for a population: each member its own seeded order, or one loader's order for all.

Why per-member orders for in-memory data: member i then sees exactly the batches a one-by-one
``Trainer`` with seed sᵢ sees (the same ``torch.randperm`` from a generator seeded sᵢ), which makes
population mode a drop-in for one-trial-at-a-time, and members stay independent draws as in a
real search. The cost is P ``randperm`` calls per epoch and one (P, B) gather per step. A
DataLoader has its own sampler, so its batches are shared by all members (``per_member`` False):
the model then maps over members with the inputs unbatched.

Example:
    >>> X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    >>> [tuple(xb.shape) for xb, yb in MemberBatches(X, y, 4, gens)]
    [(2, 4, 3), (2, 4, 3), (2, 2, 3)]
"""

from __future__ import annotations

from typing import Iterator

import torch

from knobs.train._batches import LoaderBatches, TensorBatches, batch_bounds

__all__ = ["MemberBatches", "SharedBatches", "population_batches"]


class MemberBatches:
    """(P, B, ...) inputs and (P, B, ...) targets, member i shuffled by ``generators[i]``."""

    per_member = True

    def __init__(self, X: torch.Tensor, y: torch.Tensor, batch_size: int, generators: list[torch.Generator]) -> None:
        self.X, self.y, self.generators = X, y, generators
        self.bounds = batch_bounds(len(X), batch_size)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, device = len(self.X), self.X.device
        perms = torch.stack([torch.randperm(n, generator=g, device=device) for g in self.generators])
        for a, b in self.bounds:
            idx = perms[:, a:b]
            yield self.X[idx], self.y[idx]

    def select(self, keep: list[int]) -> None:
        """Keep the generators of the members at positions ``keep``."""
        self.generators = [self.generators[k] for k in keep]


class SharedBatches:
    """A DataLoader's batches on the device, the same for every member."""

    per_member = False

    def __init__(self, batches: LoaderBatches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.batches)

    def select(self, keep: list[int]) -> None:
        """Nothing per member to drop."""


def population_batches(batches: TensorBatches | LoaderBatches, *, batch_size: int,
                       seeds: list[int]) -> MemberBatches | SharedBatches:
    """Per-member orders for checked in-memory data (``make_batches``'s ``TensorBatches``),
    the loader's shared order for a ``LoaderBatches``."""
    if isinstance(batches, LoaderBatches):
        return SharedBatches(batches)
    device = batches.X.device
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    return MemberBatches(batches.X, batches.y, batch_size, generators)
