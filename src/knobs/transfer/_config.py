"""The ``[transfer]`` section of a run config (proposed; the lead wires it into ``RunConfig``).

Why this module imports pydantic only: ``knobs.config`` can import ``TransferConfig`` without
pulling in torch. It is an option set of ``knobs._validation`` like every other, so its errors
read like theirs. Example TOML::

    [transfer]
    source = "runs/digits-0to4/checkpoints/best.pt"   # a knobs checkpoint
    mode = "fine_tune"          # or "feature_extractor", "freeze_first"
    body_lr_mult = 0.1          # body LR = lr × 0.1 (right under the head)
    layer_decay = 0.5           # each layer further down: × 0.5 more
    # freeze_first_n = 2        # with mode = "freeze_first"
    # head = "head"             # default: the last nn.Linear
    # layers = "module"         # what a layer is: "module" or "child" (knobs.transfer.model_layers)

Example:
    >>> TransferConfig(mode="freeze_first", freeze_first_n=2).freeze_first_n
    2
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from knobs._validation import Options

__all__ = ["TransferConfig", "MODES", "parse_transfer"]

MODES = ("feature_extractor", "fine_tune", "freeze_first")


class TransferConfig(Options):
    """Start from a pretrained model: which one, what to freeze, how fast each layer learns."""

    where: ClassVar[str] = "transfer"

    source: Optional[str] = Field(None, description="knobs checkpoint, or a plain state_dict of the pretrained model.family, or a whole saved module of an allow-listed class (path)")
    mode: Literal["feature_extractor", "fine_tune", "freeze_first"] = Field(
        "fine_tune", description="feature_extractor: train the new head only; fine_tune: train everything, "
                                 "body at body_lr_mult; freeze_first: freeze the first freeze_first_n layers")
    freeze_first_n: Optional[int] = Field(None, ge=0, description="layers frozen from the input side (freeze_first)")
    body_lr_mult: float = Field(0.1, gt=0.0, description="LR of the body layer under the head, relative to lr")
    layer_decay: float = Field(1.0, gt=0.0, le=1.0, description="LR factor per layer further down (discriminative LRs)")
    head: Optional[str] = Field(None, description="dotted name of the head module (default: the last nn.Linear)")
    reset_head: bool = Field(True, description="replace the head's last Linear with a zero one for the new classes")
    layers: Literal["module", "child"] = Field("module", description="what a layer is (see knobs.transfer.model_layers)")

    @model_validator(mode="after")
    def _freeze_first_needs_n(self) -> "TransferConfig":
        if self.mode == "freeze_first" and self.freeze_first_n is None:
            raise ValueError("mode = 'freeze_first' needs freeze_first_n (the number of layers to freeze)")
        if self.mode != "freeze_first" and self.freeze_first_n is not None:
            raise ValueError(f"freeze_first_n is only used with mode = 'freeze_first', and mode is {self.mode!r}; "
                             f"remove freeze_first_n or set mode = \"freeze_first\"")
        return self


def parse_transfer(cfg: Any) -> TransferConfig:
    """A ``TransferConfig`` from itself, a dict, or None (the defaults).

    Raises:
        ConfigError: unknown key or bad value, naming ``transfer.<key>``.
    """
    return TransferConfig.parse(cfg, "{'source': 'runs/x/checkpoints/best.pt'}")
