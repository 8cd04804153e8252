"""Running random augmentations from a private seed without touching the global generators.

Why fork the global generators instead of passing a ``torch.Generator``: kornia draws its
parameters (and torch its Beta samples) from torch's global generators and takes no generator
argument. Seeding them inside ``torch.random.fork_rng`` gives an augmentation its own stream,
reproducible from its seed, while dropout, shuffling and everything else outside see their
generators exactly as before.

Example:
    >>> with seeded(7, torch.device("cpu")):
    ...     a = torch.rand(1)
    >>> with seeded(7, torch.device("cpu")):
    ...     b = torch.rand(1)
    >>> bool(a == b)
    True
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["seeded", "draw_seed"]


def draw_seed(generator: torch.Generator) -> int:
    """The next 62-bit seed of ``generator`` (one per batch, so each batch has its own stream)."""
    return int(torch.randint(2**62, (1,), generator=generator))


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Inside: torch's CPU generator (and ``device``'s, on CUDA) seeded with ``seed``; restored after.

    ``seed=None`` leaves the global generators alone: the augmentation then follows
    ``torch.manual_seed`` and is captured by the Trainer's checkpoints like dropout is.
    """
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        if devices:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield
