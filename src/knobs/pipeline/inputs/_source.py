"""Where a run's rows come from: ``data.builder``, ``data.kind = "arrays"``, or a source file, then
``data.rows`` (a seeded subset), ``data.n_classes``, and an official test set (``data.test`` path).

Why one step before the split: every way of giving data ends as one ``GivenData`` — the data set
to split, and the parts its source fixed (an official test set, a given validation split) — so
the split, the vault and ``splits.json`` treat them all alike.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from knobs._imports import load_reference, source_hash
from knobs.data import declare_classes, load_dataset
from knobs.data._arrays import GivenData, build_data, load_arrays, subsample
from knobs.errors import ConfigError
from knobs.pipeline.inputs._official_test import load_official_test
from knobs.pipeline.inputs._streamed import memory_budget

__all__ = ["load_source", "ARRAY_OPTIONS"]

#: the reading keys that apply to a builder's or an arrays file's data
ARRAY_OPTIONS = frozenset({"target", "task", "max_classes", "layout"})


def load_source(cfg) -> tuple[GivenData, np.ndarray | None]:
    """The run's data and, with ``data.test`` a path, the ids of the official test rows (else None).

    Raises:
        ConfigError: a builder given with a source, reading keys that do not apply, or
            ``data.rows`` / ``data.test`` on data that has no such rows; the builder's import.
        DataError: whatever the data itself gets wrong (see the loaders).
    """
    data = cfg.data
    given = _given(cfg)
    dataset = given.dataset
    if data.rows is not None:
        if given.test is not None or given.val is not None:
            raise ConfigError(f"data.rows = {data.rows}: the data comes already split; subsample it in the builder")
        dataset = subsample(dataset, data.rows, cfg.seed)
    test_ids = None
    if data.test_path is not None:
        if given.test is not None:
            raise ConfigError(f"data.test = {data.test_path!r}: {dataset.source} gives its own test split already; "
                              f"remove data.test")
        test, test_ids = load_official_test(cfg, dataset)
        given = dataclasses.replace(given, test=test)
    if data.n_classes is not None:
        given = _declared(given, dataset, data.n_classes)
    else:
        given = dataclasses.replace(given, dataset=dataset)
    return given, test_ids


def _given(cfg) -> GivenData:
    data = cfg.data
    if data.builder is not None or data.kind == "arrays":
        what = "data.builder" if data.builder is not None else "data.kind = \"arrays\""
        if data.builder is not None and "source" in data.model_fields_set:
            raise ConfigError(f"data.builder = {data.builder!r} and data.source = {data.source!r}: the builder gives "
                              f"the data; remove one of them")
        wrong = sorted(set(data.loader_options()) - ARRAY_OPTIONS)
        if wrong:
            raise ConfigError(f"data.{wrong[0]} does not apply to {what} (numbers as given); the keys that do: "
                              f"{', '.join(sorted(ARRAY_OPTIONS))}")
        if data.builder is not None:
            builder = load_reference(data.builder, key="data.builder")
            given = build_data(builder, data.builder, task=data.task, max_classes=data.max_classes,
                               max_bytes=memory_budget(cfg), layout=data.layout)
            # NOTE: the code's hash rides in the loading record (summary.json), so two runs can tell
            # whether they read the same builder
            given.dataset.loading["builder_sha256"] = source_hash(data.builder, key="data.builder")
            return given
        return load_arrays(data.source, target=data.target, task=data.task, max_classes=data.max_classes,
                           layout=data.layout)
    # NOTE: the run's seed draws an image folder's max_per_class images (the same seed, the same files)
    return GivenData(load_dataset(data.source, kind=data.kind, seed=cfg.seed, memory=memory_budget(cfg),
                                  rows=data.rows, **data.loader_options()))


def _declared(given: GivenData, dataset, n_classes: int) -> GivenData:
    """``data.n_classes``: the original integer labels kept, in every part (``declare_classes``)."""
    declared = declare_classes(dataset, n_classes)
    original = np.asarray(dataset.class_names if dataset.class_names is not None else range(dataset.n_classes))

    def relabel(pair):
        if pair is None:
            return None
        return pair[0], original.astype(np.int64)[pair[1]]

    return GivenData(declared, test=relabel(given.test), val=relabel(given.val))
