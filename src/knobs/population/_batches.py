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

from knobs.errors import DataError
from knobs.train._batches import LoaderBatches, TensorBatches, batch_bounds

__all__ = ["MemberBatches", "SharedBatches", "PlainBatches", "population_batches", "refuse_weights"]

_LOCAL = 'train these trials one by one (search.executor = "local", or knobs.Trainer), which reads them'


def refuse_weights(batches: TensorBatches | LoaderBatches | None, name: str) -> None:
    """Refuse in-memory data that carries sample weights (a population's loss is unweighted)."""
    if isinstance(batches, TensorBatches) and batches.w is not None:
        raise DataError(f"{name}: the data carries sample weights ((X, y, w) or a 'weight' key), but population mode "
                        f"trains every member with one unweighted loss and would drop them; {_LOCAL}, or leave the "
                        f"weights out")


class PlainBatches:
    """A loader's ``(x, y)`` batches, refusing the forms a population cannot train on — sample
    weights and several inputs (``((x1, x2), y)``, a dict of inputs) — with one message each,
    instead of dropping the weights or failing inside ``vmap``."""

    def __init__(self, batches: LoaderBatches, name: str) -> None:
        self.batches, self.name = batches, name

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self.batches:
            if len(batch) == 3:
                raise DataError(f"{self.name}: the DataLoader's batches carry sample weights, but population mode "
                                f"trains every member with one unweighted loss and would drop them; {_LOCAL}, or leave "
                                f"the weights out")
            if isinstance(batch[0], tuple):
                raise DataError(f"{self.name}: the DataLoader's batches hold {len(batch[0])} inputs (a tuple or a dict "
                                f"of inputs), but population mode stacks models of one input tensor (mlp, convnet); "
                                f"{_LOCAL}, or give one input per example")
            yield batch


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
        self.batches = PlainBatches(batches, batches.name)

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
