"""The TOML configuration of a run: schema, loading, and the search-space syntax."""

from knobs.config._load import load_config, parse_config
from knobs.config._schema import (
    DEFAULT_SPACE, AutopilotConfig, ChecksConfig, DataConfig, ModelConfig, RunConfig, SearchConfig, TrainConfig,
)
from knobs.config._space import build_space

__all__ = [
    "DEFAULT_SPACE", "AutopilotConfig", "ChecksConfig", "DataConfig", "ModelConfig", "RunConfig", "SearchConfig",
    "TrainConfig", "build_space", "load_config", "parse_config",
]
