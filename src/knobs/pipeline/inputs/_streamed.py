"""Data read on access (``knobs.data._stream``): held in memory when it fits the run's budget, else streamed.

Why the decision is taken after the split: a torch ``Dataset`` with ``targets`` is split from its
labels alone, and the first item read — to learn the rows' shape — is then a training row, so no
test row is read before the vault is opened. Image folders decide earlier, in
``load_image_folder`` (from their headers, against the same budget). Either way the run records
which path it took in ``Dataset.loading["memory"]`` (summary.json's ``data.loading.memory``) and
says it in its first lines:

- ``"cached"``: the rows are in memory (decoded once, or read once after the split);
- ``"streamed"``: training, validation and the final test read them batch by batch through a
  ``DataLoader`` (``data.workers`` processes, pinned memory on CUDA, persistent workers). The
  standardization statistics come from a seeded random sample of ``STATS_SAMPLE`` training rows
  (not a pass: the sample's mean and std are within a percent of the full split's for any sensible
  data, at a fraction of the reads), which the preflight checks use as their training rows too.

What needs every row in memory at once — population mode, SMOTE — is refused with streamed data,
naming the key. The rest streams:

- k folds: each fold's parts are views, its statistics from a seeded sample of its own training
  rows; the refit reads the non-test rows batch by batch (``_folds.release_refit_rows`` has nothing
  to let go);
- ``[balance]``: class weights and the focal loss need the labels alone; oversampling is a weighted
  draw of positions each epoch, undersampling a selection of the view;
- the autopilot: a configuration's diagnosis (short watched runs, probes) reads the seeded samples
  (``sampled_pair``: up to 2,048 training and 2,048 validation rows, as ``knobs.diagnose`` reads at
  most ``MAX_LOADER_ROWS`` of a DataLoader); its steps train and are judged on every row;
- worker processes and Ray tasks rebuild the run's inputs from its config, so each streams the rows
  itself, with its share of the cores for its loader (``loader_cores``) rather than each trial
  starting ``cpu count − 1`` readers.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from knobs.data import Dataset, Splits, Standardizer, Vault, loader_options
from knobs.data._stream import STATS_SAMPLE, StreamedPair, StreamedRows, is_streamed
from knobs.data._streamed_vault import StreamedVault
from knobs.errors import ConfigError
from knobs.report._page import read_events

__all__ = ["memory_budget", "loader_cores", "settle_rows", "stream_prepared", "check_streamed", "seal_test",
           "in_memory_view", "in_memory_pair", "sampled_pair",
           "memory_line", "read_rows", "first_inputs", "VAL_SAMPLE", "listen_unreadable", "loading_record"]

VAL_SAMPLE = 2048  # validation rows the preflight's data checks look at, when streamed
_MIB = 2**20


def memory_budget(cfg: Any) -> int:
    """``data.memory`` in bytes, or a quarter of the machine's physical memory."""
    if cfg.data.memory is not None:
        return int(cfg.data.memory * _MIB)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not Linux
        return 4 * 2**30


def settle_rows(cfg: Any, dataset: Dataset, raw: Splits) -> tuple[Dataset, Splits]:
    """The data set and splits as the run holds them: streamed rows read into memory when they fit
    the budget, kept streamed (with the run's loader options) when not; ``loading["memory"]`` says which."""
    budget = memory_budget(cfg)
    parts = {"train": raw.train, "val": raw.val, "test": raw.test}
    streamed = [name for name, pair in parts.items() if pair is not None and is_streamed(pair[0])]
    if not streamed:
        size = sum(np.asarray(pair[0]).nbytes for pair in parts.values() if pair is not None)
        return _recorded(dataset, "cached", size, budget), raw
    train = raw.train[0]
    # NOTE: the run's first read of an item: a training row (an official test folder that streams beside training
    # rows in memory knows its shape from its headers: nothing of it is read)
    item_shape = (train if is_streamed(train) else parts[streamed[0]][0]).item_shape
    image_shape = dataset.image_shape or _image_shape(item_shape)
    needed = sum(len(parts[name][0]) for name in streamed) * int(np.prod(item_shape)) * 4
    if needed <= budget and not dataset.loading.get("streamed"):
        read = {name: (_read_all(parts[name][0]), parts[name][1]) for name in streamed}
        raw = dataclasses.replace(raw, **read)
        return _recorded(dataclasses.replace(dataset, image_shape=image_shape), "cached", needed, budget), raw
    options = loader_options(cfg.train.device, cpu_count=loader_cores(cfg.search))
    if cfg.data.workers is not None:
        options.update(num_workers=cfg.data.workers, persistent_workers=cfg.data.workers > 0)
    views = {name: (parts[name][0].with_loader_options(options), parts[name][1]) for name in streamed}
    raw = dataclasses.replace(raw, **views)
    dataset = dataclasses.replace(dataset, image_shape=image_shape)
    return _recorded(dataset, "streamed", needed, budget, splits=streamed, **{k: options[k] for k in
                                                            ("num_workers", "pin_memory", "persistent_workers")}), raw


