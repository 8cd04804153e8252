"""The run configuration as pydantic models: every key typed, bounded and documented.

Why pydantic with ``extra="forbid"``: a typo such as ``n_trails`` must stop the run with a message
naming the key, not be silently ignored while the default budget runs. docs/config.md documents
every field defined here; keep the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictBool, field_validator, model_validator

from knobs._validation import did_you_mean
from knobs.balance._options import BalanceOptions
from knobs.storage import mask_password

__all__ = [
    "RunConfig", "AutopilotConfig", "BalanceConfig", "DataConfig", "EnsembleConfig", "ModelConfig", "SearchConfig", "TrialResources", "TrainConfig", "ChecksConfig",
    "DEFAULT_SPACE",
]

SpaceEntry = Union[dict[str, Any], str, int, float, bool]

#: The MLP space searched when the config names none: learning rate and weight decay on log
#: scales, width (log), depth, dropout and the optimizer.
DEFAULT_SPACE: dict[str, SpaceEntry] = {
    "lr": {"low": 3e-4, "high": 3e-2, "log": True},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "width": {"low": 64, "high": 512, "log": True, "type": "int"},
    "depth": {"low": 1, "high": 3, "type": "int"},
    "dropout": {"low": 0.0, "high": 0.4},
    "optimizer": {"choices": ["adam", "adamw", "nesterov"]},
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Where the data comes from, how it is read, split and scaled.

    The reading keys apply to one kind of data each (``knobs.data.OPTIONS``); setting one for
    another kind stops the run naming it. Their defaults are the loaders' own.
    """

    source: str = Field("digits", description="built-in set name, a .csv/.tsv/.txt file, an image folder, or "
                        "(kind = \"arrays\") a .npz / .parquet file")
    kind: Literal["auto", "tabular", "images", "text", "arrays"] = Field(
        "auto", description="auto: a folder is images; a table is text when text_column is set, else tabular; "
        "arrays: .npz (X, y) or .parquet")
    builder: Optional[str] = Field(None, description="\"package.module:function\" or \"file.py:function\" "
                                   "returning (X, y), {train, [val], test} pairs, or a torch Dataset (instead of source)")
    rows: Optional[int] = Field(None, ge=1, description="a seeded random subset of this many rows, drawn before the split")
    test_columns: dict[str, str] = Field(default_factory=dict, description="data.test file: the run's column "
                                         "(or \"text\", \"target\") → the test file's name for it")
    target: Optional[Union[str, list[str]]] = Field(None, description="target column of a table (default \"label\"), "
                                                   "or a list of 0 / 1 label columns: a multi-label target")
    task: Optional[Literal["classification", "regression", "multilabel", "segmentation"]] = Field(
        None, description="default: inferred from the target (several label columns, or rows of 0 / 1 labels in "
                          "arrays, are multilabel)")
    n_classes: Optional[int] = Field(None, ge=2, description="keep the integer labels as they are and require 0..n_classes-1")
    layout: Literal["auto", "image", "sequence"] = Field(
        "auto", description="arrays and builders: how rows of several axes are read: auto / image (an (n, H, W) or "
                            "(n, C, H, W) X is images) or sequence (an (n, T, F) X is T steps of F features, each "
                            "feature standardized over rows and steps)")
    val: float = Field(0.15, gt=0.0, lt=1.0, description="validation fraction")
    test: Union[float, str] = Field(0.15, description="test fraction, sealed in the vault; or the path of an "
                                    "official test set (a table, or a folder of class folders) sealed instead")
    standardize: Literal["feature", "channel", "sample", "none"] = "feature"
    folds: Optional[int] = Field(None, ge=2, description="k-fold mode: after the test split is sealed, every "
                                 "trial trains on k folds of the other rows (data.val does not apply)")
    memory: Optional[float] = Field(None, gt=0, description="MiB the data may take in memory (float32); larger "
                                    "image folders and torch Datasets with .targets stream through a DataLoader. "
                                    "Default: a quarter of the machine's memory")
    workers: Optional[int] = Field(None, ge=0, description="DataLoader worker processes for streamed data "
                                   "(default: the CPU count - 1, at most 8)")
    # tables (tabular and text)
    delimiter: Optional[str] = Field(None, description="field separator (default: tab for .tsv, comma otherwise)")
    missing: Literal["error", "drop", "mean", "median", "most_frequent"] = Field(
        "error", description="missing cells: refuse, drop the rows, or fill (learned on the training split)")
    groups: Optional[str] = Field(None, description="a column of group ids (patient, session): no group in two "
                                  "splits or folds; not a feature")
    max_classes: int = Field(20, ge=2, description="a target is inferred as classes when it is text or has at most "
                             "this many distinct integers (else regression; data.task decides outright)")
    # tabular
    features: Optional[list[str]] = Field(None, description="feature columns (default: all but the target)")
    categorical: list[str] = Field(default_factory=list, description="columns to one-hot encode although numeric")
    max_categories: int = Field(100, ge=2, description="the most distinct values of a categorical column")
    # images
    image_size: Optional[Union[PositiveInt, tuple[PositiveInt, PositiveInt]]] = Field(
        None, description="resize to this size (int or [height, width]); default: the images' common size")
    image_channels: Optional[Literal[1, 3]] = Field(None, description="default: 1 if every image is grayscale, else 3")
    bad_files: Literal["error", "skip"] = Field(
        "error", description="non-image files (and streamed images that fail to decode when read): stop, or skip and "
                             "list them")
    max_per_class: Optional[int] = Field(None, ge=1, description="keep N images of each class, a seeded random draw")
    ignore_index: Optional[int] = Field(None, description="segmentation folders (images/ with masks/): the mask "
                                        "value of pixels without a class (VOC's 255), left out of loss and metrics")
    # text
    text_column: Optional[str] = Field(None, description="the text column; setting it makes a table text")
    vocab_size: int = Field(20000, ge=3, le=2**24, description="most vocabulary entries, <pad> and <unk> included")
    min_freq: int = Field(2, ge=1, description="fewest training occurrences for a token of its own")
    max_length: int = Field(256, ge=1, description="most tokens kept per text")

    @field_validator("test")
    @classmethod
    def _fraction_or_path(cls, test: Union[float, str]) -> Union[float, str]:
        """A number is a fraction of the rows; text is the official test set's path."""
        if isinstance(test, str):
            if not test.strip():
                raise ValueError("data.test is a fraction in (0, 1) or the path of a test file or folder")
            return test
        if not 0.0 < test < 1.0:
            raise ValueError(f"data.test must be a fraction in (0, 1) or a path; got {test}")
        return test

    @property
    def test_path(self) -> Optional[str]:
        """The official test set's path, or None when ``test`` is a fraction."""
        return self.test if isinstance(self.test, str) else None

    @property
    def test_fraction(self) -> float:
        """The fraction of the source's rows drawn for the vault (0 with an official test set)."""
        return 0.0 if isinstance(self.test, str) else float(self.test)

    def loader_options(self) -> dict[str, Any]:
        """The reading keys this config sets explicitly, as keyword arguments of ``load_dataset``."""
        kept = self.model_fields_set - _NOT_LOADER_KEYS
        return {key: getattr(self, key) for key in sorted(kept)}


