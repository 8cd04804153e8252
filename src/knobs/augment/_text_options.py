"""The options of EDA text augmentation: four strengths and a count, tunable by a search.

Wei & Zou's advice: α = 0.1 for each operation; ``n_aug`` = 16 new sentences per training text
below 500 texts, 8 around 2,000, 4 from 5,000 on (the gain shrinks as data grows). ``n_aug = 0``
turns augmentation off, so a search can compare with and without it on one axis.

Example:
    >>> EDAOptions.from_dict({"alpha_sr": 0.05, "n_aug": 16}).n_aug
    16
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from knobs._validation import Options, count, probability

__all__ = ["EDAOptions", "TEXT_OPTIONS"]

_P = probability()


class EDAOptions(Options):
    """Strengths of the four EDA operations and the number of new sentences per text.

    Attributes:
        alpha_sr: synonym replacement: the share of words replaced (at least one when > 0).
        alpha_ri: random insertion: the share of words inserted.
        alpha_rs: random swap: the share of words swapped.
        p_rd: random deletion: the probability of dropping each word.
        n_aug: new sentences per text (0 = off).
    """

    where: ClassVar[str] = "augment"

    alpha_sr: _P = 0.1
    alpha_ri: _P = 0.1
    alpha_rs: _P = 0.1
    p_rd: _P = 0.1
    n_aug: count(0) = 9

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | "EDAOptions" | None) -> "EDAOptions":
        """Checked options from a plain dict (unknown names are errors), or the options as given.

        Raises:
            ConfigError: naming the option and its valid range, or the closest valid name.
        """
        return cls.parse(config, "{'alpha_sr': 0.1}")

    @property
    def uses_synonyms(self) -> bool:
        """True when a thesaurus is needed (synonym replacement or insertion is on)."""
        return self.n_aug > 0 and (self.alpha_sr > 0 or self.alpha_ri > 0)


TEXT_OPTIONS: tuple[str, ...] = tuple(EDAOptions.model_fields)
