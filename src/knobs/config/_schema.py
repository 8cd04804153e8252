"""The run configuration as pydantic models: every key typed, bounded and documented.

Why pydantic with ``extra="forbid"``: a typo such as ``n_trails`` must stop the run with a message
naming the key, not be silently ignored while the default budget runs. docs/config.md documents
every field defined here; keep the two in step.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RunConfig", "DataConfig", "EnsembleConfig", "ModelConfig", "SearchConfig", "TrainConfig", "ChecksConfig",
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
    """Where the data comes from and how it is split and scaled."""

    source: str = Field("digits", description="built-in set name (digits, iris, wine, breast_cancer) or a .csv path")
    target: Optional[str] = Field(None, description="target column of a CSV file")
    task: Optional[Literal["classification", "regression"]] = Field(None, description="default: inferred from the target")
    n_classes: Optional[int] = Field(None, ge=2, description="keep the integer labels as they are and require 0..n_classes-1")
    val: float = Field(0.15, gt=0.0, lt=1.0, description="validation fraction")
    test: float = Field(0.15, gt=0.0, lt=1.0, description="test fraction, sealed in the vault")
    standardize: Literal["feature", "channel", "sample", "none"] = "feature"


class ModelConfig(_Strict):
    """The model family; its hyperparameters live in [search.space]."""

    family: Literal["mlp", "convnet"] = "mlp"


class SearchConfig(_Strict):
    """How configurations are chosen and judged."""

    sampler: Literal["grid", "random", "coarse_to_fine", "bayes"] = "bayes"
    sampler_options: dict[str, Any] = Field(default_factory=dict)
    pruner: Literal["none", "median", "asha", "hyperband"] = "none"
    pruner_options: dict[str, Any] = Field(default_factory=dict)
    n_trials: int = Field(40, ge=1, description="trials to run (a resumed run counts finished ones)")
    timeout: Optional[float] = Field(None, gt=0, description="stop starting new trials after this many seconds")
    metric: Literal["val_loss", "val_accuracy"] = "val_loss"
    space: dict[str, SpaceEntry] = Field(default_factory=lambda: dict(DEFAULT_SPACE))


class TrainConfig(_Strict):
    """Training defaults for every trial; a key also in [search.space] is searched instead."""

    epochs: int = Field(60, ge=1)
    batch_size: int = Field(64, ge=1)
    patience: int = Field(8, ge=1, description="epochs without improvement before early stopping")
    min_delta: float = Field(0.0, ge=0.0)
    schedule: Optional[Union[str, dict[str, Any]]] = None
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    threads: int = Field(1, ge=1, description="torch intra-op threads per trial")


class ChecksConfig(_Strict):
    """The preflight run before any compute is spent on the search."""

    initial_loss: bool = True
    overfit_tiny: bool = True
    data: bool = True
    strict: bool = Field(False, description="stop the run when a preflight check fails")


class EnsembleConfig(_Strict):
    """Combining the best trials (classification): chosen on validation, tested once."""

    enabled: bool = True
    top_k: int = Field(8, ge=1, description="checkpoints of the k best trials are kept as members")
    size: int = Field(25, ge=1, description="rounds of greedy selection with replacement (Caruana et al. 2004)")


class RunConfig(_Strict):
    """One run of the practice cycle."""

    name: Optional[str] = Field(None, description="run directory name (default: <source>-<timestamp>)")
    runs_dir: str = "runs"
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    ensemble: EnsembleConfig = Field(default_factory=EnsembleConfig)
