"""The first stage of a run: everything it needs before it writes anything (``RunInputs``).

Every bad input is found here — the data, the labels, the space, the practices, the autopilot's
keys, population mode's limits, every searched option built once — so a run that cannot finish
is refused before its directory exists. ``knobs check``, ``knobs diagnose --config``,
``lr-find`` and ``knobs worker`` read their inputs through the same function, so they see what a
run would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from knobs.config import RunConfig, build_space
from knobs.data import Dataset, Splits, encode_splits, validate_labels
from knobs.errors import ConfigError
from knobs.pipeline.autopilot._knobs import check_autopilot
from knobs.pipeline.inputs._backbone_text import with_backbone_tokenizer
from knobs.pipeline.inputs._backbone_images import search_space
from knobs.pipeline.inputs._population_check import check_population
from knobs.pipeline.inputs._folds import check_folds, release_refit_rows
from knobs.pipeline.inputs._practices import check_practices
from knobs.pipeline.inputs._prepared import PreparedData, prepare, standardized_away
from knobs.pipeline.inputs._source import load_source
from knobs.pipeline.inputs._split_record import split_record
from knobs.pipeline.inputs._split_rows import split_rows
from knobs.pipeline.inputs._streamed import check_streamed, first_inputs, settle_rows
from knobs.pipeline.model._build import ModelInfo, build_model, data_family, split_params
from knobs.pipeline.model._builder import check_accepts, check_output, load_builder
from knobs.pipeline.model._builder_transfer import check_builder_transfer
from knobs.pipeline.stages._modes import FoldMode, SplitMode, run_mode
from knobs.pipeline.trials._objective import make_trainer
from knobs.space import Space

__all__ = ["RunInputs", "load_inputs", "reports_data_checks"]


@dataclass
class RunInputs:
    """What a run starts from.

    Attributes:
        dataset: the data set as loaded: its description — in-memory rows are let go once split
            (``Dataset.without_rows``), streamed ones kept (they read on access).
        splits: train / val / test, encoded with the preprocessing fitted on the training split
            (the test split is sealed in the vault as it is here, then dropped: ``release_test``);
            in split mode train / val keep their targets and shapes only, their rows standardized
            in place into ``data`` (``standardized_away``; docs/architecture.md, "What a run holds
            in memory").
        data: train and validation tensors, standardized with the training statistics (in fold
            mode: every non-test row as training rows — let go once loaded, made again for the
            refit: ``mode.training_data`` — and the folds in ``data.folds``: their rows' positions,
            each fold's data prepared when used, ``FoldData.prepare``).
        space: the search space; fixed: the values every trial has (model arguments the data
            decides included, so every checkpoint records them).
        reference: the centre of the space with the fixed values (preflight, check, diagnose).
        mode: one split or k folds (``SplitMode`` / ``FoldMode``).
        split_record: which rows each split holds, by name (the run's ``splits.json``).
    """

    dataset: Dataset
    splits: Splits
    data: PreparedData
    space: Space
    fixed: dict[str, Any]
    reference: dict[str, Any]
    mode: SplitMode | FoldMode
    split_record: dict | None = None
    #: rows of the test split, counted before ``release_test`` drops them
    test_rows: int = 0

    def __post_init__(self) -> None:
        if self.splits.test is not None:
            self.test_rows = len(self.splits.test[1])

    def release_test(self) -> None:
        """Drop the test rows once the vault holds them: only the vault's opening reads them
        again, and held here they stayed in memory through the whole search."""
        self.splits = self.splits.without_test()

    def view(self) -> tuple[PreparedData, Splits, dict[str, Any]]:
        """(data, splits, reference parameters) that a one-split step looks at (``mode.view``)."""
        return self.mode.view(self.data, self.splits, self.reference)


def load_inputs(cfg: RunConfig, data_checks: bool | None = None) -> RunInputs:
    """Load, split, encode and standardize the data, build the space, and check everything.

    The test split is encoded with the preprocessor fitted on the training split before it is
    sealed, exactly as prediction rows will be. Raises on any bad input.

    Args:
        data_checks: whether the caller reports the data checks of the train / val rows (a
            preflight, a diagnosis). In split mode they are answered while the rows load, before
            the rows are standardized in place, and only then (``prepare(data_checks=...)``):
            a pass over every row that nothing reads otherwise. Default: as ``knobs run``
            reports them (``reports_data_checks``); a worker process, which never does, says False.
    """
    torch.set_num_threads(cfg.train.threads)
    mode = run_mode(cfg)
    if cfg.model.builder is not None:
        load_builder(cfg.model.builder)  # NOTE: a builder that cannot be imported stops the run before the data loads
    given, test_ids = load_source(cfg)
    given = with_backbone_tokenizer(cfg, given)  # a pretrained text family reads with its own tokenizer
    dataset = given.dataset
    if dataset.task == "classification":
        validate_labels(dataset.y, dataset.n_classes)
    elif dataset.task == "segmentation":
        if cfg.model.builder is None:
            raise ConfigError(f"model.family {cfg.model.family!r}: {dataset.name!r} holds a class per pixel (a "
                              f"segmentation), and knobs' families give one prediction per image; give your fully "
                              f"convolutional model as model.builder, returning a logit per class and pixel "
                              f"(n, info.n_classes, H, W)")
        if cfg.search.metric == "val_roc_auc" or cfg.balance.threshold != "none":
            what = ("search.metric = \"val_roc_auc\"" if cfg.search.metric == "val_roc_auc" else
                    f"balance.threshold = {cfg.balance.threshold!r}")
            raise ConfigError(f"{what}: {dataset.name!r} holds a class per pixel (a segmentation), which knobs scores "
                              f"by pixel accuracy, balanced accuracy, macro-F1 and mean IoU, and predicts each pixel's "
                              f"most probable class; rank on \"val_loss\", \"val_accuracy\", "
                              f"\"val_balanced_accuracy\" or \"val_macro_f1\" and leave the threshold out")
    elif dataset.task == "multilabel":
        if cfg.search.metric == "val_balanced_accuracy":  # NOTE: a mean recall over classes; rows here carry several
            raise ConfigError(f"search.metric = \"val_balanced_accuracy\": {dataset.name!r} is multi-label (rows of "
                              f"{dataset.n_classes} 0 / 1 labels), where balanced accuracy is undefined; rank on "
                              f"\"val_macro_f1\" (each label's F1, rare ones weighing as much), \"val_roc_auc\", "
                              f"\"val_accuracy\" (the share of labels right) or \"val_loss\"")
    elif cfg.search.metric != "val_loss":  # NOTE: it is None every epoch: nothing to judge trials or stop on
        raise ConfigError(f"search.metric = \"{cfg.search.metric}\": this data is a regression ({dataset.name!r}: numeric "
                          f"targets), which has no accuracy; use \"val_loss\", or set data.task = \"classification\" "
                          f"if its targets are class ids")
    # NOTE: without [search.space], an image backbone's default (training keys) or a ConvNet's (its own keys)
    space, fixed = build_space(search_space(cfg, dataset.image_shape))
    if space is None:
        raise ConfigError("search.space: nothing to search; give at least one range ({low, high}) or choices")
    raw, groups = split_rows(cfg, dataset, mode.val_fraction(cfg), given)
    del given  # NOTE: it holds the loaded rows too, which the splits hold now
    dataset, raw = settle_rows(cfg, dataset, raw)  # streamed rows: read into memory when they fit, else streamed
    dataset = dataset.without_rows()  # the splits hold the rows now; the record keeps the facts
    preprocessor, splits, report = encode_splits(dataset, raw)
    texts = raw.train[0] if dataset.loading.get("kind") == "text" else None
    family = data_family(cfg, dataset)
    in_place = mode.k is None and _own_rows(raw, splits)  # NOTE: fold mode deals raw.train into folds below
    data = prepare(dataset, splits, family, cfg.data.standardize, preprocessor, report, texts=texts, seed=cfg.seed,
                   in_place=in_place, data_checks=reports_data_checks(cfg) if data_checks is None else data_checks)
    if in_place:
        splits = standardized_away(splits)
    check_streamed(cfg, data, dataset)
    data.folds = mode.prepare_folds(_prepared_as(cfg, family), dataset, raw.train, groups)
    taken = sorted(set(data.model_args) & (set(fixed) | set(space.names)))
    if taken:
        raise ConfigError(f"search.space.{taken[0]}: this model argument comes from the data "
                          f"(set data.{taken[0]} to bound it); remove it from the space")
    fixed = check_practices(cfg, data, space, {**fixed, **data.model_args})
    if cfg.transfer is not None and cfg.model.builder is not None:
        fixed = check_builder_transfer(cfg, data, space, fixed)
    if cfg.autopilot.enabled:
        check_autopilot(cfg, data)
    reference = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    _check_params(cfg, data, space, fixed)
    check_population(cfg, space, fixed)
    if data.folds:
        release_refit_rows(data)  # NOTE: only the refit trains on them: made again then (mode.training_data)
        check_folds(data.folds)  # each fold prepared once and let go: one that cannot be stops the run here
    record = split_record(dataset, raw, test_ids, data.folds, cfg.data.test_path)
    return RunInputs(dataset, splits, data, space, fixed, reference, mode, record)


def reports_data_checks(cfg: RunConfig) -> bool:
    """Whether a run of ``cfg`` reads the data checks: its preflight (``checks.data``) or the
    autopilot, whose diagnosis of the best trial weighs them (``trials/_diagnosis.py``)."""
    return bool(cfg.checks.data or cfg.autopilot.enabled)


def _own_rows(raw: Splits, encoded: Splits) -> bool:
    """Whether the train / val rows of ``encoded`` are copies only this run holds: encoded afresh by
    the data's preprocessor, or drawn from the loaded rows by the split (a source's own validation
    split, given whole, is the caller's array and stays as it is)."""
    return encoded is not raw or (raw.index is not None and raw.index.get("val") is not None)


def _prepared_as(cfg: RunConfig, family: str) -> RunConfig:
    """``cfg`` as the folds' preparation reads it: a builder run's folds get the inputs of the
    family its data is prepared for (``data_family``), as the run's data does."""
    if family == cfg.model.family:
        return cfg
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"family": family, "builder": None})})


def _check_params(cfg: RunConfig, data: PreparedData, space: Space, fixed: dict) -> None:
    """Build the model and trainer for every choice option once, so a bad name fails before any work.

    A builder's model also answers a few training rows once: outputs that do not fit the task are
    named here, not by the first trial's loss."""
    base = {**fixed, **space.from_unit(np.full(len(space), 0.5))}
    variants = [base] + [{**base, name: option} for name in space.names
                         if space[name].kind == "choice" for option in space[name].options]
    info = ModelInfo.of(data)
    for params in variants:
        if cfg.model.builder is not None and cfg.transfer is None:
            check_accepts(load_builder(cfg.model.builder), split_params(params)[1])
        model = build_model(cfg, params, info)
        if cfg.model.builder is not None and params is base:
            check_output(load_builder(cfg.model.builder), model, first_inputs(data.train[0], 2), info, split_params(params)[1])
        make_trainer(cfg.train, params, cfg.search.metric, cfg.seed).validate()
