"""PED-ANOVA importance: the parameter that decides the value comes first, the ones that do not
share the little left, on 10,000 trials too (its time there: bench/report_importance.py)."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import knobs.report._importance as importance_module
from knobs.report._importance import MIN_TRIALS, Axis, axes, importances

SPACE = {"params": {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "weight_decay": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
    "width": {"type": "int", "low": 16, "high": 1024, "log": True},
    "depth": {"type": "int", "low": 1, "high": 4},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
    "optimizer": {"type": "choice", "options": ["adam", "sgd", "adamw"]},
    "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": "sgd"}},
}}


def sample(n, seed=0):
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        c = {"lr": float(10 ** rng.uniform(-5, -1)), "weight_decay": float(10 ** rng.uniform(-6, -2)),
             "width": int(rng.integers(16, 1025)), "depth": int(rng.integers(1, 5)), "dropout": float(rng.uniform(0, 0.5)),
             "optimizer": str(rng.choice(["adam", "sgd", "adamw"]))}
        if c["optimizer"] == "sgd":
            c["momentum"] = float(rng.uniform(0.5, 0.99))
        configs.append(c)
    return configs, rng


def test_the_parameter_that_matters_comes_first_and_the_others_share_little():
    configs, rng = sample(400)
    values = [(math.log10(c["lr"]) + 3) ** 2 + rng.normal(0, 0.1) for c in configs]  # a valley at lr = 1e-3
    imp = importances(configs, values, SPACE, "minimize")
    assert list(imp)[0] == "lr" and imp["lr"] > 0.8
    assert all(v < 0.06 for k, v in imp.items() if k != "lr")
    assert sum(imp.values()) == pytest.approx(1.0)


def test_a_choice_and_the_direction():
    configs, rng = sample(400, seed=1)
    values = [float(c["optimizer"] == "sgd") + rng.normal(0, 0.05) for c in configs]  # maximize: sgd is best
    assert list(importances(configs, values, SPACE, "maximize"))[0] == "optimizer"
    assert list(importances(configs, values, SPACE, "minimize"))[0] == "optimizer"  # adam/adamw best: still it


def test_an_integer_and_a_conditional_parameter():
    configs, rng = sample(600, seed=2)
    values = [abs(c["depth"] - 3) + rng.normal(0, 0.05) for c in configs]
    assert list(importances(configs, values, SPACE, "minimize"))[0] == "depth"
    values = [(-c["momentum"] if "momentum" in c else 0.0) + rng.normal(0, 0.02) for c in configs]
    imp = importances(configs, values, SPACE, "minimize")
    assert set(list(imp)[:2]) == {"momentum", "optimizer"}  # only sgd trials reach the top


def test_too_few_trials_or_no_finite_values_say_nothing():
    configs, _ = sample(MIN_TRIALS - 1)
    assert importances(configs, [1.0] * len(configs), SPACE, "minimize") == {}
    configs, _ = sample(30)
    assert importances(configs, [math.nan] * 30, SPACE, "minimize") == {}


def test_ten_thousand_trials_still_put_the_parameter_that_matters_first():
    # NOTE: how long it takes is bench/report_importance.py's (about 20 ms at 10,000 trials), not a timed assertion here
    configs, rng = sample(10_000, seed=3)
    values = [(math.log10(c["lr"]) + 3) ** 2 + rng.normal(0, 0.1) for c in configs]
    imp = importances(configs, values, SPACE, "minimize")
    assert list(imp)[0] == "lr" and imp["lr"] > 0.5


def test_axes_place_values_in_log_space_and_choices_by_position():
    lr, width, optimizer = (next(a for a in axes(SPACE) if a.name == n) for n in ("lr", "width", "optimizer"))
    assert lr.position(1e-3) == pytest.approx(0.5) and lr.position(1e-1) == pytest.approx(1.0)
    assert lr.position(1.0) > 1 and math.isnan(lr.position(None))
    assert width.position(128) == pytest.approx(0.5)
    assert [optimizer.position(o) for o in ("adam", "sgd", "adamw")] == [0.0, 0.5, 1.0]
    assert math.isnan(optimizer.position("rmsprop"))
    assert Axis("depth", "int", 1, 4).discrete and not width.discrete
    assert doctest.testmod(importance_module).failed == 0
