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

A ``.py`` file is imported once per process and content (``importlib.util.spec_from_file_location``
under a module name made from its path), so building a model per trial does not execute it again.

    >>> split_reference("models.py:make")
    ('models.py', 'make')
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from knobs.errors import ConfigError

__all__ = ["Builder", "load_builder", "builder_for_record", "call_builder", "check_accepts", "check_output",
           "split_reference",
           "register_callable", "file_sha256"]

#: Callables handed to ``knobs.run(model=...)`` in this process, by the reference they are recorded as
#: (a function defined in a notebook cannot be re-imported; in this process it need not be).
_REGISTERED: dict[str, Callable[..., Any]] = {}
#: ``.py`` files imported in this process: (absolute path, sha256) → module.
_MODULES: dict[tuple[str, str], Any] = {}


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


def split_reference(reference: str) -> tuple[str, str]:
    """(module or file, function name) of ``"where:function"`` (the last colon splits: a Windows
    path keeps its drive)."""
    where, sep, name = str(reference).rpartition(":")
    if not sep or not where.strip() or not name.strip():
        raise ConfigError(f"model.builder = {reference!r}: expected 'package.module:function' or "
                          f"'path/to/models.py:function' (a function (params, info) -> nn.Module)")
    return where.strip(), name.strip()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_builder(reference: str) -> Builder:
    """Import the builder ``reference`` names (see the module docstring).

    Raises:
        ConfigError: no such file or module, a file that does not import (its error named), no such
            function, or an attribute that is not callable.
    """
    if reference in _REGISTERED:
        function = _REGISTERED[reference]
        source = _source_file(function)
        return Builder(reference, function, source, file_sha256(source) if source else None)
    where, name = split_reference(reference)
    if where.endswith(".py") or "/" in where or "\\" in where:
        module, path, sha = _import_file(reference, where)
        reference = f"{path}:{name}"
    else:
        module = _import_module(reference, where)
        path = _source_file(module)
        sha = file_sha256(path) if path else None
    function = _attribute(module, name, reference)
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
    source = _source_file(function)
    reference = f"{source}:{qualname}" if source is not None and importable(function) else f"{module}:{qualname}"
    _REGISTERED[reference] = function
    return reference


def importable(function: Callable[..., Any]) -> bool:
    """Whether another process can import ``function`` from its file (a top-level function of a .py file)."""
    qualname = getattr(function, "__qualname__", "")
    return _source_file(function) is not None and "<" not in qualname and "." not in qualname


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
    ``(n, n_classes)`` logits, or ``(n, 1)`` / ``(n,)`` predictions for regression."""
    import torch

    n = len(sample)
    try:
        with torch.no_grad():
            out = model.eval()(sample)
    except Exception as error:  # NOTE: a model that cannot take the data's inputs: named with their shape
        raise ConfigError(f"model.builder {builder.reference!r}: its model fails on a batch of inputs of shape "
                          f"{list(sample.shape)} ({type(error).__name__}: {error}; params {_shown(params)}); "
                          f"build it for info.input_shape = {list(info.input_shape)}") from None
    shape = tuple(getattr(out, "shape", ()))
    wanted = [(n, info.n_classes)] if info.task == "classification" else [(n, 1), (n,)]
    if not isinstance(out, torch.Tensor) or shape not in wanted:
        expected = (f"{info.n_classes} outputs per example (logits of info.n_classes classes), shape [{n}, "
                    f"{info.n_classes}]" if info.task == "classification"
                    else f"one output per example (regression), shape [{n}, 1] or [{n}]")
        got = f"shape {list(shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"model.builder {builder.reference!r}: its model returns {got} for {n} examples; this "
                          f"{info.task} task needs {expected}")


def _shown(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in sorted(params.items())) + "}"


def _import_file(reference: str, where: str) -> tuple[Any, Path, str]:
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"model.builder = {reference!r}: no such file {path} (a path is relative to the "
                          f"working directory, {Path.cwd()})")
    sha = file_sha256(path)
    key = (str(path), sha)
    if key in _MODULES:
        return _MODULES[key], path, sha
    name = f"knobs_builder_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}_{sha[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"model.builder = {reference!r}: {path} cannot be imported as Python; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # NOTE: dataclasses and pickling look a module up by name while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        where_in = f" (line {error.lineno})" if isinstance(error, SyntaxError) and error.lineno else ""
        raise ConfigError(f"model.builder = {reference!r}: importing {path} failed{where_in}: "
                          f"{type(error).__name__}: {error}") from None
    _MODULES[key] = module
    return module, path, sha


def _import_module(reference: str, where: str) -> Any:
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        raise ConfigError(f"model.builder = {reference!r}: no module named {error.name!r} (a module must be "
                          f"importable from the working directory or the installed packages; or give a "
                          f"path/to/file.py)") from None
    except Exception as error:
        raise ConfigError(f"model.builder = {reference!r}: importing {where} failed: "
                          f"{type(error).__name__}: {error}") from None


def _attribute(module: Any, name: str, reference: str) -> Callable[..., Any]:
    target: Any = module
    for part in name.split("."):
        if not hasattr(target, part):
            functions = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
                               and getattr(v, "__module__", None) == module.__name__)
            have = f"; it defines {', '.join(functions)}" if functions else ""
            raise ConfigError(f"model.builder = {reference!r}: no function {name!r} in "
                              f"{getattr(module, '__file__', None) or module.__name__}{have}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"model.builder = {reference!r}: {name!r} is a {type(target).__name__}, not a function "
                          f"(params, info) -> nn.Module")
    return target


def _source_file(obj: Any) -> Path | None:
    try:
        file = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        return None
    path = Path(file)
    return path.resolve() if path.suffix == ".py" and path.is_file() else None