_NOT_LOADER_KEYS = frozenset({"source", "kind", "n_classes", "val", "test", "standardize", "folds", "builder",
                               "rows", "test_columns", "memory", "workers"})


#: Every ``model.family`` name: knobs' own families, then the pretrained backbones
#: (``knobs.models.FAMILIES`` + ``PRETRAINED_FAMILIES``, spelled here so the config stays torch-free;
#: tests/test_backbones.py keeps the two in step), and any ``timm:<timm model name>``.
FAMILY_NAMES = ("mlp", "convnet", "text_bag", "text_cnn", "efficientnet_lite0", "minilm")
TIMM_PREFIX = "timm:"


class ModelConfig(_Strict):
    """The model family, or your own builder; its hyperparameters live in [search.space]."""

    family: str = Field("mlp", description="mlp | convnet | text_bag | text_cnn, or a pretrained backbone: "
                                           "efficientnet_lite0 | minilm | timm:<timm model name>")
    weights: Optional[str] = Field(None, description="pretrained families: a local state_dict (.pth, .pt, "
                                   ".safetensors) replacing the shipped weights; required by timm:<name>")
    builder: Optional[str] = Field(None, description="your own model: 'package.module:function' or "
                                   "'path/to/models.py:function' (relative to the working directory), called as "
                                   "function(params, info) -> torch.nn.Module; replaces model.family")

    @field_validator("family")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value in FAMILY_NAMES or (value.startswith(TIMM_PREFIX) and len(value) > len(TIMM_PREFIX)):
            return value
        raise ValueError(f"unknown family {value!r}{did_you_mean(value, FAMILY_NAMES, n=2)}; expected one of "
                         f"{', '.join(FAMILY_NAMES)}, "
                         f"or '{TIMM_PREFIX}<timm model name>'")

    @field_validator("builder")
    @classmethod
    def _a_reference(cls, builder: Optional[str]) -> Optional[str]:
        """'where:function', both parts given; a file's path made absolute from the working directory,
        so worker processes, Ray tasks and a later resume read the same file wherever they run
        (importing it waits for the run's inputs)."""
        if builder is None:
            return None
        where, sep, name = builder.rpartition(":")
        if not sep or not where.strip() or not name.strip():
            raise ValueError("expected 'package.module:function' or 'path/to/models.py:function'")
        if where.endswith(".py") or "/" in where or "\\" in where:
            return f"{Path(where.strip()).expanduser().resolve()}:{name.strip()}"
        return builder

    @model_validator(mode="after")
    def _builder_or_family(self) -> "ModelConfig":
        """A builder makes the model itself: a family set beside it would be silently ignored."""
        if self.builder is not None and "family" in self.model_fields_set:
            raise ValueError(f"model.builder and model.family = {self.family!r} are both set; a builder makes the "
                             f"model itself: remove model.family")
        if self.builder is not None and self.weights is not None:
            raise ValueError("model.weights is for the pretrained families; a builder loads its own weights "
                             "(remove model.weights, or load the file inside the builder)")
        return self


