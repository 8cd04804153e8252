"""Seeding and capturing every random number generator a training run touches.

Why all four: dropout and weight init draw from torch's CPU or CUDA generator, user code and some
libraries draw from NumPy's and Python's. A checkpoint that restores all of them lets a resumed
run continue bit for bit. States are stored as tensors and plain lists so that
``torch.load(weights_only=True)`` can read them.

Example:
    >>> seed_everything(0); state = rng_state(); a = torch.rand(1)
    >>> set_rng_state(state); bool(torch.rand(1) == a)
    True
"""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch

__all__ = ["seed_everything", "rng_state", "set_rng_state", "forked_rng"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every generator, in a ``weights_only``-loadable form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured (CUDA only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


@contextlib.contextmanager
def forked_rng(seed: int | None) -> Iterator[None]:
    """Seed every generator for the block, then give the caller's states back.

    Why: a seeded fit must be reproducible (dropout and augmentation draw from the global torch
    generator), but reseeding the caller's generators for good makes two fits under different
    user seeds draw identical numbers afterwards. ``torch.random.fork_rng`` covers torch alone;
    this covers Python and NumPy too. ``seed=None`` changes nothing: the block draws from, and
    advances, the caller's generators (two unseeded fits must not repeat each other).
    """
    if seed is None:
        yield
        return
    saved = rng_state()
    try:
        seed_everything(seed)
        yield
    finally:
        set_rng_state(saved)
