"""The options of EDA text augmentation: four strengths and a count, tunable by a search.

Wei & Zou's advice: α = 0.1 for each operation; ``n_aug`` = 16 new sentences per training text
below 500 texts, 8 around 2,000, 4 from 5,000 on (the gain shrinks as data grows). ``n_aug = 0``
turns augmentation off, so a search can compare with and without it on one axis.

Example:
    >>> EDAOptions.from_dict({"alpha_sr": 0.05, "n_aug": 16}).n_aug
    16
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from knobs.augment._checks import check_count, check_probability, options_from_dict

__all__ = ["EDAOptions", "TEXT_OPTIONS"]


@dataclass(frozen=True)
class EDAOptions:
    """Strengths of the four EDA operations and the number of new sentences per text.

    Attributes:
        alpha_sr: synonym replacement: the share of words replaced (at least one when > 0).
        alpha_ri: random insertion: the share of words inserted.
        alpha_rs: random swap: the share of words swapped.
        p_rd: random deletion: the probability of dropping each word.
        n_aug: new sentences per text (0 = off).
    """

    alpha_sr: float = 0.1
    alpha_ri: float = 0.1
    alpha_rs: float = 0.1
    p_rd: float = 0.1
    n_aug: int = 9

    @classmethod
    def from_dict(cls, config: Mapping[str, Any] | "EDAOptions" | None) -> "EDAOptions":
        """Checked options from a plain dict (unknown names are errors), or the options as given."""
        return options_from_dict(cls, config, TEXT_OPTIONS, "{'alpha_sr': 0.1}")

    def check(self) -> "EDAOptions":
        """Validate every option; return them as floats and an int.

        Raises:
            ConfigError: naming the option and its valid range.
        """
        values: dict[str, Any] = {name: check_probability(f"augment.{name}", getattr(self, name))
                                  for name in ("alpha_sr", "alpha_ri", "alpha_rs", "p_rd")}
        values["n_aug"] = check_count("augment.n_aug", self.n_aug, 0)
        return dataclasses.replace(self, **values)

    @property
    def uses_synonyms(self) -> bool:
        """True when a thesaurus is needed (synonym replacement or insertion is on)."""
        return self.n_aug > 0 and (self.alpha_sr > 0 or self.alpha_ri > 0)


TEXT_OPTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(EDAOptions))
