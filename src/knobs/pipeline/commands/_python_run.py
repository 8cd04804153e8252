"""``knobs.run(model=..., data=..., space=..., **settings)``: the cycle of ``knobs run`` from Python.

Why a translation to a config rather than a second cycle: everything a run does — checks, resume,
workers, ``knobs predict`` on its directory — reads the ``RunConfig``. So the arguments become
config keys (``model.family`` or ``model.builder``, ``data.source``, ``search.space``, any other
key) and the one cycle runs; the result is the same ``RunResult`` as ``knobs.pipeline.run``.

    model: a family name ("mlp", "convnet", ...), a builder reference ("models.py:make"), or a
        function ``(params, info) -> nn.Module`` (the ``model.builder`` contract). Worker processes
        re-import a function from its file, so with ``search.workers > 1`` or Ray it must be a
        top-level function of a ``.py`` file (a lambda or a notebook's function is refused).
    data: a built-in name, a path (what ``data.source`` takes), ``(X, y)`` numpy arrays or tensors, a
        map-style torch ``Dataset`` of ``(x, y)`` items, or ``{"train": ..., "test": ..., ["val": ...]}`` of
        those (an official test set is sealed as it is); arrays and Datasets are written once as an ``.npz``
        (a Dataset read into memory, as ``data.builder``'s are) and read as ``data.kind = "arrays"``.
    space: ``{name: knobs.Float | knobs.Int | knobs.Choice | a fixed value}`` or the config's
        dicts (``{"low": 1e-4, "high": 1e-1, "log": True}``).
    settings: config keys, dotted (``**{"train.epochs": 5}``), nested (``search={"n_trials": 10}``),
        top-level (``name="x"``, ``seed=1``) or a shortcut (``n_trials``, ``epochs``, ``workers``,
        ``warm_start``: an earlier run directory whose trials the sampler learns from; ``target``: a CSV's
        target column; ``metric``: what trials are ranked on, e.g. ``"val_balanced_accuracy"``). An unknown one is refused naming where it goes (``batch_size`` → ``train.batch_size``,
        ``lr`` → ``space``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from knobs.config import RunConfig, load_config
from knobs.errors import ConfigError
from knobs.pipeline.model._builder import importable, register_callable
from knobs.space import Choice, Float, Int, Param

__all__ = ["run", "run_config"]

#: Settings a notebook types most, as the config keys they stand for.
SHORTCUTS = {"n_trials": "search.n_trials", "epochs": "train.epochs", "workers": "search.workers",
             "warm_start": "search.warm_start", "target": "data.target", "metric": "search.metric"}


def run(model: str | Callable[..., Any] = "mlp", data: Any = "digits", space: dict[str, Any] | None = None, *,
        quiet: bool = False, **settings: Any) -> Any:
    """Run the practice cycle and return its ``RunResult`` (``.path``: the run directory,
    ``.summary``: summary.json's content). See the module docstring for the arguments.

    Raises:
        KnobsError: bad input (the same messages as ``knobs run``), before any run directory exists.

    Example (a notebook)::

        import knobs, torch.nn as nn

        def make(params, info):
            return nn.Sequential(nn.Flatten(), nn.Linear(64, params["width"]), nn.ReLU(),
                                 nn.Linear(params["width"], info.n_classes))

        result = knobs.run(model=make, data="digits", n_trials=10,
                           space={"lr": knobs.Float(1e-4, 1e-1, log=True), "width": knobs.Int(16, 128)})
        result.summary["test"]
    """
    from knobs.pipeline.stages._cycle import run as run_cycle
    from knobs.pipeline.ui._display import Display

    return run_cycle(run_config(model, data, space, **settings), display=Display(quiet=quiet))


def run_config(model: str | Callable[..., Any] = "mlp", data: Any = "digits", space: dict[str, Any] | None = None,
               **settings: Any) -> RunConfig:
    """The ``RunConfig`` that ``run`` runs (its arguments, as config keys, validated)."""
    raw: dict[str, Any] = {}  # dotted key → value, as ``knobs run``'s overrides
    for key, value in settings.items():
        _set(raw, SHORTCUTS.get(key, key), value)
    function = model if callable(model) else None
    if function is not None:
        _set(raw, "model.builder", register_callable(function))
    elif isinstance(model, str):
        _set(raw, "model.builder" if ":" in model else "model.family", model)
    else:
        raise ConfigError(f"knobs.run(model=...): expected a family name, a 'file.py:function' reference or a "
                          f"function (params, info) -> nn.Module, got {type(model).__name__}")
    _set(raw, "data.source", _data_source(data, raw))
    if space is not None:
        _set(raw, "search.space", {name: _space_entry(name, entry) for name, entry in dict(space).items()})
    cfg = load_config(None, raw)
    if function is not None and _in_other_processes(cfg) and not importable(function):
        raise ConfigError(f"knobs.run(model={getattr(function, '__qualname__', function)!r}): with "
                          f"search.workers = {cfg.search.workers} (executor {cfg.search.executor!r}) other processes "
                          f"build the model and import the function from its file; define it at the top level of a "
                          f".py file (not a lambda, a nested function or a notebook cell), or set search.workers = 1")
    return cfg


def _set(raw: dict[str, Any], key: str, value: Any) -> None:
    """Add a dotted key to the overrides; a dict given for a section (``search={...}``) adds its keys
    one by one."""
    if isinstance(value, dict) and key in RunConfig.model_fields and key not in ("augment", "transfer"):
        for inner, item in value.items():
            _set(raw, f"{key}.{inner}", item)
        return
    if key.split(".")[0] not in RunConfig.model_fields:
        raise ConfigError(f"knobs.run: unknown setting {key!r}{_where_it_goes(key)}; give a config key (dotted, e.g. "
                          f"'train.epochs', or a section dict, e.g. search={{'n_trials': 10}}) or one of "
                          f"{', '.join(SHORTCUTS)}")
    raw[key] = value


def _where_it_goes(key: str) -> str:
    """The hint for an unknown top-level setting: the dotted keys it names in a section (``target`` →
    ``data.target``; another tool's name too, ``learning_rate``), a trial hyperparameter's place in ``space``,
    else the closest spelling among the sections, top-level keys and shortcuts."""
    from knobs._validation import ALIASES, did_you_mean
    from knobs.config._schema import SPACE_KEYS

    leaf = key.split(".")[-1]
    names = {leaf, *ALIASES.get(leaf.lower(), ())}
    if names & set(SPACE_KEYS):
        return f" ({sorted(names & set(SPACE_KEYS))[0]} is a trial hyperparameter: put it in space={{...}}, a plain value to fix it)"
    dotted = [f"{section}.{field}" for section, info in RunConfig.model_fields.items()
              for field in getattr(info.annotation, "model_fields", {}) if field in names]
    if dotted:
        return f" (did you mean {' or '.join(map(repr, dotted))}?)"
    return did_you_mean(key, [*RunConfig.model_fields, *SHORTCUTS])


def _space_entry(name: str, entry: Any) -> Any:
    """A ``knobs.Float/Int/Choice`` as the config's dict; anything else as given (validated there), but a list or
    tuple, which reads as neither a fixed value nor a range, is told the parameter it meant."""
    if isinstance(entry, (list, tuple)):
        from knobs.space._space import as_param_hint

        raise ConfigError(f"knobs.run(space={{{name!r}: {entry!r}}}): a list is neither a fixed value nor a searched "
                          f"one{as_param_hint(entry)}")
    if not isinstance(entry, Param):
        return entry
    out: dict[str, Any]
    if isinstance(entry, Choice):
        out = {"choices": list(entry.options)}
    elif isinstance(entry, (Float, Int)):
        out = {"low": entry.low, "high": entry.high, "log": entry.log, "type": "int" if isinstance(entry, Int) else "float"}
        if entry.step is not None and not (isinstance(entry, Int) and entry.step == 1):
            out["step"] = entry.step
    else:
        raise ConfigError(f"space.{name}: {type(entry).__name__} has no config form; use knobs.Float, Int or Choice")
    if entry.when:
        out["when"] = {parent: list(values) for parent, values in entry.when.items()}
    return out


def _in_other_processes(cfg: RunConfig) -> bool:
    return cfg.search.workers > 1 or cfg.search.executor == "ray"


def _data_source(data: Any, raw: dict[str, Any]) -> str:
    """``data.source`` for ``data``: a name or path as given; ``(X, y)`` arrays written once, by content,
    as an ``.npz`` under ``runs_dir/_arrays/`` read as ``data.kind = "arrays"`` (so a resume, worker
    processes and ``knobs predict`` read the same rows again). The arrays are stored as they are —
    their dtypes and every bit — not as text: a CSV would round every float through decimal digits
    and read integers back as floats."""
    from knobs.data._vault import digest_arrays  # NOTE: here, so `knobs.run` stays importable without torch

    if isinstance(data, (str, Path)):
        return str(data)
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"train", "val", "test"})
        if "train" not in data or unknown:
            raise ConfigError(f"knobs.run(data={{...}}): a dict of splits needs \"train\" and may have \"val\" and "
                              f"\"test\"; got the keys {sorted(data)}")
        parts = {key: _split_arrays(value, f"data[{key!r}]") for key, value in data.items()}
    else:
        parts = {"train": _split_arrays(data, "data")}
    kind = raw.setdefault("data.kind", "arrays")
    if kind != "arrays":
        raise ConfigError(f"knobs.run(data=(X, y)) reads the arrays as data.kind = \"arrays\"; remove data.kind = {kind!r}")
    arrays = {f"{name}{'' if key == 'train' else '_' + key}": array
              for key, (X, y) in parts.items() for name, array in (("X", X), ("y", y))}
    folder = Path(raw.get("runs_dir", RunConfig.model_fields["runs_dir"].default)) / "_arrays"
    # NOTE: a train-only content digest as before (the same arrays name the same file, so a rerun resumes)
    digest = digest_arrays(*parts["train"]) if len(parts) == 1 else hashlib.sha256(
        "".join(f"{key}:{digest_arrays(*parts[key])}" for key in sorted(parts)).encode()).hexdigest()
    path = folder / f"{digest[:16]}.npz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{path.name}.{os.getpid()}"
        with open(partial, "wb") as handle:  # NOTE: written whole, then renamed: never a half file
            np.savez(handle, **arrays)
        os.replace(partial, path)
    return str(path)


def _split_arrays(value: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` numpy arrays of one split given as ``(X, y)`` arrays or tensors, or a map-style torch Dataset
    (read into memory through a DataLoader, as a ``data.builder``'s Dataset is).

    Raises:
        ConfigError: another form, shapes that disagree, X not finite numbers, y not numbers.
    """
    from knobs.data._arrays import MAX_BYTES, _class_names, _is_torch_dataset, _materialize, target_shape_fits
    from knobs.errors import DataError

    if _is_torch_dataset(value):
        try:
            # NOTE: a builder's Dataset with `targets` is streamed; one handed to knobs.run is always read in
            return _materialize(value, f"knobs.run({what}=...)", MAX_BYTES, advice=_STREAM_FROM_RUN)
        except DataError as error:
            raise ConfigError(str(error)) from None
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        forms = ("(X, y) arrays or a torch Dataset of (x, y) items" if what != "data" else
                 "a built-in name, a path, (X, y) arrays, a torch Dataset of (x, y) items or a dict of such splits")
        raise ConfigError(f"knobs.run({what}=...): expected {forms}; got {type(value).__name__}")
    X, y = (np.ascontiguousarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a) for a in value)
    y = _label_column(_class_names(y))
    if X.ndim < 2 or not target_shape_fits(X, y) or len(X) != len(y):
        several = ("; knobs run trains one class or value per row, rows of 0 / 1 labels (multi-label), rows of "
                   "values (several outputs) or a class per pixel of images (masks (rows, H, W) for images (rows, "
                   "[C,] H, W)): a class per token trains with knobs.train.Trainer (per-position labels as they "
                   "are), searched with knobs.Study" if y.ndim >= 2 and len(X) == len(y) else "")
        raise ConfigError(f"knobs.run({what}=(X, y)): expected X of shape (rows, features...) and y of shape (rows,), "
                          f"(rows, labels) of 0 / 1, (rows, outputs) of values or (rows, H, W) masks, got {X.shape} "
                          f"and {y.shape}{several}")
    if X.dtype.kind not in "biuf" or not np.isfinite(X).all():
        raise ConfigError(f"knobs.run({what}=(X, y)): X must hold finite numbers")
    if y.dtype.kind not in "biufU":
        raise ConfigError(f"knobs.run({what}=(X, y)): y must hold numbers (class ids or targets) or class names "
                          f"(strings), got {y.dtype}")
    return X, y


def _label_column(y: np.ndarray) -> np.ndarray:
    """A label column ``(n, 1)`` (Keras' habit) as ``(n,)``, and one-hot rows as the classes they mark, as the Trainer
    reads them (``knobs.train._batches.class_targets``); knobs.run refused both ("expected y of shape (rows,)")."""
    if y.ndim == 2 and y.shape[1] == 1:
        return y[:, 0]
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf" and np.isin(y, (0, 1)).all() and (y.sum(1) == 1).all():
        return y.argmax(1)
    return y


_STREAM_FROM_RUN = ("knobs.run reads a Dataset object into memory: to stream one this large, return it (with a "
                    "`targets` attribute, one label per item) from a function named as data.builder = "
                    "\"module:function\", or pass fewer items (data.rows)")

