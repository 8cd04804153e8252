"""Flat regions (``knobs.search._flat``, ``Bayes._flat_pairs`` / ``_flat_resolution``): near configs that
gave the same loss to the last bit mark where another trial would most likely train the same model."""

import math

import numpy as np

from knobs.search import Bayes
from knobs.search._flat import MAX_GAP, flat_boxes, inside, near_copy, resolution
from knobs.space import Float, Int, Space
from knobs.trial import FrozenTrial, TrialState


def test_a_near_pair_with_equal_losses_makes_a_box_twice_its_width():
    X = np.array([[0.30, 0.5], [0.32, 0.5]])
    lo, hi = flat_boxes(X, np.array([1.0, 1.0]))
    np.testing.assert_allclose(lo, [[0.28, 0.5]])
    np.testing.assert_allclose(hi, [[0.34, 0.5]])
    assert inside(np.array([[0.335, 0.5], [0.345, 0.5], [0.31, 0.5001]]), (lo, hi)).tolist() == [True, False, False]


def test_far_pairs_pairs_on_many_axes_unequal_losses_and_nan_make_no_box():
    X = np.array([[0.1, 0.1, 0.1], [0.1 + 2 * MAX_GAP, 0.1, 0.1],  # far apart on one axis
                  [0.5, 0.5, 0.5], [0.51, 0.51, 0.51],              # three axes differ
                  [0.8, 0.8, 0.8], [0.81, 0.8, 0.8],                # near, but losses differ
                  [0.2, 0.9, 0.9], [0.21, 0.9, 0.9]])               # near, NaN losses
    y = np.array([1.0, 1.0, 2.0, 2.0, 3.0, 3.5, math.nan, math.nan])
    lo, hi = flat_boxes(X, y)
    assert lo.shape == (0, 3) and not inside(X, (lo, hi)).any()


def test_resolution_is_learned_on_continuous_axes_only():
    X = np.array([[0.40, 0.5], [0.41, 0.5], [0.7, 0.2], [0.7, 0.25]])
    y = np.array([1.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(resolution(X, y, np.array([True, False])), [0.01, 0.0])
    np.testing.assert_allclose(resolution(X, y, np.array([True, True])), [0.01, 0.05])


def test_a_near_copy_differs_from_an_evaluated_point_on_one_axis_by_at_most_the_step():
    X = np.array([[0.4, 0.5]])
    step = np.array([0.01, 0.0])
    U = np.array([[0.405, 0.5], [0.42, 0.5], [0.405, 0.6], [0.4, 0.5001]])
    assert near_copy(U, X, step).tolist() == [True, False, False, False]
    assert not near_copy(U, X, np.zeros(2)).any()


def _quantized(config):
    """Like a tree ensemble: the float is used in steps of 1/16, the int only up to 4."""
    return abs(math.floor(config["f"] * 16) / 16 - 0.55) + 0.1 * abs(min(config["k"], 4) - 3)


def _run(flat: bool, n: int = 30, seed: int = 0):
    space = Space({"f": Float(0.0, 1.0), "k": Int(1, 8)})
    sampler = Bayes(seed=seed)
    sampler._flat_pairs = sampler._flat_resolution = flat
    trials, values = [], []
    for i in range(n):
        config = sampler.suggest(space, trials)[0]
        value = _quantized(config)
        trials.append(FrozenTrial(i, config, TrialState.COMPLETE, value, {}))
        values.append(value)
    return values


def test_bayes_repeats_a_quantized_objective_less_often_with_flat_regions_on():
    repeats = {}
    for flat in (False, True):
        values = [_run(flat, seed=s) for s in range(3)]
        repeats[flat] = sum(sum(v in vs[:i] for i, v in enumerate(vs)) for vs in values)
    assert repeats[True] < repeats[False]


def test_off_by_default_and_warm_start_trials_mark_no_flat_region():
    assert Bayes._flat_pairs is False and Bayes._flat_resolution is False
    space = Space({"f": Float(0.0, 1.0), "k": Int(1, 8)})
    sources = [FrozenTrial(i, {"f": 0.5 + 0.001 * i, "k": 3}, TrialState.COMPLETE, 1.0, {},
                           attrs={"warm_start": "runs/a"}) for i in range(6)]
    sampler = Bayes(seed=0)
    sampler._flat_pairs = True
    sampler.suggest(space, sources)
    assert sampler._flat is None
