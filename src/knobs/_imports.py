"""User code named in a config: ``"package.module:function"`` or ``"path/to/file.py:function"``.

Why one importer: ``data.builder`` (a function returning the data) and ``model.builder`` (a
function returning a model) name user code the same way, and both need the same answers — where a
relative ``.py`` path is resolved from (the config's folder), what the message says when the module
is missing or the name is not in it, and a hash of the source so a resumed run can tell that the
code changed. Torch-free, so any layer may use it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

from knobs.errors import ConfigError

__all__ = ["load_reference", "source_hash", "split_reference"]


def split_reference(ref: str, key: str = "builder") -> tuple[str, str]:
    """``(module or path, attribute)`` of ``"module:function"``; refuses any other shape."""
    if not isinstance(ref, str) or ref.count(":") < 1:
        raise ConfigError(f"{key} = {ref!r}: expected \"package.module:function\" or \"path/to/file.py:function\"")
    # NOTE: rpartition keeps a Windows drive letter ("C:\\x.py:f") in the path part.
    where, _, name = ref.rpartition(":")
    if not where or not name.isidentifier():
        raise ConfigError(f"{key} = {ref!r}: expected \"package.module:function\" or \"path/to/file.py:function\"")
    return where, name


def load_reference(ref: str, base_dir: str | Path | None = None, *, key: str = "builder") -> Callable[..., Any]:
    """The callable named by ``ref``.

    Args:
        ref: ``"package.module:function"`` (imported as usual, from ``sys.path``) or
            ``"path/to/file.py:function"`` (a path relative to ``base_dir``, else to the working
            directory).
        base_dir: the folder a relative ``.py`` path is read from (the config file's folder).
        key: the config key named in messages (``"data.builder"``).

    Raises:
        ConfigError: a malformed reference, a file or module that does not exist or fails to
            import (its error quoted), a missing name (listing the module's public callables), or
            a name that is not callable.

    Example:
        >>> load_reference("os.path:join")("a", "b")
        'a/b'
    """
    where, name = split_reference(ref, key)
    module = _import_file(where, base_dir, key) if where.endswith(".py") else _import_module(where, key)
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfigError(f"{key} = {ref!r}: {where} has no {name!r}; its functions are {public}")
    target = getattr(module, name)
    if not callable(target):
        raise ConfigError(f"{key} = {ref!r}: {name!r} is a {type(target).__name__}, not a function")
    return target


def source_hash(ref: str, base_dir: str | Path | None = None, *, key: str = "builder") -> str:
    """sha256 of the source file that defines ``ref``'s module (what a resume compares)."""
    where, _ = split_reference(ref, key)
    if where.endswith(".py"):
        path = _resolve(where, base_dir, key)
    else:
        module = _import_module(where, key)
        try:
            path = Path(inspect.getfile(module))
        except TypeError:  # a built-in module has no file: its name stands for it
            return hashlib.sha256(where.encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resolve(where: str, base_dir: str | Path | None, key: str) -> Path:
    path = Path(where)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise ConfigError(f"{key}: no file {str(path)!r} (a relative path is read from "
                          f"{str(Path(base_dir or Path.cwd()))!r})")
    return path.resolve()


def _import_file(where: str, base_dir: str | Path | None, key: str):
    path = _resolve(where, base_dir, key)
    name = f"knobs_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    # NOTE: registered before running, so pickling (DataLoader workers, dataclasses) finds it.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        raise ConfigError(f"{key}: importing {str(path)!r} failed: {type(error).__name__}: {error}") from None
    return module


def _import_module(where: str, key: str):
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        raise ConfigError(f"{key}: no module {where!r} ({error}); is its package installed, or on "
                          f"PYTHONPATH? A file is named as \"path/to/file.py:function\"") from None
    except Exception as error:
        raise ConfigError(f"{key}: importing {where!r} failed: {type(error).__name__}: {error}") from None
