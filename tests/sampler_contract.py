"""The sampler contract as a reusable suite: every knobs sampler must pass these checks.

Each check takes ``make_sampler(seed) -> Sampler`` (a factory, so a check can build two equal
samplers) and raises AssertionError on a violation. Use it from any test module:

    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from sampler_contract import CONTRACT_CHECKS

    @pytest.mark.parametrize("check", CONTRACT_CHECKS, ids=lambda c: c.__name__)
    def test_contract(check):
        check(lambda seed: MySampler(seed=seed))

or ``check_sampler_contract(make_sampler, skip=("check_maximize_mirrors_minimize",))`` to run
them all in one test. The histories stay small (<= 30 trials) so a GP sampler runs them fast.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Sequence

import numpy as np
import pytest

from knobs.errors import KnobsError
from knobs.search import Sampler
from knobs.space import Choice, Float, Int, Space
from knobs.trial import FrozenTrial, TrialState

__all__ = [
    "CONTRACT_CHECKS", "check_sampler_contract", "contract_spaces", "make_history",
    "mixed_space", "small_discrete_space", "quadratic_space", "quadratic",
    "run_loop", "config_keys",
]

MakeSampler = Callable[[Any], Sampler]


# -- spaces and histories ------------------------------------------------------------------

def mixed_space() -> Space:
    """Every kind: log float, log int, stepped int/float, a choice and two-level conditions."""
    return Space({
        "optimizer": Choice(["sgd", "adam"]),
        "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"}),
        "nesterov": Choice([False, True], when={"optimizer": "sgd"}),
        "dampening": Float(0.0, 0.5, when={"nesterov": False}),
        "lr": Float(1e-4, 1e-1, log=True),
        "width": Int(8, 512, log=True),
        "layers": Int(1, 4),
        "dropout": Float(0.0, 0.5, step=0.1),
    })


def small_discrete_space() -> Space:
    """12 points: a sampler must notice when a point is taken."""
    return Space({"kind": Choice(["a", "b", "c"]), "n": Int(0, 3)})


def quadratic_space() -> Space:
    return Space({"x": Float(-1.0, 1.0), "y": Float(-1.0, 1.0)})


def contract_spaces() -> dict[str, Space]:
    return {"mixed": mixed_space(), "discrete": small_discrete_space(),
            "quadratic": quadratic_space()}


def quadratic(config: dict) -> float:
    """A smooth objective defined on every contract space (minimum 0 at x = y = 0.3)."""
    total = 0.0
    for name, value in config.items():
        if isinstance(value, str):
            total += 0.05 * (ord(value[0]) % 3)
        elif isinstance(value, bool):
            total += 0.1 * value
        elif name == "lr":  # log axis: best at 10 ** -2.5
            total += (math.log10(value) + 2.5) ** 2
        else:
            total += (float(value) - 0.3) ** 2
    return total


def make_history(space: Space, n: int, seed: int = 0,
                 states: Sequence[TrialState] = (TrialState.COMPLETE,),
                 value: Callable[[dict], float] = quadratic) -> list[FrozenTrial]:
    """``n`` trials at random configs; trial ``i`` gets ``states[i % len(states)]``.

    Complete trials carry ``value(config)``, failed ones None, pruned ones a finite last value.
    """
    configs = space.sample(np.random.default_rng(seed), n)
    out = []
    for i, config in enumerate(configs):
        state = TrialState(states[i % len(states)])
        v = value(config) if state in (TrialState.COMPLETE, TrialState.PRUNED) else None
        out.append(FrozenTrial(number=i, config=config, state=state, value=v))
    return out


def config_keys(configs: Sequence[dict]) -> list[str]:
    return [json.dumps(c, sort_keys=True) for c in configs]


def run_loop(sampler: Sampler, space: Space, steps: int, n: int = 1,
             objective: Callable[[dict], float] = quadratic,
             direction: str = "minimize") -> list[FrozenTrial]:
    """Ask ``n`` configs ``steps`` times, completing each with ``objective``; the history."""
    trials: list[FrozenTrial] = []
    for _ in range(steps):
        for config in sampler.suggest(space, trials, n, direction=direction):
            trials.append(FrozenTrial(len(trials), config, TrialState.COMPLETE, objective(config)))
    return trials


def _assert_valid(space: Space, configs: Sequence[dict]) -> None:
    for config in configs:
        space.validate(config)


# -- the checks ----------------------------------------------------------------------------

def check_zero_history(make_sampler: MakeSampler) -> None:
    """With no trials at all, a sampler returns n valid configs (n = 0 gives [])."""
    for name, space in contract_spaces().items():
        for n in (1, 3):
            configs = make_sampler(0).suggest(space, [], n)
            assert len(configs) == n, (name, n, configs)
            _assert_valid(space, configs)
        assert make_sampler(0).suggest(space, [], 0) == []


def check_valid_configs(make_sampler: MakeSampler) -> None:
    """Suggestions validate against the space, with a history of mixed states."""
    states = (TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED,
              TrialState.FAILED)
    for name, space in contract_spaces().items():
        history = make_history(space, 10, seed=1, states=states)
        configs = make_sampler(0).suggest(space, history, 2)
        assert len(configs) == 2, (name, configs)
        _assert_valid(space, configs)


def check_respects_conditions(make_sampler: MakeSampler) -> None:
    """Conditional parameters appear exactly when their parents allow them."""
    space = mixed_space()
    trials = run_loop(make_sampler(0), space, steps=20)
    for t in trials:
        space.validate(t.config)
        assert ("momentum" in t.config) == (t.config["optimizer"] == "sgd"), t.config
        assert ("nesterov" in t.config) == (t.config["optimizer"] == "sgd"), t.config
        assert ("dampening" in t.config) == (t.config.get("nesterov") is False), t.config


def check_batch_is_distinct(make_sampler: MakeSampler) -> None:
    """n > 1 gives n distinct configs when the space has room, with and without history."""
    for name, space in contract_spaces().items():
        for history in ([], make_history(space, 6, seed=2)):
            configs = make_sampler(0).suggest(space, history, 5)
            assert len(configs) == 5, (name, configs)
            assert len(set(config_keys(configs))) == 5, (name, configs)


def check_running_not_repeated(make_sampler: MakeSampler) -> None:
    """A batch never repeats a point that a running trial holds."""
    space = small_discrete_space()
    running = [{"kind": k, "n": n} for k in "ab" for n in (0, 1, 2)]
    history = [FrozenTrial(i, c, TrialState.RUNNING) for i, c in enumerate(running)]
    history.append(FrozenTrial(len(history), {"kind": "c", "n": 3}, TrialState.COMPLETE, 1.0))
    configs = make_sampler(0).suggest(space, history, 4)
    assert len(configs) == 4, configs
    keys = config_keys(configs)
    assert len(set(keys)) == 4, configs
    assert not set(keys) & set(config_keys(running)), configs


def check_reproducible(make_sampler: MakeSampler) -> None:
    """Same seed and same history give the same suggestions, call after call."""
    for name, space in contract_spaces().items():
        a, b = make_sampler(123), make_sampler(123)
        history = make_history(space, 4, seed=3)
        for step in range(3):
            ca = a.suggest(space, history, 2)
            cb = b.suggest(space, history, 2)
            assert ca == cb, (name, step, ca, cb)
            history = history + [FrozenTrial(len(history), c, TrialState.COMPLETE, quadratic(c))
                                 for c in ca]


def check_state_round_trip(make_sampler: MakeSampler) -> None:
    """state_dict is JSON-able, and a sampler loading it continues exactly where it stopped."""
    for name, space in contract_spaces().items():
        a = make_sampler(7)
        history = run_loop(a, space, steps=3, n=2)
        state = json.loads(json.dumps(a.state_dict()))
        b = make_sampler(None)
        b.load_state_dict(state)
        for _ in range(2):
            ca, cb = a.suggest(space, history, 2), b.suggest(space, history, 2)
            assert ca == cb, (name, ca, cb)
            history = history + [FrozenTrial(len(history), c, TrialState.COMPLETE, quadratic(c))
                                 for c in ca]


def check_ignores_failed_trials(make_sampler: MakeSampler) -> None:
    """Values of failed and pruned trials, and non-finite values, never act as results.

    Two histories differ only in those values; equal samplers must suggest equally.
    """
    space = quadratic_space()
    base = make_history(space, 12, seed=4)

    def variant(junk: float) -> list[FrozenTrial]:
        out = []
        for t in base:
            if t.number % 4 == 1:
                t = FrozenTrial(t.number, t.config, TrialState.FAILED, None if junk == 0 else junk)
            elif t.number % 4 == 2:
                t = FrozenTrial(t.number, t.config, TrialState.COMPLETE,
                                float("nan") if junk == 0 else float("-inf"))
            elif t.number % 4 == 3:
                t = FrozenTrial(t.number, t.config, TrialState.PRUNED, 5.0 if junk == 0 else junk)
            out.append(t)
        return out

    a = make_sampler(5).suggest(space, variant(0), 3)
    b = make_sampler(5).suggest(space, variant(-1e9), 3)
    assert a == b, (a, b)
    _assert_valid(space, a)


def check_maximize_mirrors_minimize(make_sampler: MakeSampler) -> None:
    """direction='maximize' with values v suggests what 'minimize' does with values -v."""
    space = quadratic_space()
    history = make_history(space, 15, seed=6)
    negated = [FrozenTrial(t.number, t.config, t.state, -t.value) for t in history]
    up = make_sampler(9).suggest(space, negated, 3, direction="maximize")
    down = make_sampler(9).suggest(space, history, 3, direction="minimize")
    assert up == down, (up, down)
    _assert_valid(space, up)


def check_bad_requests(make_sampler: MakeSampler) -> None:
    """Wrong arguments are one clear KnobsError, not a crash deep inside."""
    space = quadratic_space()
    for kwargs in ({"n": -1}, {"n": 1.5}, {"direction": "up"}):
        args = {"n": 1, "direction": "minimize", **kwargs}
        with pytest.raises(KnobsError):
            make_sampler(0).suggest(space, [], args["n"], direction=args["direction"])
    with pytest.raises(KnobsError, match="space"):
        make_sampler(0).suggest({"x": (0, 1)}, [], 1)
    with pytest.raises(KnobsError, match="FrozenTrial"):
        make_sampler(0).suggest(space, [{"x": 0.1, "y": 0.2}], 1)
    with pytest.raises(KnobsError):
        make_sampler(0).load_state_dict("not a dict")


CONTRACT_CHECKS = (
    check_zero_history, check_valid_configs, check_respects_conditions, check_batch_is_distinct,
    check_running_not_repeated, check_reproducible, check_state_round_trip,
    check_ignores_failed_trials, check_maximize_mirrors_minimize, check_bad_requests,
)


def check_sampler_contract(make_sampler: MakeSampler, skip: Sequence[str] = ()) -> None:
    """Run every contract check except those named in ``skip``."""
    unknown = set(skip) - {c.__name__ for c in CONTRACT_CHECKS}
    assert not unknown, f"unknown contract checks in skip: {sorted(unknown)}"
    for check in CONTRACT_CHECKS:
        if check.__name__ not in skip:
            check(make_sampler)
