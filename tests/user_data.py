"""A user's own data as tests hand it to knobs: a map-style torch Dataset of ``(x, y)`` items."""

from __future__ import annotations

import torch


class Pairs(torch.utils.data.Dataset):
    """Items ``(x, y)`` of arrays ``X``, ``y``, with no ``targets`` attribute (so knobs reads the items)."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return torch.as_tensor(self.X[i]), int(self.y[i])