class TrialResources(_Strict):
    """CPUs and GPUs each trial reserves when search.executor = "ray" (fractions pack trials)."""

    cpu: float = Field(1.0, gt=0.0)
    gpu: float = Field(0.0, ge=0.0)


class SearchConfig(_Strict):
    """How configurations are chosen and judged."""

    sampler: Literal["grid", "random", "coarse_to_fine", "bayes"] = "bayes"
    sampler_options: dict[str, Any] = Field(default_factory=dict)
    pruner: Literal["none", "median", "asha", "hyperband", "curve"] = "none"
    pruner_options: dict[str, Any] = Field(default_factory=dict)
    n_trials: int = Field(40, ge=1, description="trials to run (a resumed run counts finished ones)")
    timeout: Optional[float] = Field(None, gt=0, description="stop starting new trials after this many seconds")
    metric: Literal["val_loss", "val_accuracy", "val_balanced_accuracy", "val_macro_f1", "val_roc_auc"] = Field(
        "val_loss", description="what trials are ranked, pruned and stopped on: the validation loss, accuracy, "
                                "balanced accuracy (the mean per-class recall), macro-F1 or ROC AUC (the last three "
                                "for imbalanced classes; AUC one-vs-rest for more than two)")
    space: dict[str, SpaceEntry] = Field(default_factory=lambda: dict(DEFAULT_SPACE))
    workers: int = Field(1, ge=1, le=1024, description="trials run at once: local processes, or Ray tasks in flight")
    executor: Literal["local", "ray", "population"] = Field(
        "local", description="where trials run: local processes, Ray tasks, or populations trained at once")
    population: int = Field(16, ge=1, le=4096, description="executor 'population': trials asked and trained at "
                                                            "once (stacked parameters, one vmapped program)")
    ray_address: Optional[str] = Field(None, description="Ray cluster: 'auto', 'host:port', 'ray://host:port'; "
                                                         "default: a Ray instance started for this run")
    trial_resources: TrialResources = Field(default_factory=TrialResources,
                                              description="what each Ray task reserves")
    storage: Optional[str] = Field(None, description="database URL of the study (default: study.db in the run "
                                                     "directory); a postgresql:// URL lets `knobs worker` join from other machines")
    warm_start: Optional[str] = Field(None, description="an earlier run directory (or its study.db, or a database URL) "
                                      "whose trials the sampler learns from (bayes); never counted as this run's")
    warm_start_rename: dict[str, str] = Field(default_factory=dict, description="{old axis name = \"new name\"} for "
                                              "axes renamed since the warm start's run")

    @field_validator("warm_start")
    @classmethod
    def _absolute_source(cls, source: Optional[str]) -> Optional[str]:
        """A path made absolute from the working directory, so a worker and a later resume read the
        same study wherever they run (a URL stays as given)."""
        if source is None or "://" in source:
            return source
        return str(Path(source).expanduser().resolve())

    @model_validator(mode="after")
    def _rename_needs_a_source(self) -> "SearchConfig":
        if self.warm_start_rename and self.warm_start is None:
            raise ValueError("search.warm_start_rename is set without search.warm_start; name the earlier run "
                             "(search.warm_start = \"runs/<name>\") or remove the renames")
        return self


