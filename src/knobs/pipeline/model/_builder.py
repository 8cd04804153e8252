"""Your own model: ``model.builder = "package.module:function"`` or ``"path/to/models.py:function"``.

The function is called as ``function(params, info)`` and returns an ``nn.Module``: ``params`` is a
dict of the trial's model keys (every searched or fixed key that is not a trainer key, see
``split_params``), ``info`` a ``ModelInfo`` (input shape, task, classes, vocabulary size).

Why a reference (a string), not the function: a run rebuilds its models in other processes and at
other times — worker processes and Ray tasks, ``knobs worker``, a resume, ``knobs predict``, a
``[transfer]`` from the run's checkpoint — and each of them re-imports the function from the
reference the run recorded. A ``.py`` path is relative to the working directory (as
``data.source`` and ``runs_dir`` are) and recorded absolute; its file is hashed (SHA-256) and the
hash rides in every checkpoint, so a model is never rebuilt from a file that changed since it was
trained (the weights would load into other code, or not at all).

Importing goes through ``knobs._imports`` (shared with ``data.builder``): a ``.py`` file is
imported once per process and content, so building a model per trial does not execute it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from knobs._imports import attribute, file_sha256, import_source, is_file_reference, source_file, split_reference
from knobs.errors import ConfigError

__all__ = ["Builder", "load_builder", "builder_for_record", "call_builder", "check_accepts", "check_output",
           "register_callable"]

_KEY = "model.builder"

#: Callables handed to ``knobs.run(model=...)`` in this process, by the reference they are recorded as
#: (a function defined in a notebook cannot be re-imported; in this process it need not be).
_REGISTERED: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class Builder:
    """A builder function imported from its reference.

    Attributes:
        reference: what a run records: ``/absolute/path/models.py:function`` or ``package.module:function``.
        function: the callable ``(params, info) -> nn.Module``.
        source: the file its code lives in (None for a callable with no file, e.g. from a notebook).
        sha256: that file's SHA-256 as imported (None without a file).
    """

    reference: str
    function: Callable[..., Any]
    source: Path | None
    sha256: str | None

    def record(self) -> dict[str, Any]:
        """What a checkpoint records to rebuild the model: ``{"reference", "source", "sha256"}``."""
        return {"reference": self.reference, "source": None if self.source is None else str(self.source),
                "sha256": self.sha256}


def load_builder(reference: str) -> Builder:
    """Import the builder ``reference`` names (see the module docstring).

    Raises:
        ConfigError: no such file or module, a file that does not import (its error named), no such
            function, or an attribute that is not callable.
    """
    if reference in _REGISTERED:
        function = _REGISTERED[reference]
        source = source_file(function)
        return Builder(reference, function, source, file_sha256(source) if source else None)
    where, name = split_reference(reference, _KEY)
    module, path, sha = import_source(where, reference, key=_KEY)
    if is_file_reference(where):
        reference = f"{path}:{name}"
    function = attribute(module, name, reference, key=_KEY, wanted=" (params, info) -> nn.Module")
    return Builder(reference, function, path, sha)


def builder_for_record(record: dict[str, Any], where: str) -> Builder:
    """The builder a checkpoint recorded, refused when its file changed since the model was made.

    ``where`` names what is being rebuilt (e.g. ``checkpoint runs/a/checkpoints/best.pt``)."""
    reference, recorded = record["reference"], record.get("sha256")
    source = record.get("source")
    if source and recorded and Path(source).is_file():
        now = file_sha256(Path(source))
        if now != recorded:
            raise ConfigError(f"{where} was made by model.builder {reference!r}, and its file {source} has changed "
                              f"since (sha256 {recorded[:12]}… then, {now[:12]}… now), so the model cannot be "
                              f"rebuilt as it was trained; restore the file as it was (e.g. from version control), "
                              f"or run again with the new file under another --name")
    try:
        return load_builder(reference)
    except ConfigError as error:
        raise ConfigError(f"{where} was made by model.builder {reference!r}, which cannot be imported here: "
                          f"{error}") from None


def register_callable(function: Callable[..., Any]) -> str:
    """The reference ``function`` is recorded as, registered so this process builds with the object
    itself: ``/path/file.py:name`` for a top-level function of a file, ``module:qualname`` otherwise
    (a lambda or a notebook's function: usable here, not importable by another process)."""
    if not callable(function):
        raise ConfigError(f"model: expected a family name or a function (params, info) -> nn.Module, "
                          f"got {type(function).__name__}")
    qualname = getattr(function, "__qualname__", type(function).__name__)
    module = getattr(function, "__module__", None) or "__main__"
    source = source_file(function)
    reference = f"{source}:{qualname}" if source is not None and importable(function) else f"{module}:{qualname}"
    _REGISTERED[reference] = function
    return reference


def importable(function: Callable[..., Any]) -> bool:
    """Whether another process can import ``function`` from its file (a top-level function of a .py file)."""
    qualname = getattr(function, "__qualname__", "")
    return source_file(function) is not None and "<" not in qualname and "." not in qualname


def call_builder(builder: Builder, params: dict[str, Any], info: Any) -> Any:
    """``builder.function(params, info)``, refused unless it returns an ``nn.Module``.

    Raises:
        ConfigError: the function raised (its exception type and message, and the params it was
            called with), or returned something else than an ``nn.Module``.
    """
    from torch import nn

    try:
        model = builder.function(dict(params), info)
    except Exception as error:  # NOTE: any error of user code is bad input of this run, named once
        raise ConfigError(f"model.builder {builder.reference!r} raised {type(error).__name__}: {error} "
                          f"(called with params {_shown(params)}); params holds the model keys of [search.space] "
                          f"(searched or fixed): a key the function needs must be there, one it cannot take must "
                          f"not") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.builder {builder.reference!r} returned {type(model).__name__}, not a "
                          f"torch.nn.Module (called with params {_shown(params)}); return the model")
    return model


