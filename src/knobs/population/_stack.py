"""P models of one architecture as one: parameters in a flat (P, N) tensor, run with vmap.

Why a flat (P, N) tensor: the optimizer then updates every layer of every member with a handful
of kernels whatever the depth, per-member hyperparameters broadcast as (P, 1) columns, and
freezing members is one row selection. The weights (≥ 2-D parameters, the ones weight decay and
L1 act on) come first, so decay touches the slice ``[:, :n_decay]``. Each step hands
``torch.func.functional_call`` fresh views of the rows, shaped like the module's parameters; the
gradients come back per parameter and are concatenated into the flat gradient.

Each member is built with ``build_model`` after ``torch.manual_seed(seed)``, exactly as a trial
builds its model, so member i starts from the weights a one-by-one run with that seed starts
from. Dropout modules are replaced by ``MemberDropout``, whose probability is a buffer: stacked,
it gives every member its own probability, and ``vmap(randomness="different")`` its own masks.

Shapes: P members, N parameters per member, B examples per batch, C outputs.

Example:
    >>> stack = StackedModel.build("mlp", (8,), 3, {"width": 16, "depth": 1}, dropouts=[0.0, 0.2],
    ...                            seeds=[0, 1], device=torch.device("cpu"))
    >>> stack.flat.shape
    torch.Size([2, 195])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn
from torch.func import functional_call

from knobs.models import build_model

__all__ = ["MemberDropout", "StackedModel", "Slot"]


class MemberDropout(nn.Module):
    """Inverted dropout whose drop probability ``p`` is a buffer (one value per stacked member)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        keep = 1.0 - self.p
        # NOTE: the mask holds 0 or 1/keep, so the backward pass is one multiply.
        # rand in [0, 1) is always < 1: p = 0 keeps every unit at scale 1, returning x unchanged.
        return x * ((torch.rand_like(x) < keep).to(x.dtype) * (1.0 / keep))


@dataclass(frozen=True)
class Slot:
    """Where one parameter lives in a member's row: columns ``[start, end)``, shaped ``shape``;
    ``position`` is its index in the module's ``parameters()`` order."""

    name: str
    shape: tuple[int, ...]
    start: int
    end: int
    position: int


