"""Samplers and pruners named in a config, built from the module namespaces (no registries)."""

from __future__ import annotations

from typing import Any

from knobs import prune, search
from knobs.errors import ConfigError

__all__ = ["make_sampler", "make_pruner"]

_SAMPLERS = {"grid": "Grid", "random": "Random", "coarse_to_fine": "CoarseToFine", "bayes": "Bayes"}
_PRUNERS = {"median": "Median", "asha": "ASHA", "hyperband": "Hyperband", "curve": "Curve"}


def make_sampler(name: str, options: dict[str, Any], seed: int) -> Any:
    """``knobs.search.<Name>(seed=seed, **options)``; a bad option names the key."""
    return _build(search, _SAMPLERS[name], {"seed": seed, **options}, "search.sampler_options")


def make_pruner(name: str, options: dict[str, Any], max_epochs: int, keep: int = 1) -> Any:
    """``knobs.prune.<Name>(**options)`` or None; ASHA/Hyperband/Curve default to the epoch budget,
    Curve's ``rank`` to ``keep`` (the ensemble's top k: it compares with the k-th best, so the
    ensemble is not left with fewer completed members than it takes)."""
    if name == "none":
        return None
    if name in ("asha", "hyperband", "curve"):
        options = {"max_resource": max_epochs, **options}
    if name == "curve":
        options = {"rank": keep, **options}
    return _build(prune, _PRUNERS[name], options, "search.pruner_options")


def _build(module: Any, class_name: str, options: dict[str, Any], where: str) -> Any:
    cls = getattr(module, class_name)
    try:
        return cls(**options)
    except TypeError as e:
        raise ConfigError(f"{where}: {e} — see the docstring of knobs.{module.__name__.split('.')[-1]}.{class_name}") from None
