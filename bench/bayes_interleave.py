"""A screened lever, not in knobs: random configurations interleaved with Bayes's suggestions (SMAC's interleaving).

Why: SMAC (Hutter et al. 2011) proposes every other configuration at random, and later versions with a small
probability, so that a model that is confidently wrong somewhere is still corrected by fresh evidence; on rough
objectives (a fixed-seed forest's jagged loss, where the lowest loss seen rewards drawing many configurations) a
random draw is one more lottery ticket too. knobs never measured it (docs/benchmarks.md lists ~45 levers). Here every
``every``-th suggestion after Bayes's Sobol design is a random configuration (knobs.search.Random on its own seed);
Bayes fits on all results, the random ones included. Run:
    PYTHONPATH=src:bench nice -n 5 .venv/bin/python bench/search.py --set dev --families sklearn --seeds 10 \\
        --budgets 20 40 80 --optimizers inter5=bayes_interleave:every5 --timing-reps 0 --jobs 2
"""
from __future__ import annotations

from typing import Any, Sequence

from knobs.search import Bayes, Random


class Interleaved:
    """Bayes, with trial numbers ``k * every - 1`` (k >= 1) past its design drawn at random instead."""

    def __init__(self, every: int, seed: int | None = None) -> None:
        self.every = every
        self.bayes = Bayes(seed=seed)
        self.random = Random(seed=None if seed is None else seed + 10_000)

    def is_random_turn(self, space, n_trials: int) -> bool:
        """True for a trial the random sampler proposes: past the design, every ``every``-th."""
        return n_trials >= self.bayes._n_initial(len(space)) and n_trials % self.every == self.every - 1

    def suggest(self, space, trials: Sequence, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
        sampler = self.random if self.is_random_turn(space, len(trials)) else self.bayes
        return sampler.suggest(space, trials, n, **kw)


def every5(seed=None) -> Interleaved:
    """One suggestion in five past the design at random."""
    return Interleaved(5, seed)


def every10(seed=None) -> Interleaved:
    """One suggestion in ten past the design at random."""
    return Interleaved(10, seed)
