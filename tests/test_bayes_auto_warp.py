"""``Bayes(warp="auto")``: the power warp or plain standardization, whichever GP predicts the raw losses
better left-one-out (issue 17, item 3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sampler_contract import mixed_space, quadratic_space, run_loop  # noqa: E402

from knobs.search._bayes import Bayes, _Coding  # noqa: E402
from knobs.search._gp import transforms  # noqa: E402
from knobs.search._history import WARM_START  # noqa: E402
from knobs.space import Float, Space  # noqa: E402
from knobs.trial import FrozenTrial, TrialState  # noqa: E402

PLANE = Space({"a": Float(0.0, 1.0), "b": Float(0.0, 1.0)})


def _chosen(points, losses, seed: int) -> str:
    model = Bayes(seed=0, warp="auto")._fit_either_warp(points, losses, _Coding(PLANE),
                                                         np.random.default_rng(seed))
    return "standardize" if np.allclose(model.y, transforms.standardize(losses)) else "power"


@pytest.mark.parametrize("seed", range(4))
def test_a_skewed_but_linear_response_keeps_its_scale(seed):
    """Losses linear in the inputs, skewed only because the points crowd at one end: the power warp would
    bend the line, and the standardized GP predicts it better."""
    rng = np.random.default_rng(seed)
    X = rng.random((25, 2)) ** np.array([4.0, 1.0])
    losses = X[:, 0] + 0.3 * X[:, 1] + 0.001 * rng.normal(size=25)
    assert transforms.power_warp_lambda(losses)[1] < 0.5  # the power warp would change them
    assert _chosen(X, losses, seed) == "standardize"


@pytest.mark.parametrize("seed", range(4))
def test_an_exponential_response_and_diverged_runs_take_the_power_warp(seed):
    rng = np.random.default_rng(seed)
    X = rng.random((25, 2))
    exponential = np.exp(8.0 * X[:, 0]) + 0.001 * rng.normal(size=25)
    diverged = np.where(X[:, 0] > 0.8, 50.0, (X[:, 0] - 0.3) ** 2 + X[:, 1])
    assert _chosen(X, exponential, seed) == "power"
    assert _chosen(X, diverged, seed) == "power"


def test_losses_the_power_warp_leaves_alone_fit_one_gp():
    rng = np.random.default_rng(0)
    X = rng.random((20, 2))
    losses = -np.exp(-4.0 * X[:, 0])  # skewed towards the good side: lambda capped at 1
    assert transforms.power_warp_lambda(losses)[1] == 1.0
    sampler = Bayes(seed=0, warp="auto")
    sampler._fit_either_warp(X, losses, _Coding(PLANE), rng)
    assert sampler._raw is not None and sampler._raw_standardize is None


@pytest.mark.parametrize("space", [quadratic_space(), mixed_space()], ids=["quadratic", "mixed"])
def test_auto_warp_searches_plain_and_conditional_spaces(space):
    trials = run_loop(Bayes(warp="auto", seed=0), space, steps=20)
    assert len({json.dumps(t.config, sort_keys=True) for t in trials}) == 20
    if space is quadratic_space():
        assert min(t.value for t in trials) < 0.02


def test_each_warp_keeps_its_own_fit_across_suggestions_and_state():
    space = quadratic_space()
    trials = run_loop(Bayes(seed=1), space, steps=14, objective=lambda c: np.exp(5 * c["x"]) + c["y"] ** 2)
    sampler = Bayes(warp="auto", seed=2)
    first = sampler.suggest(space, trials)
    assert sampler._raw is not None and sampler._raw_standardize is not None
    assert not np.allclose(sampler._raw, sampler._raw_standardize)
    state = json.loads(json.dumps(sampler.state_dict()))
    copy = Bayes(warp="auto")
    copy.load_state_dict(state)
    np.testing.assert_array_equal(copy._raw_standardize, sampler._raw_standardize)
    assert copy.suggest(space, trials, 2) == sampler.suggest(space, trials, 2)
    assert Bayes(warp="auto", seed=2).suggest(space, trials) == first
    del state["raw_standardize"]  # a state saved before warp="auto" existed
    older = Bayes(warp="auto")
    older.load_state_dict(state)
    assert older._raw_standardize is None


@pytest.mark.parametrize("own_trials", [3, 22])
def test_a_warm_started_auto_run_keeps_the_power_warp(own_trials):
    """Its sources' vetting and matching were measured on the power warp: the same suggestions as
    ``warp="power"``, before vetting (3 own results) and after (22)."""
    space = quadratic_space()
    objective = lambda c: np.exp(5 * c["x"]) + c["y"] ** 2  # noqa: E731 - skewed: lambda < 1
    source = [FrozenTrial(-1 - t.number, t.config, t.state, t.value, attrs={WARM_START: "earlier"})
              for t in run_loop(Bayes(seed=5), space, steps=20, objective=objective)]
    own = run_loop(Bayes(seed=6), space, steps=own_trials, objective=objective)
    auto = Bayes(warp="auto", seed=0)
    assert auto.suggest(space, source + own, 2) == Bayes(seed=0).suggest(space, source + own, 2)
    assert auto._raw_standardize is None


def test_a_run_config_asks_for_it_through_sampler_options():
    from knobs.errors import ConfigError
    from knobs.pipeline.stages._components import make_sampler

    sampler = make_sampler("bayes", {"warp": "auto"}, seed=3)
    assert isinstance(sampler, Bayes) and sampler.warp == "auto" and sampler.seed == 3
    with pytest.raises(ConfigError, match="auto"):  # a misspelt warp names the choices, "auto" among them
        make_sampler("bayes", {"warp": "autos"}, seed=3).suggest(quadratic_space(), [])
