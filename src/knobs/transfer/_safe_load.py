"""Reading a transfer source safely: a state_dict, a knobs checkpoint, or a whole saved module of
an allow-listed class — never an arbitrary pickle.

Why not ``torch.load(weights_only=False)``: unpickling runs whatever callable the file names
(``os.system`` included), so a downloaded ``model.pth`` could run code. ``weights_only=True``
refuses every class it does not know, which also refuses an honest ``torch.save(model)``. So the
file's globals are listed first (``torch.serialization.get_unsafe_globals_in_checkpoint``, which
reads the pickle without running it) and allowed only when they are *model classes* of known
packages: ``nn.Module`` subclasses (and their namedtuple / config records) from ``torch.nn``,
``efficientnet_lite_pytorch``, ``timm``, ``transformers`` and ``knobs.models``. Those are handed to
``torch.serialization.safe_globals`` for this one load; anything else — a function, a class of
another package — is named in one message that says to save a ``state_dict`` instead. A module
outside those packages is never imported to find out what it is.

Example:
    >>> # obj = read_source("model.pth")   # a dict of tensors, a knobs checkpoint, or an nn.Module
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from knobs.train import CheckpointError

__all__ = ["UnsafeSource", "read_source", "ALLOWED_PACKAGES", "allowed_global"]

#: Packages whose model classes a whole saved module may use.
ALLOWED_PACKAGES = ("torch.nn", "efficientnet_lite_pytorch", "timm", "transformers", "knobs.models")


class UnsafeSource(CheckpointError):
    """The file is a pickle that names globals outside the allow-list; it is not unpickled."""


def read_source(path: str | os.PathLike, what: str = "transfer.source") -> Any:
    """The object saved in ``path``, read with ``weights_only=True``.

    Raises:
        CheckpointError: no such file, or not readable by ``torch.load``.
        UnsafeSource: globals outside the allow-list (named), with what to do instead.
    """
    path = Path(path)
    where = f"{what} {str(path)!r}"
    if not path.is_file():
        raise CheckpointError(f"{what}: no file at {path}")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 — not a zip checkpoint (legacy or corrupt): torch.load says which below
        names = []
    resolved = {name: allowed_global(name) for name in names}
    refused = sorted(name for name, obj in resolved.items() if obj is None)
    if refused:
        raise _unsafe(where, refused)
    try:
        with torch.serialization.safe_globals(list(resolved.values())):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 — torch raises many kinds for a corrupt file
        # NOTE: a legacy (non-zip) file cannot be listed beforehand; weights_only still refuses its
        # globals while reading, and torch's message names the first one.
        named = _GLOBAL_IN_MESSAGE.findall(str(err))
        if named:
            raise _unsafe(where, sorted(set(named))) from None
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{where} is not a readable checkpoint or state_dict ({first})") from None


_GLOBAL_IN_MESSAGE = re.compile(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)")


def _unsafe(where: str, names: list[str]) -> UnsafeSource:
    return UnsafeSource(
        f"{where} is a pickle that names {', '.join(names)}, which knobs does not unpickle (loading it could "
        f"run code); save the weights instead — torch.save(model.state_dict(), path) — and set model.family "
        f"to the architecture they fit")


def allowed_global(name: str) -> Any | None:
    """The object ``name`` ("package.module.Class") if it is a model class of an allowed package, else None.

    Only modules inside ``ALLOWED_PACKAGES`` are imported; a class counts when it is an
    ``nn.Module``, a namedtuple-like record (a ``tuple`` subclass) or a transformers config.
    """
    module_name, _, qualname = name.rpartition(".")
    if not module_name or not any(module_name == p or module_name.startswith(p + ".") for p in ALLOWED_PACKAGES):
        return None
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    if not isinstance(obj, type):
        return None
    if issubclass(obj, (nn.Module, tuple)) or _is_transformers_config(obj):
        return obj
    return None


def _is_transformers_config(cls: type) -> bool:
    return any(base.__module__.startswith("transformers.") and base.__name__ == "PretrainedConfig"
               for base in cls.__mro__)
