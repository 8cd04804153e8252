"""``knobs lr-find``: the LR range test on the config's reference model and training split.

Why from the config: the test is only useful on the model and data the search will train, and its
suggested range is printed in the config's own syntax so it can set ``search.space.lr``.
"""

from __future__ import annotations

from typing import Any

from knobs.config import RunConfig
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.train import lr_find

__all__ = ["find_lr"]


def find_lr(cfg: RunConfig, optimizer: str | None = None, steps: int = 200) -> tuple[Any, dict]:
    """Run ``knobs.train.lr_find`` on the reference config (the centre of the space).

    Returns:
        (the LRFindResult, the reference parameters it used).
    """
    inputs = load_inputs(cfg, data_checks=False)  # NOTE: the range test reports no data checks
    data, reference = inputs.mode.training_data(cfg, inputs), inputs.reference  # fold mode: every non-test row
    model = build_model(cfg, reference, ModelInfo.of(data))
    name = optimizer or reference.get("optimizer", "sgd")
    result = lr_find(model, data.train, optimizer=name, steps=steps,
                     batch_size=int(reference.get("batch_size", cfg.train.batch_size)), task=data.trainer_task)
    return result, {**reference, "optimizer": name}