def loader_cores(search: Any) -> int:
    """The cores one trial's loader plans for: the machine's, shared among the trials that train
    at once on it (``search.workers`` local processes), or a Ray trial's own CPUs."""
    cores = os.cpu_count() or 1
    if search.executor == "ray":
        return max(1, int(search.trial_resources.cpu))
    return max(1, cores // max(1, search.workers))


def stream_prepared(dataset: Dataset, splits: Splits, input_shape: tuple[int, ...], scaler: Standardizer,
                    labels, seed: int) -> dict[str, Any]:
    """Fit ``scaler`` on a seeded sample of the training rows; the train and val pairs as
    ``StreamedPair``s standardized with it; the samples, for the preflight checks.

    ``labels(y)`` turns a split's targets into the tensor the models train on."""
    X_train = splits.train[0].reshape((-1, *input_shape))
    chosen, sample = X_train.sample(STATS_SAMPLE, seed)
    scaler.fit(sample)
    val_chosen, val_sample = splits.val[0].reshape((-1, *input_shape)).sample(VAL_SAMPLE, seed)
    dataset.loading.setdefault("memory", {})["standardization"] = (
        f"a seeded random sample of {len(chosen)} of the {len(X_train)} training rows (seed {seed})")

    def pair(X: StreamedRows, y) -> StreamedPair:
        return StreamedPair(X.reshape((-1, *input_shape)).with_transform(scaler.transform), labels(y))

    return {"train": pair(*splits.train), "val": pair(*splits.val),
            "samples": {"train": (sample, np.asarray(splits.train[1])[chosen]),
                        "val": (val_sample, np.asarray(splits.val[1])[val_chosen])}}


def in_memory_view(data: Any, raw_splits: Any) -> tuple[tuple[torch.Tensor, torch.Tensor], Any]:
    """What the preflight checks read: the standardized training tensors and the raw train/val
    arrays — for streamed data, the samples ``stream_prepared`` drew (the statistics' own rows)."""
    samples = getattr(data, "samples", None)
    if samples is None:
        return data.train, raw_splits
    return sampled_pair(data, "train"), (samples["train"], samples["val"])


def in_memory_pair(data: Any, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``split``'s tensors (``"train"`` or ``"val"``) for what needs them in memory: the split itself, or for rows
    read from disk its seeded sample (``sampled_pair``)."""
    return getattr(data, split) if getattr(data, "samples", None) is None else sampled_pair(data, split)


def sampled_pair(data: Any, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded sample of streamed ``split`` rows ``stream_prepared`` drew (``"train"``: the statistics' own, up to
    ``STATS_SAMPLE``; ``"val"``: up to ``VAL_SAMPLE``), standardized, with its targets as the model trains on them —
    what checks and a diagnosis that need tensors read in place of a split that streams."""
    X, y = data.samples[split]
    return (torch.as_tensor(np.asarray(data.scaler.transform(X), dtype=np.float32)),
            torch.as_tensor(data.train[1][:0]).new_tensor(_model_targets(data, y)))


def first_inputs(X: Any, n: int) -> torch.Tensor:
    """The first ``n`` rows of model input as a tensor (a forward pass's sample)."""
    if is_streamed(X):
        return torch.as_tensor(X.read(slice(0, n)))
    return X[:n]


def read_rows(X: Any, y: torch.Tensor, rows: np.ndarray) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """``(rows, X, y)``: the rows ``rows`` of model input as tensors with their targets (streamed
    rows: read now, those that cannot be read left out of all three)."""
    rows = np.asarray(rows)
    if is_streamed(X):
        kept, values = X.read_kept(rows)
        rows = rows[kept]
        return rows, torch.as_tensor(values), y[torch.as_tensor(rows)]
    return rows, X[torch.as_tensor(rows)], y[torch.as_tensor(rows)]


def check_streamed(cfg: Any, data: Any, dataset: Dataset) -> None:
    """Refuse what needs every row in memory at once, naming the key (see the module doc)."""
    if not is_streamed(data.train[0]):
        return
    memory = dataset.loading.get("memory", {})
    why = (f"{dataset.source} streams from disk (its rows take {memory.get('mib')} MiB as float32, over the "
           f"memory budget of {memory.get('budget_mib')} MiB, data.memory)")
    refused = [("search.executor", cfg.search.executor == "population",
                "a population stacks its members' batches from rows held in memory")]
    for key, hit, reason in refused:
        if hit:
            raise ConfigError(f"{key}: {why}, and {reason}. Raise data.memory, take fewer rows (data.rows / "
                              f"max_per_class), or remove {key}")


def seal_test(directory: Any, test: Any, meta: dict) -> Vault:
    """Seal the test split: its arrays, or — streamed — the positions of its rows in their source."""
    X, y = test
    if is_streamed(X):
        return StreamedVault.seal_rows(directory, X, y, meta=meta)
    return Vault.seal(directory, X, y, meta=meta)


def listen_unreadable(dataset: Dataset, events: Any) -> None:
    """Log each streamed file left out when read (``data.bad_files = "skip"``: a file that passed the
    scan but does not decode) as a ``file_skipped`` event, those found before the log opened too."""
    if is_streamed(dataset.X):
        dataset.X.listen(lambda record: events("file_skipped", **record))


def loading_record(dataset: Dataset, events_path: Path | None = None) -> dict:
    """``dataset.loading`` (summary.json's ``data.loading``) with the streamed files left out when
    read listed after those the scan skipped, in ``skipped`` and ``skipped_count``: those this
    process found and the ``file_skipped`` events of the run's log (a resumed run's earlier
    processes trained without them too)."""
    found = dataset.X.unreadable if is_streamed(dataset.X) else []
    logged = [e for e in read_events(Path(events_path)) if e.get("event") == "file_skipped"] if events_path else []
    left: dict[Any, dict] = {}
    for record in [*logged, *found]:
        left.setdefault(record.get("file"), {k: v for k, v in record.items() if k not in ("event", "time")})
    if not left:
        return dataset.loading
    return {**dataset.loading, "skipped": [*dataset.loading.get("skipped", []), *left.values()],
            "skipped_count": dataset.loading.get("skipped_count", 0) + len(left)}


def memory_line(loading: dict) -> str | None:
    """The run's first-lines sentence about where its rows are, or None."""
    memory = loading.get("memory")
    if not memory:
        return None
    if memory["path"] == "streamed":
        which = "" if memory.get("splits", ["train"])[0] == "train" else f" ({', '.join(memory['splits'])} split)"
        return (f"data streamed{which}: {memory['mib']} MiB of float32 rows over the {memory['budget_mib']} MiB budget "
                f"(data.memory), read through a DataLoader with {memory['num_workers']} workers"
                f"{', pinned memory' if memory['pin_memory'] else ''}; standardized with {memory.get('standardization', 'training statistics')}")
    return f"data cached in memory: {memory['mib']} MiB of float32 rows (budget {memory['budget_mib']} MiB, data.memory)"


def _recorded(dataset: Dataset, path: str, size: int, budget: int, **more: Any) -> Dataset:
    record = {"path": path, "mib": round(size / _MIB, 3), "budget_mib": round(budget / _MIB, 3), **more}
    return dataclasses.replace(dataset, loading={**dataset.loading, "memory": record})


def _image_shape(item_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(item_shape) == 3:
        return tuple(item_shape)
    return (1, *item_shape) if len(item_shape) == 2 else None


def _read_all(rows: StreamedRows) -> np.ndarray:
    """Every row, flat float32, read in batches (the rows fit the budget)."""
    return np.concatenate([batch.numpy().reshape(len(batch), -1) for batch in rows.loader(batch_size=1024)])


def _model_targets(data: Any, y: np.ndarray) -> np.ndarray:
    from knobs.pipeline.inputs._target import scale_target

    return np.asarray(scale_target(torch.as_tensor(y), data.target))
