"""One entry point from a config's ``data`` section to a ``Dataset``: built-in, table, images, text.

Why the options are checked per kind: a key that does not apply to the data (``image_size`` for a
CSV file) would otherwise be ignored silently while the user believes it took effect.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from knobs.data._builtin import BUILTIN, load_builtin
from knobs.data._csv import load_csv
from knobs.data._dataset import Dataset
from knobs.data._images import load_image_folder
from knobs.data._mask_folder import IMAGES, MASKS, is_mask_folder, load_mask_folder
from knobs.data._text_csv import load_text_csv
from knobs.errors import ConfigError, DataError

__all__ = ["load_dataset", "KINDS", "OPTIONS"]

KINDS = ("auto", "tabular", "images", "text")

#: The options each kind of data takes (all keyword arguments of its loader).
OPTIONS: dict[str, frozenset[str]] = {
    "tabular": frozenset({"target", "task", "features", "categorical", "missing", "max_categories",
                          "max_classes", "delimiter", "groups"}),
    "text": frozenset({"text_column", "target", "task", "missing", "vocab_size", "min_freq",
                       "max_length", "max_classes", "delimiter", "groups"}),
    "images": frozenset({"image_size", "image_channels", "bad_files", "max_per_class", "ignore_index"}),
    "builtin": frozenset(),
}
_LOADERS = {"tabular": load_csv, "text": load_text_csv, "images": load_image_folder}
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt")


def load_dataset(source: str | Path | Dataset, *, kind: str = "auto", seed: int = 0, memory: int | None = None,
                 rows: int | None = None, **options: Any) -> Dataset:
    """Load the data named by ``source``.

    Args:
        source: a built-in name (``"digits"`` or ``"builtin:digits"``, see ``load_builtin``), a
            folder of images (one sub-folder per class; or ``images/`` with ``masks/``, a class per
            pixel: ``load_mask_folder``), a ``.csv`` / ``.tsv`` / ``.txt`` table, or a ``Dataset``
            (returned as is).
        kind: ``"auto"`` (default: a folder is images; a table is text when ``text_column`` is
            given, else tabular), or ``"tabular"``, ``"images"``, ``"text"`` to say so.
        seed: the run's seed, for the loaders that draw (an image folder's ``max_per_class``).
        memory: a memory budget in bytes: an image folder whose decoded float32 pixels would take
            more is read on access (``Dataset.X`` a ``StreamedRows``) instead of decoded now.
        rows: ``data.rows``, drawn before decoding where a loader can (a segmentation folder: only those images are
            decoded and counted against ``memory``); elsewhere the run subsamples after loading.
        **options: keyword arguments of the kind's loader (``load_csv``, ``load_text_csv``,
            ``load_image_folder``); see ``OPTIONS``.

    Raises:
        ConfigError: an unknown kind, a kind that does not fit the source, or an option that
            does not apply to this kind of data (naming it and the ones that do).
        DataError: a source that is none of the above, listing the accepted forms.

    Example:
        >>> load_dataset("builtin:iris").n_classes
        3
    """
    if isinstance(source, Dataset):
        return source
    if kind not in KINDS:
        raise ConfigError(f"data kind must be one of {KINDS}, got {kind!r}")
    text = str(source)
    resolved = _resolve_kind(text, kind, options)
    _check_options(text, resolved, options)
    if resolved == "builtin":
        return load_builtin(text)
    if resolved == "images" and is_mask_folder(text):
        return _segmentation(text, options, memory, rows, seed)
    if resolved == "images":
        if "ignore_index" in options:
            raise ConfigError(f"data option 'ignore_index' is the mask value of pixels without a class, for a "
                              f"segmentation folder ({IMAGES}/ with {MASKS}/ in it); {text} is a folder of class "
                              f"folders: remove ignore_index")
        options = {**options, "seed": seed}
        if memory is not None:
            options.update(max_bytes=memory, stream=True)
    return _LOADERS[resolved](source, **options)


def _segmentation(source: str, options: dict, memory: int | None, rows: int | None, seed: int) -> Dataset:
    """A folder of ``images/`` with ``masks/``: decoded into memory (``load_mask_folder``)."""
    if "max_per_class" in options:
        raise ConfigError(f"data option 'max_per_class' draws images per class folder; {source} is a segmentation "
                          f"folder ({IMAGES}/ with {MASKS}/), whose images have no one class: take fewer with "
                          f"data.rows")
    return load_mask_folder(source, **options, **({} if memory is None else {"max_bytes": memory}), rows=rows,
                            seed=seed)


def _resolve_kind(source: str, kind: str, options: dict) -> str:
    builtin = source.startswith("builtin:") or source in BUILTIN
    path = Path(source)
    if builtin and not path.exists():
        if kind != "auto":
            raise ConfigError(f"data kind {kind!r} does not apply to the built-in data set {source!r}; "
                              f"leave kind at \"auto\"")
        return "builtin"
    if path.is_dir():
        if kind not in ("auto", "images"):
            raise ConfigError(f"data source {source!r} is a folder, which loads as images; kind "
                              f"{kind!r} needs a .csv or .tsv file")
        return "images"
    if kind == "images":
        raise ConfigError(f"data kind \"images\" needs a folder with one sub-folder per class; "
                          f"{source!r} is not a folder")
    if source.lower().endswith(_TABLE_SUFFIXES):
        return kind if kind != "auto" else ("text" if options.get("text_column") else "tabular")
    raise DataError(f"data source {source!r} is neither a built-in data set ({sorted(BUILTIN)}, "
                    f"optionally as 'builtin:<name>'), an image folder, nor a path ending in "
                    f"{', '.join(_TABLE_SUFFIXES)}")


def _check_options(source: str, kind: str, options: dict) -> None:
    wrong = sorted(set(options) - OPTIONS[kind])
    if wrong:
        valid = ", ".join(sorted(OPTIONS[kind])) or "none"
        raise ConfigError(f"data option {wrong[0]!r} does not apply to {kind} data ({source}); the "
                          f"options for {kind} data are: {valid}")
