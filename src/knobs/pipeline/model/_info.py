"""``ModelInfo``: what the data decides about a model — the one thing a builder is told besides its params.

Public as ``knobs.ModelInfo``: a ``model.builder`` function (``(params, info) -> nn.Module``) can
rely on these four attributes and nothing else, so their meaning is a contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ModelInfo"]


@dataclass(frozen=True)
class ModelInfo:
    """What the data decides about a model: the second argument of a ``model.builder`` function.

    A builder can rely on these four and nothing else (``knobs.ModelInfo`` is this class):

    Attributes:
        input_shape: one example's shape as the model receives it, without the batch dimension:
            ``(features,)`` for a table, ``(channels, height, width)`` for images, ``(max_length,)``
            token ids (float32, 0 = padding) for text.
        task: "classification" (the model returns ``(batch, n_classes)`` logits), "multilabel" (``(batch,
            n_classes)``: one logit per label, each row may carry several) or "regression" (``(batch, 1)`` or
            ``(batch,)``, in standardized target units).
        n_classes: classes, or labels for "multilabel"; for regression the outputs (1, or one per target column).
        vocab_size: the vocabulary of a text run (token ids are below it), else None.
    """

    input_shape: tuple[int, ...]
    task: str
    n_classes: int
    vocab_size: int | None = None

    @classmethod
    def of(cls, data: Any) -> "ModelInfo":
        """From prepared data (a run's, or one fold's: a text fold has its own vocabulary)."""
        return cls(tuple(data.input_shape), data.task, int(data.n_classes), data.model_args.get("vocab_size"))

    @classmethod
    def of_checkpoint(cls, extra: dict[str, Any]) -> "ModelInfo":
        """From a trial checkpoint's ``extra`` (``save_trial_checkpoint``)."""
        task = extra.get("task") or ("regression" if extra.get("target") is not None else "classification")
        vocab = (extra.get("params") or {}).get("vocab_size")  # a text run fixes it in every trial's params
        return cls(tuple(int(s) for s in extra["input_shape"]), task, int(extra["n_classes"]),
                   None if vocab is None else int(vocab))

    def model_args(self) -> dict[str, Any]:
        """Model arguments the data decides (they override a trial's parameters of the same name)."""
        return {} if self.vocab_size is None else {"vocab_size": self.vocab_size}