class TrainConfig(_Strict):
    """Training defaults for every trial; a key also in [search.space] is searched instead."""

    epochs: int = Field(60, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(8, ge=1, description="epochs without improvement before early stopping")
    min_delta: float = Field(0.0, ge=0.0)
    schedule: Optional[Union[str, dict[str, Any]]] = None
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 autocast on CUDA when supported, else fp32")
    channels_last: Union[Literal["auto"], StrictBool] = Field(
        "auto", description="channels_last (NHWC) weights and image batches: auto = on CUDA for models with 2-D "
                            "convolutions")
    threads: int = Field(1, ge=1, description="torch intra-op threads per trial")
    accumulate: int = Field(1, ge=1, description="batches whose gradients are summed before each optimizer step "
                            "(gradient accumulation: a step of accumulate × batch_size rows in the memory of one batch)")


class ChecksConfig(_Strict):
    """The preflight run before any compute is spent on the search."""

    initial_loss: bool = True
    batch_independence: bool = Field(True, description="in eval mode, each row's outputs depend on that row alone "
                                     "(no reshape, softmax or mean over the batch axis)")
    overfit_tiny: bool = True
    overfit_seconds: float = Field(120.0, gt=0, description="the tiny-subset overfit check's time box in seconds: "
                                   "past it the check stops with a warning (inconclusive), not a failure")
    data: bool = True
    strict: bool = Field(False, description="stop the run when a preflight check fails")


class EnsembleConfig(_Strict):
    """Combining the best trials (classification): chosen on validation, tested once."""

    enabled: bool = True
    top_k: int = Field(8, ge=1, description="checkpoints of the k best trials are kept as members")
    size: int = Field(25, ge=1, description="rounds of greedy selection with replacement (Caruana et al. 2004)")


#: ``[balance]`` is ``knobs.balance.BalanceOptions`` itself (torch-free), so the config and the
#: training loop share one schema and one definition of when balancing is active.
BalanceConfig = BalanceOptions


class AutopilotConfig(_Strict):
    """The walk after the search (``knobs run --autopilot``): diagnose the best configuration,
    change one thing, keep it only when validation improves by more than its noise."""

    enabled: bool = Field(False, description="walk after the search, before the vault is opened")
    max_steps: int = Field(6, ge=1, le=100, description="most changes trained (each one is a trial)")
    min_gain: float = Field(0.0, ge=0.0, description="smallest validation improvement kept, in the metric's units")
    margin_se: float = Field(1.0, ge=0.0, le=10.0, description="a change is kept only when its gain exceeds this "
                             "many standard errors of the paired per-row validation difference")
    keys: Optional[list[str]] = Field(None, description="the knobs the walk may turn (default: every one it "
                                      "knows that this model and data have)")


_IN_SPACE = "[search.space] (a plain value fixes it for every trial, { low = ..., high = ... } searches it)"
#: trial hyperparameters a person may write in another table ("[train] lr = 0.01"): the message says where they go
SPACE_KEYS: dict[str, str] = {key: _IN_SPACE for key in (
    "lr", "weight_decay", "optimizer", "momentum", "beta1", "beta2", "l1", "clip_grad_norm", "clip_grad_value",
    "dropout", "width", "depth", "activation", "batch_norm", "init")}


class RunConfig(_Strict):
    """One run of the practice cycle."""

    name: Optional[str] = Field(None, description="run directory name (default: <source>-<timestamp>)")
    runs_dir: str = "runs"
    seed: int = Field(0, ge=0, le=2**32 - 1, description="seeds the split, the sampler and every trial")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)
    balance: BalanceOptions = Field(default_factory=BalanceOptions)
    autopilot: AutopilotConfig = Field(default_factory=AutopilotConfig)
    # NOTE: [augment] and [transfer] are validated by knobs.augment / knobs.transfer when the run
    # loads its inputs (their option sets live there, and importing them here would pull torch).
    augment: dict[str, Any] = Field(default_factory=dict, description="augmentation options: image "
                                    "(knobs.augment.ImageAugmentOptions keys) or text EDA (EDAOptions keys); "
                                    "searchable as augment.<key>")
    transfer: Optional[dict[str, Any]] = Field(None, description="start from a pretrained knobs checkpoint "
                                               "(knobs.transfer.TransferConfig keys)")

    def public_dump(self, **options: Any) -> dict[str, Any]:
        """``model_dump(mode="json", **options)`` with the passwords of ``search.storage`` and
        ``search.ray_address`` masked: what a run writes where others read it (events.jsonl, the
        study's run record, the dashboard). The study itself is opened with the real URL."""
        dumped = self.model_dump(mode="json", **options)
        search = dumped.get("search") or {}
        for key in ("storage", "ray_address"):
            if search.get(key):
                search[key] = mask_password(search[key])
        return dumped

    @field_validator("name")
    @classmethod
    def _one_directory_name(cls, name: Optional[str]) -> Optional[str]:
        """A run name is one directory under runs_dir: '../x' or 'a/b' would write elsewhere."""
        if name is not None and (name in (".", "..") or "/" in name or "\\" in name):
            raise ValueError("a run name is one directory name under runs_dir, without '/' or '..'; "
                             "put the folder in runs_dir (--runs-dir) instead")
        return name
