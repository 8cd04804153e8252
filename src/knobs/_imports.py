"""User code named in a config: ``"package.module:function"`` or ``"path/to/file.py:function"``.

Why one importer: ``data.builder`` (a function returning the data) and ``model.builder`` (a
function returning a model) name user code the same way, and both need the same answers — where a
relative ``.py`` path is resolved from, what the message says when the file or module is missing,
does not import, or lacks the name, and a hash of the source so a run can tell that the code
changed since. Torch-free, so any layer may use it.

A ``.py`` file is imported once per process and content (``importlib.util.spec_from_file_location``
under a module name made from its path and hash), so calling a builder per trial does not execute
the file again, and a changed file is a new module.
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

__all__ = ["load_reference", "source_hash", "split_reference", "import_source", "attribute", "file_sha256",
           "is_file_reference"]

#: ``.py`` files imported in this process: (absolute path, sha256) → module.
_MODULES: dict[tuple[str, str], Any] = {}


def split_reference(ref: str, key: str = "builder") -> tuple[str, str]:
    """``(module or path, attribute)`` of ``"module:function"``; refuses any other shape."""
    # NOTE: rpartition keeps a Windows drive letter ("C:\\x.py:f") in the path part.
    where, sep, name = str(ref).rpartition(":") if isinstance(ref, str) else ("", "", "")
    where, name = where.strip(), name.strip()
    if not sep or not where or not all(part.isidentifier() for part in name.split(".")):
        raise ConfigError(f"{key} = {ref!r}: expected \"package.module:function\" or \"path/to/file.py:function\"")
    return where, name


def is_file_reference(where: str) -> bool:
    """Whether the module part names a file (``models.py``, ``dir/models``) rather than a module."""
    return where.endswith(".py") or "/" in where or "\\" in where


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_reference(ref: str, base_dir: str | Path | None = None, *, key: str = "builder") -> Callable[..., Any]:
    """The callable named by ``ref``.

    Args:
        ref: ``"package.module:function"`` (imported as usual, from ``sys.path``) or
            ``"path/to/file.py:function"`` (a path relative to ``base_dir``, else to the working
            directory).
        base_dir: the folder a relative ``.py`` path is read from.
        key: the config key named in messages (``"data.builder"``).

    Raises:
        ConfigError: a malformed reference, a file or module that does not exist or fails to
            import (its error quoted), a missing name (listing the module's functions), or a name
            that is not callable.

    Example:
        >>> load_reference("os.path:join")("a", "b")
        'a/b'
    """
    where, name = split_reference(ref, key)
    module, _, _ = import_source(where, ref, key=key, base_dir=base_dir)
    return attribute(module, name, ref, key=key)


def source_hash(ref: str, base_dir: str | Path | None = None, *, key: str = "builder") -> str:
    """sha256 of the source file that defines ``ref``'s module (what a resume compares)."""
    where, _ = split_reference(ref, key)
    module, path, sha = import_source(where, ref, key=key, base_dir=base_dir)
    return sha if sha is not None else hashlib.sha256(where.encode()).hexdigest()  # a built-in module: its name


def import_source(where: str, ref: str, *, key: str, base_dir: str | Path | None = None) -> tuple[Any, Path | None, str | None]:
    """(module, its source file or None, that file's sha256 or None) for the module part of ``ref``."""
    if is_file_reference(where):
        return _import_file(where, ref, key, base_dir)
    module = _import_module(where, ref, key)
    path = source_file(module)
    return module, path, file_sha256(path) if path else None


def attribute(module: Any, name: str, ref: str, *, key: str, wanted: str = "") -> Callable[..., Any]:
    """``module.<name>`` (dotted names walk attributes), refused unless callable. ``wanted`` says what
    kind of function the key expects, for the message (e.g. ``" (params, info) -> nn.Module"``)."""
    target: Any = module
    for part in name.split("."):
        if not hasattr(target, part):
            functions = sorted(n for n, v in vars(module).items() if inspect.isfunction(v) and not n.startswith("_")
                               and getattr(v, "__module__", None) == module.__name__)
            have = f"; it defines {', '.join(functions)}" if functions else ""
            raise ConfigError(f"{key} = {ref!r}: no function {name!r} in "
                              f"{getattr(module, '__file__', None) or module.__name__}{have}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{key} = {ref!r}: {name!r} is a {type(target).__name__}, not a function{wanted}")
    return target


def source_file(obj: Any) -> Path | None:
    """The ``.py`` file ``obj`` (a module or function) was defined in, or None."""
    try:
        file = inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        return None
    path = Path(file)
    return path.resolve() if path.suffix == ".py" and path.is_file() else None


def _import_file(where: str, ref: str, key: str, base_dir: str | Path | None) -> tuple[Any, Path, str]:
    path = Path(where).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    path = path.resolve()
    if not path.is_file():
        base = f"the working directory, {Path.cwd()}" if base_dir is None else f"{Path(base_dir)}"
        raise ConfigError(f"{key} = {ref!r}: no such file {path} (a path is relative to {base})")
    sha = file_sha256(path)
    if (str(path), sha) in _MODULES:
        return _MODULES[(str(path), sha)], path, sha
    name = f"knobs_user_{hashlib.sha256(str(path).encode()).hexdigest()[:16]}_{sha[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{key} = {ref!r}: {path} cannot be imported as Python; give a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # NOTE: dataclasses and pickling look a module up by name while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        sys.modules.pop(name, None)
        line = f" (line {error.lineno})" if isinstance(error, SyntaxError) and error.lineno else ""
        raise ConfigError(f"{key} = {ref!r}: importing {path} failed{line}: {type(error).__name__}: {error}") from None
    _MODULES[(str(path), sha)] = module
    return module, path, sha


def _import_module(where: str, ref: str, key: str) -> Any:
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as error:
        raise ConfigError(f"{key} = {ref!r}: no module named {error.name!r} (a module must be importable from "
                          f"the working directory or the installed packages; or give a path/to/file.py)") from None
    except Exception as error:
        raise ConfigError(f"{key} = {ref!r}: importing {where} failed: {type(error).__name__}: {error}") from None
