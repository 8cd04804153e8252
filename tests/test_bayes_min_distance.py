"""Bayes's minimum distance from the model's points (``Bayes._min_distance``, off by default).

The lever skips acquisition candidates closer than a threshold, in fitted lengthscales, to any point the
GP holds (evaluated, running, just picked), so EI cannot spend trials on near-copies of its incumbent
inside a jagged objective's jitter (docs/benchmarks.md, "A minimum distance from evaluated points").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from knobs.search._bayes import Bayes
from knobs.search._gp import kernel
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

# A jagged integer axis like mlp_digits' batch size (16-256, log): a smooth bowl in (lr, batch) plus a
# ripple that flips between integer neighbours, and a categorical axis the distance counts as a mismatch.
SPACE = Space({"lr": Float(1e-3, 1.0, log=True), "batch": Int(16, 256, log=True),
               "act": Choice(["relu", "tanh"])})
THRESHOLD = 0.3


def smooth(c: dict) -> float:
    return ((math.log10(c["lr"]) + 1.7) ** 2 + (math.log2(c["batch"]) - 6.5) ** 2 / 4
            + (0.1 if c["act"] == "relu" else 0.0))


def jagged(c: dict) -> float:
    return smooth(c) + 0.05 * (c["batch"] % 3)


class Spy(Bayes):
    """Bayes that records, for every pick, the smallest scaled distance to the model's points."""

    def __init__(self, min_distance: float, noise: bool = False, **kw) -> None:
        super().__init__(**kw)
        self._min_distance, self._min_distance_noise = min_distance, noise
        self.gaps: list[float] = []
        self.thresholds: list[float] = []

    def _pick(self, model, coding, incumbents, best, space, taken, rng, xi):
        u = super()._pick(model, coding, incumbents, best, space, taken, rng, xi)
        r2 = kernel.scaled_sq_dists(u[None, :], model.X, model.is_cat, model.inv_ls2)
        self.gaps.append(float(np.sqrt(r2.min())))
        self.thresholds.append(self._min_distance_threshold(model))
        return u


def run(sampler: Bayes, trials: int = 24, batch: int = 1, objective=jagged) -> Bayes:
    """``trials`` suggestions; with ``batch`` > 1 the last of each batch stays RUNNING over the next ask."""
    done, running = [], None
    while len(done) < trials:
        configs = sampler.suggest(SPACE, done + ([running] if running else []), batch)
        if running:
            done.append(FrozenTrial(len(done), running.config, TrialState.COMPLETE, objective(running.config)))
            running = None
        for c in configs[:-1] if batch > 1 else configs:
            done.append(FrozenTrial(len(done), c, TrialState.COMPLETE, objective(c)))
        if batch > 1:
            running = FrozenTrial(len(done), configs[-1], TrialState.RUNNING, None)
    return sampler


@pytest.mark.parametrize("batch", [1, 3])
def test_no_suggestion_lies_within_the_threshold_of_a_point_the_model_holds(batch):
    spy = run(Spy(THRESHOLD, seed=0), batch=batch)
    assert len(spy.gaps) >= 10
    assert min(spy.gaps) >= THRESHOLD


def test_without_the_lever_the_same_run_proposes_near_copies():
    """The check above is not vacuous: the default Bayes does spend trials inside the threshold here."""
    spy = run(Spy(0.0, seed=0))
    assert min(spy.gaps) < THRESHOLD


def test_the_noise_scaled_threshold_vanishes_on_a_smooth_objective_and_holds_on_a_jagged_one():
    """sqrt(noise / signal) of the fit: ~0.002 late on the smooth bowl, ~0.09 with the ripple (seeds 0-2)."""
    jag, flat = (run(Spy(1.0, noise=True, seed=1), objective=f) for f in (jagged, smooth))
    assert all(0.0 <= t <= 1.0 for t in jag.thresholds + flat.thresholds)
    assert all(g >= t for g, t in zip(jag.gaps + flat.gaps, jag.thresholds + flat.thresholds))
    assert max(flat.thresholds[-4:]) < 0.01 < 0.05 < min(jag.thresholds[-4:])


def test_a_used_up_space_falls_back_to_close_candidates():
    """Four configs, each a mismatch or a level apart: once every spaced candidate is taken the lever
    picks the best close one (and repeats once the space is used up), as the default does."""
    space = Space({"k": Int(0, 1), "c": Choice(["a", "b"])})
    sampler, trials = Bayes(seed=0, n_initial=2), []
    sampler._min_distance = 50.0  # farther than any two points of the cube
    for i in range(6):
        c = sampler.suggest(space, trials)[0]
        trials.append(FrozenTrial(i, c, TrialState.COMPLETE, c["k"] + (c["c"] == "b") * 0.5))
    assert {(t.config["k"], t.config["c"]) for t in trials} == {(0, "a"), (0, "b"), (1, "a"), (1, "b")}


def test_off_by_default():
    assert Bayes._min_distance == 0.0 and Bayes._min_distance_noise is False
