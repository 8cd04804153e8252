"""The ``[balance]`` options: one model for the run config and for ``knobs.balance``.

Why one model: the config used to declare the table once (pydantic) and ``knobs.balance`` again
(a dataclass with hand checks), and the two disagreed on when balancing is *active* — the config
said so for any key changed from its default (``smote_k = 3`` alone), ``knobs.balance`` only when
a treatment is on. Now ``RunConfig.balance`` is a ``BalanceOptions`` and ``active()`` is defined
here once.

Torch-free (pydantic only), so ``knobs.config`` imports it without loading torch.

Example:
    >>> BalanceOptions(class_weight="balanced", loss="focal").active()
    True
    >>> BalanceOptions(smote_k=3).active()  # a SMOTE setting without SMOTE treats nothing
    False
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainValidator, model_validator

from knobs._validation import Options, count, number, one_of
from knobs.errors import DataError

__all__ = ["BalanceOptions", "SAMPLERS", "LOSSES", "THRESHOLD_METRICS"]

SAMPLERS = ("none", "oversample", "undersample", "smote")
LOSSES = ("ce", "focal")
THRESHOLD_METRICS = ("balanced_accuracy", "f1", "mcc")
_FOCAL_GAMMA = 2.0


def _class_weight(value: Any) -> str | list[float] | dict[int, float]:
    """``"none"`` (None too), ``"balanced"``, one weight per class, or ``{class: weight}``; the
    weights' count and signs are checked against the classes by ``class_weights``."""
    if value is None or value == "none":
        return "none"
    if value == "balanced":
        return value
    def weight(w: Any) -> float:
        if isinstance(w, bool) or not isinstance(w, Real):
            raise ValueError("bad weight")
        return float(w)
    try:
        if isinstance(value, (list, tuple)):
            return [weight(w) for w in value]
        if isinstance(value, Mapping):
            return {int(k): weight(w) for k, w in value.items()}
    except (TypeError, ValueError):
        pass
    raise ValueError("expected 'none', 'balanced', one weight per class (a list of numbers) or {class: weight}")


class BalanceOptions(Options):
    """How to treat class imbalance on the training split (the ``[balance]`` table of a config).

    Attributes:
        class_weight: ``"none"``, ``"balanced"`` (``n / (C * n_c)`` from the training counts), or
            explicit weights (one per class, or ``{class: weight}``).
        sampler: ``"none"``; ``"oversample"`` (draw classes equally often with a
            ``WeightedRandomSampler``); ``"undersample"`` (drop majority rows); ``"smote"``
            (synthetic minority rows; tabular, standardized features).
        loss: ``"ce"`` (cross-entropy) or ``"focal"``.
        focal_gamma: focal loss exponent (``loss="focal"`` only).
        smote_k: SMOTE's ``k_neighbors``.
        threshold: ``"none"`` or a metric of ``THRESHOLD_METRICS`` to tune a binary decision
            threshold on validation (used at evaluation, checked here).
    """

    where: ClassVar[str] = "balance"

    class_weight: Annotated[Any, PlainValidator(_class_weight)] = Field(
        "none", description="loss weights per class: balanced = n / (C * n_c) from the training counts")
    sampler: one_of(*SAMPLERS) = "none"
    loss: one_of(*LOSSES) = "ce"
    focal_gamma: number(0.0, meaning=" (0 gives cross-entropy)") = _FOCAL_GAMMA
    smote_k: count(1, " (SMOTE's k_neighbors)") = Field(5, description="SMOTE's k_neighbors")
    threshold: one_of("none", *THRESHOLD_METRICS) = Field(
        "none", description="binary tasks: tune the decision threshold on validation for this metric (multi-label: "
                            "each label's own)")

    @model_validator(mode="after")
    def _one_correction(self) -> "BalanceOptions":
        if self.class_weight == "balanced" and self.sampler != "none":
            raise ValueError(f"class_weight='balanced' with sampler={self.sampler!r} corrects the imbalance twice "
                             f"(the resampled classes are already balanced); choose one of them")
        if self.loss != "focal" and self.focal_gamma != _FOCAL_GAMMA:
            raise ValueError(f"focal_gamma={self.focal_gamma!r} is set but loss={self.loss!r}; set loss='focal' "
                             f"or leave focal_gamma out")
        return self

    def active(self) -> bool:
        """True when a treatment is on: weights, a sampler, focal loss or a tuned threshold.

        ``focal_gamma`` and ``smote_k`` alone are settings of a treatment, not one.
        """
        return (self.class_weight != "none" or self.sampler != "none" or self.loss != "ce"
                or self.threshold != "none")

    def check(self, n_classes: int | None = None, task: str = "classification") -> "BalanceOptions":
        """Check the options' fit to the task (the values were checked when they were made).

        Args:
            n_classes: the task's classes (a multi-label task's labels); None for a regression task.
            task: ``"multilabel"``: rows of several labels, which only weights fit (``label_weights``).

        Raises:
            DataError: a treatment for a regression task, a threshold for a task with more
                than two classes, or a sampler or focal loss for a multi-label task (whose threshold is one per
                label).
        """
        if task == "multilabel":
            wrong = [f"{key} = {value!r}" for key, value in (("sampler", self.sampler), ("loss", self.loss))
                     if value not in ("none", "ce")]
            if wrong:
                raise DataError(f"balance.{wrong[0]}: a multi-label row carries several labels, so rows cannot be "
                                f"drawn or a focal loss weighed by class; weigh each label's positives instead: "
                                f"balance.class_weight = \"balanced\" (its negative over positive training rows, "
                                f"knobs.balance.label_weights), and tune each label's threshold (balance.threshold)")
            return self
        if n_classes is None:
            if self.active():
                raise DataError("balance options apply to classification, but the task is "
                                "regression; remove the [balance] settings")
            return self
        if self.threshold != "none" and n_classes != 2:
            raise DataError(f"balance.threshold={self.threshold!r} tunes a binary decision "
                            f"threshold, but the task has {n_classes} classes; set threshold = "
                            f"'none' (multiclass predicts the most probable class)")
        return self