def check_accepts(builder: Builder, params: dict[str, Any]) -> None:
    """Refuse model keys outside the function's optional ``accepts`` (a set of key names declared
    as ``make.accepts = {"width", "depth"}``): a searched key the model never reads would spend
    trials on a dimension that changes nothing, and a typo would go unnoticed.

    Raises:
        ConfigError: naming the first such key and the accepted ones.
    """
    accepts = getattr(builder.function, "accepts", None)
    if accepts is None:
        return
    unknown = sorted(set(params) - set(accepts))
    if unknown:
        raise ConfigError(f"search.space.{unknown[0]}: model.builder {builder.reference!r} accepts "
                          f"{', '.join(sorted(accepts)) or 'no model keys'} (its `accepts`); remove "
                          f"{', '.join(unknown)} from [search.space] or add it to accepts")


def check_output(builder: Builder, model: Any, sample: Any, info: Any, params: dict[str, Any]) -> None:
    """A forward pass on ``sample`` (a few training rows) must give what the task trains on:
    ``(n, n_classes)`` logits (for two classes one logit ``(n, 1)`` too; multilabel: one per label), or ``(n, 1)`` /
    ``(n,)`` predictions for regression."""
    import torch

    n = len(sample)
    try:
        with torch.no_grad():
            out = model.eval()(sample)
    except Exception as error:  # NOTE: a model that cannot take the data's inputs: named with their shape
        # NOTE: arrays of shape (n, T, F) are read as one-channel images (n, 1, T, F) unless data.layout says
        sequence = ("; if each row is a sequence (time steps × features), set data.layout = \"sequence\" and it gets "
                    f"{list(info.input_shape[1:])}" if len(info.input_shape) == 3 and info.input_shape[0] == 1 else "")
        raise ConfigError(f"model.builder {builder.reference!r}: its model fails on a batch of inputs of shape "
                          f"{list(sample.shape)} ({type(error).__name__}: {error}; params {_shown(params)}); "
                          f"build it for info.input_shape = {list(info.input_shape)}{sequence}") from None
    shape = tuple(getattr(out, "shape", ()))
    wanted = ([(n, info.n_classes, *info.input_shape[-2:])] if info.task == "segmentation" else
              [(n, info.n_classes)] if info.task != "regression" or info.n_classes > 1 else [(n, 1), (n,)])
    if info.task == "classification" and info.n_classes == 2:
        wanted.append((n, 1))  # one logit: a binary classifier (trained with its binary cross-entropy)
    if not isinstance(out, torch.Tensor) or shape not in wanted:
        expected = {"classification": f"{info.n_classes} outputs per example (logits of info.n_classes classes), "
                                      f"shape [{n}, {info.n_classes}]",
                    "multilabel": f"one logit per label (info.n_classes = {info.n_classes} labels), shape [{n}, "
                                  f"{info.n_classes}]",
                    "segmentation": f"a logit per class and pixel (info.n_classes = {info.n_classes} classes, the "
                                    f"image's height and width), shape [{n}, {info.n_classes}, "
                                    f"{', '.join(map(str, info.input_shape[-2:]))}]"}.get(info.task, f"one output per target column (a regression of "
                                                                        f"{info.n_classes}), shape [{n}, {info.n_classes}]"
                                                                        if info.n_classes > 1 else
                                                                        f"one output per example (regression), shape "
                                                                        f"[{n}, 1] or [{n}]")
        got = f"shape {list(shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model.builder {builder.reference!r}: its model returns {got} for {n} examples; this "
                          f"{info.task} task needs {expected}")


def _shown(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in sorted(params.items())) + "}"