class StackedModel:
    """The population's parameters and buffers, and the forward pass of one member over them.

    Attributes:
        base: the module whose forward runs (its own tensors are never used).
        flat: (P, N) parameters; rows are members.
        buffers: stacked buffers (batch-norm statistics, per-member dropout ``p``), each (P, ...).
        slots: the parameter layout of a row; weights first, ``n_decay`` columns of them.
        names: for a member with and without dropout, its own model's parameter and buffer names
            (dropout layers shift ``nn.Sequential`` indices), used to export its state dict.
    """

    def __init__(self, base: nn.Module, flat: torch.Tensor, buffers: dict[str, torch.Tensor],
                 slots: list[Slot], names: dict[bool, tuple[list[str], list[str]]]) -> None:
        self.base, self.flat, self.buffers, self.slots, self.names = base, flat, buffers, slots, names
        self.n_decay = sum(s.end - s.start for s in slots if len(s.shape) >= 2)
        self._own_buffers = [k for k in buffers if k not in _dropout_buffers(base)]

    # ---- building -------------------------------------------------------------------------------

    @classmethod
    def build(cls, family: str, input_shape: Sequence[int], n_classes: int, architecture: dict[str, Any], *,
              dropouts: Sequence[float], seeds: Sequence[int], device: torch.device) -> "StackedModel":
        """Build each member with its seed (as a one-by-one trial does) and stack them on ``device``."""
        members, names = [], {}
        for p, seed in zip(dropouts, seeds):
            torch.manual_seed(seed)
            model = build_model(family, input_shape=tuple(input_shape), n_classes=n_classes, **architecture, dropout=p)
            names.setdefault(p > 0, ([n for n, _ in model.named_parameters()], [n for n, _ in model.named_buffers()]))
            members.append(model)
        base = _base(family, input_shape, n_classes, architecture, any(p > 0 for p in dropouts))
        slots = _layout(base)
        flat = torch.stack([_row(m, slots) for m in members]).to(device)
        buffers = _stack_buffers(base, members, [float(p) for p in dropouts], device)
        return cls(base.to(device), flat, buffers, slots, names)

    # ---- running --------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """P, the members still stacked."""
        return self.flat.shape[0]

    def views(self) -> list[torch.Tensor]:
        """Fresh leaf views of ``flat`` shaped like each parameter, (P, *shape), requiring grad."""
        P = self.flat.shape[0]
        return [self.flat[:, s.start:s.end].view(P, *s.shape).requires_grad_() for s in self.slots]

    def call(self, params: Sequence[torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """One member's forward pass (the function ``vmap`` maps over members)."""
        named = {s.name: p for s, p in zip(self.slots, params)}
        return functional_call(self.base, (named, buffers), (x,))

    def select(self, keep: torch.Tensor) -> None:
        """Keep only the members at positions ``keep`` (a 1-D long tensor on the device)."""
        self.flat = self.flat.index_select(0, keep)
        self.buffers = {k: v.index_select(0, keep) for k, v in self.buffers.items()}

    def member_state(self, row: torch.Tensor, buffers: dict[str, torch.Tensor], dropout: float) -> dict[str, torch.Tensor]:
        """One member's state dict (CPU copies), named as its own ``build_model`` model names it.

        Args:
            row: the member's (N,) parameters.
            buffers: its stacked-buffer entries, each without the member dimension.
            dropout: its dropout probability (a model without dropout numbers its layers differently).
        """
        param_names, buffer_names = self.names[dropout > 0]
        state = {param_names[s.position]: row[s.start:s.end].view(s.shape).detach().cpu().clone() for s in self.slots}
        state.update({name: buffers[k].detach().cpu().clone() for name, k in zip(buffer_names, self._own_buffers)})
        return state


def _base(family: str, input_shape, n_classes: int, architecture: dict, with_dropout: bool) -> nn.Module:
    """The module whose forward runs; its dropout layers become ``MemberDropout``."""
    with torch.random.fork_rng(devices=[]):  # building it must not move anyone's random stream
        base = build_model(family, input_shape=tuple(input_shape), n_classes=n_classes, **architecture,
                           dropout=0.5 if with_dropout else 0.0)
    _swap_dropout(base)
    return base


def _swap_dropout(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Dropout):
            setattr(module, name, MemberDropout())
        else:
            _swap_dropout(child)


def _dropout_buffers(base: nn.Module) -> set[str]:
    return {f"{name}.p" for name, m in base.named_modules() if isinstance(m, MemberDropout)}


def _layout(base: nn.Module) -> list[Slot]:
    params = [(i, n, p) for i, (n, p) in enumerate(base.named_parameters())]
    ordered = [t for t in params if t[2].ndim >= 2] + [t for t in params if t[2].ndim < 2]
    slots, start = [], 0
    for position, name, p in ordered:
        slots.append(Slot(name, tuple(p.shape), start, start + p.numel(), position))
        start += p.numel()
    return slots


def _row(model: nn.Module, slots: list[Slot]) -> torch.Tensor:
    """A member's parameters in the layout's order (matched by position: dropout owns none)."""
    own = list(model.parameters())
    return torch.cat([own[s.position].detach().reshape(-1) for s in slots])


def _stack_buffers(base: nn.Module, members: list[nn.Module], dropouts: list[float],
                   device: torch.device) -> dict[str, torch.Tensor]:
    """Batch-norm statistics stacked by position, and each dropout layer's per-member ``p``."""
    dropout_names = _dropout_buffers(base)
    own = [list(m.buffers()) for m in members]
    stacked, k = {}, 0
    for name, _ in base.named_buffers():
        if name in dropout_names:
            stacked[name] = torch.tensor(dropouts, device=device)
        else:
            stacked[name] = torch.stack([b[k].detach() for b in own]).to(device)
            k += 1
    return stacked
