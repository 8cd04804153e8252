"""Warm starts with agreement per axis (issue 17, item 6): ``Bayes._two_task_per_axis`` corrects the
sources by a GP on the run's residuals (``_two_task.source_bias``) before the two-task GP."""

from __future__ import annotations

import numpy as np

from knobs.search._bayes import Bayes
from knobs.search._gp.gp import Prior
from knobs.search._history import WARM_START
from knobs.search._two_task import source_bias
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

# lr and weight decay: a narrow valley both studies share; depth: the source wants 1, the run 3.
NET = Space({"lr": Float(0.0, 1.0), "wd": Float(0.0, 1.0), "depth": Int(1, 3)})
MIXED = Space({"x": Float(0.0, 10.0), "n": Int(1, 8), "act": Choice(["relu", "tanh", "gelu"]),
               "slope": Float(0.01, 0.3, log=True, when={"act": "relu"})})


def valley(c):
    return 1.0 - np.exp(-((c["lr"] - 0.7) ** 2 + (c["wd"] - 0.3) ** 2) / (2 * 0.12 ** 2))


def run_loss(c):
    return valley(c) + 0.15 * (3 - c["depth"])


def source_loss(c):
    return valley(c) + 0.15 * (c["depth"] - 1)


class SingleCorrelation(Bayes):
    _two_task = True
    _vet_sources = False  # the model of the source alone
    _two_task_per_axis = False


class PerAxis(SingleCorrelation):
    _two_task_per_axis = True


def trials_to_optimum(sampler_cls, seed, budget=20, tol=0.05, n_source=30):
    """Sequential trials of this run, fed the source's, until one is within ``tol`` of the optimum."""
    fed = [FrozenTrial(-1 - i, c, TrialState.COMPLETE, source_loss(c), attrs={WARM_START: "earlier#search"})
           for i, c in enumerate(NET.sample(100 + seed, n_source))]
    sampler, own = sampler_cls(seed=seed, n_candidates=256, n_local=3), []
    for k in range(budget):
        [c] = sampler.suggest(NET, fed + own)
        own.append(FrozenTrial(k, c, TrialState.COMPLETE, run_loss(c)))
        if run_loss(c) <= tol:
            return k + 1
    return budget + 1


def test_a_source_wrong_on_one_axis_is_followed_on_the_others_sooner():
    """The single task correlation either trusts the source's depth or cuts off its lr and weight
    decay too; corrected per axis, the run finds its optimum in fewer trials on most draws."""
    per_axis = [trials_to_optimum(PerAxis, seed) for seed in range(4)]
    single = [trials_to_optimum(SingleCorrelation, seed) for seed in range(4)]
    assert sum(a < b for a, b in zip(per_axis, single)) >= 3, (per_axis, single)


def test_the_bias_follows_the_axis_the_studies_disagree_on():
    """Residuals that depend on depth alone: the correction moves the sources' points by depth,
    not by lr."""
    rng = np.random.default_rng(0)
    U_run, U_source = rng.random((8, 3)), rng.random((40, 3))
    bias = source_bias(U_run, 2.0 * U_run[:, 2] - 1.0, U_source, np.zeros(3, bool), Prior())
    assert np.corrcoef(bias, U_source[:, 2])[0, 1] > 0.9
    assert abs(np.corrcoef(bias, U_source[:, 0])[0, 1]) < 0.3


def test_cold_and_first_suggestions_are_unchanged_by_the_option():
    cold = [FrozenTrial(i, c, TrialState.COMPLETE, float(c["x"] + c["n"])) for i, c in enumerate(MIXED.sample(1, 12))]
    assert PerAxis(seed=0).suggest(MIXED, cold, n=2) == SingleCorrelation(seed=0).suggest(MIXED, cold, n=2)
    fed = [FrozenTrial(-1 - i, c, TrialState.COMPLETE, source_loss(c), attrs={WARM_START: "earlier#search"})
           for i, c in enumerate(NET.sample(3, 20))]
    own = [FrozenTrial(i, c, TrialState.COMPLETE, run_loss(c)) for i, c in enumerate(NET.sample(4, 2))]
    assert PerAxis(seed=0).suggest(NET, fed + own) == SingleCorrelation(seed=0).suggest(NET, fed + own)
