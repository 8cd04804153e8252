"""Weights for a pretrained backbone from a local file: read safely, fitted with every mismatch named.

Why ``weights_only=True`` (and safetensors): a weights file is data, and unpickling an arbitrary
``.pth`` runs whatever code it names. Why the head is special: pretrained weights come with the
classifier of their own task (ImageNet's 1000 classes); the new task's head has another shape, so
its weights are taken only when they fit, and every other key must match exactly — a missing or
reshaped body key means the file belongs to another architecture, which a silent
``strict=False`` would hide behind an accuracy at chance.

Example:
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    >>> state = {"0.weight": torch.zeros(8, 4), "0.bias": torch.zeros(8),
    ...          "1.weight": torch.zeros(1000, 8), "1.bias": torch.zeros(1000)}
    >>> fit_weights(net, state, head="1", family="demo", source="demo.pth")
    ['1.weight', '1.bias']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from knobs.errors import DataError

__all__ = ["WeightsError", "GivenWeights", "read_state_dict", "fit_weights", "load_weights_file"]


class WeightsError(DataError):
    """A weights file is missing, unreadable, or does not fit the backbone it is loaded into."""


@dataclass(frozen=True)
class GivenWeights:
    """A state_dict already read (e.g. from a ``[transfer]`` source that is a whole saved module), with
    what to call it in messages; a backbone's ``build`` takes it where it takes a weights file."""

    state: dict[str, torch.Tensor]
    source: str


def read_state_dict(path: str | os.PathLike, family: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file or a ``torch.save``d state_dict (read with
    ``weights_only=True``; a knobs checkpoint's ``model`` entry and a ``{"state_dict": …}`` wrapper
    are unwrapped).

    Raises:
        WeightsError: no file, unreadable, or not a mapping of names to tensors.
    """
    where = f"model.weights {str(path)!r}" + (f" (for {family!r})" if family else "")
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{where}: no such file; give the path of a state_dict saved with "
                           f"torch.save(model.state_dict(), path) or a .safetensors file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch and safetensors raise many kinds for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{where}: not a readable state_dict ({first}); save the weights with "
                           f"torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "format" in state:
        if state.get("omitted"):
            raise WeightsError(f"{where}: a knobs checkpoint that holds only what its run trained (its frozen "
                               f"{', '.join(state['omitted']['prefixes'])} part, the pretrained weights, was left out); "
                               f"give it as [transfer] source, which rebuilds the rest, or give the pretrained weights "
                               f"file itself")
        state = state["model"]  # a knobs checkpoint
    elif isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{where}: holds {type(state).__name__}, not a state_dict of tensors; save the weights "
                           f"with torch.save(model.state_dict(), path)")
    return state


def fit_weights(model: nn.Module, state: dict[str, torch.Tensor], *, head: str, family: str,
                source: str) -> list[str]:
    """Load ``state`` into ``model``; return the head keys left out because their shape differs.

    Raises:
        WeightsError: a body key missing, unexpected or of another shape (a few named, with the family).
    """
    own = model.state_dict()
    in_head = lambda key: key == head or key.startswith(head + ".")  # noqa: E731
    missing = [k for k in own if k not in state and not in_head(k)]
    unexpected = [k for k in state if k not in own]
    reshaped = [f"{k} {list(state[k].shape)} vs {list(v.shape)}"
                for k, v in own.items() if k in state and not in_head(k) and state[k].shape != v.shape]
    problems = [f"{label}: {_few(keys)}" for label, keys in
                (("missing", missing), ("unexpected", unexpected), ("shape mismatch (file vs model)", reshaped)) if keys]
    if problems:
        raise WeightsError(f"{source} does not fit the {family!r} backbone — " + "; ".join(problems)
                           + f"; give weights saved from a {family!r} model")
    skipped = [k for k in own if in_head(k) and (k not in state or state[k].shape != own[k].shape)]
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return skipped


def load_weights_file(model: nn.Module, path: str | os.PathLike | GivenWeights, *, head: str,
                      family: str) -> nn.Module:
    """``read_state_dict`` then ``fit_weights``: a backbone's ``model.weights`` (or weights already read)."""
    if isinstance(path, GivenWeights):
        fit_weights(model, path.state, head=head, family=family, source=path.source)
        return model
    fit_weights(model, read_state_dict(path, family), head=head, family=family, source=f"model.weights {str(path)!r}")
    return model


def _few(keys: list[str], n: int = 4) -> str:
    return ", ".join(keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")
