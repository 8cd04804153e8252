"""knobs.space: validation, sampling distributions, unit-cube encoding, grids, conditions, JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

import knobs.space._grid as grid_module
from knobs.errors import ConfigError, KnobsError, SpaceError
from knobs.space import Choice, Float, Int, Param, Space


def optimizer_space() -> Space:
    return Space({"optimizer": Choice(["sgd", "adam"]),
                  "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"}),
                  "lr": Float(1e-4, 1e-1, log=True)})


def mixed_space() -> Space:
    """Every parameter kind, a log int, a stepped float and a two-level condition."""
    return Space({
        "optimizer": Choice(["sgd", "adam", "rmsprop"]),
        "momentum": Float(0.5, 0.99, when={"optimizer": "sgd"}),
        "nesterov": Choice([False, True], when={"optimizer": ["sgd"]}),
        "dampening": Float(0.0, 0.5, when={"nesterov": False}),
        "beta2": Float(0.9, 0.9999, when={"optimizer": ["adam", "rmsprop"]}),
        "lr": Float(1e-5, 1.0, log=True),
        "width": Int(8, 1024, log=True),
        "layers": Int(1, 6),
        "batch": Int(16, 256, step=16),
        "dropout": Float(0.0, 0.5, step=0.1),
        "act": Choice(["relu", "tanh", None, 3, 2.5]),
    })


def assert_configs_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], float):
            assert math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-12), (k, a[k], b[k])
        else:
            assert a[k] == b[k] and type(a[k]) is type(b[k]), (k, a[k], b[k])


# -- parameter validation ------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: Float(1.0, 1.0), "low .* must be < high"),
    (lambda: Float(2.0, 1.0), "low .* must be < high"),
    (lambda: Float(0.0, 1.0, log=True), "log=True needs low > 0"),
    (lambda: Float(-1.0, 1.0, log=True), "log=True needs low > 0"),
    (lambda: Float(float("nan"), 1.0), "low must be finite"),
    (lambda: Float(0.0, float("inf")), "high must be finite"),
    (lambda: Float(-1e308, 1e308), "overflows"),
    (lambda: Float("0", 1.0), "low must be a number"),
    (lambda: Float(True, 2.0), "low must be a number"),
    (lambda: Float(0.0, 1.0, step=0.0), "step must be > 0"),
    (lambda: Float(0.0, 1.0, step=-0.1), "step must be > 0"),
    (lambda: Float(0.0, 1.0, step=2.0), "wider than high - low"),
    (lambda: Float(1e-3, 1.0, log=True, step=0.1), "cannot be combined"),
    (lambda: Float(0.0, 1.0, log="yes"), "log must be True or False"),
    (lambda: Int(1.5, 3), "low must be an integer"),
    (lambda: Int(0, 3.0), "high must be an integer"),
    (lambda: Int(False, 3), "low must be an integer"),
    (lambda: Int(3, 3), "low .* must be < high"),
    (lambda: Int(5, 1), "low .* must be < high"),
    (lambda: Int(0, 10, step=0), "step must be >= 1"),
    (lambda: Int(0, 10, step=1.5), "step must be an integer"),
    (lambda: Int(0, 10, step=11), "wider than high - low"),
    (lambda: Int(0, 10, log=True), "log=True needs low >= 1"),
    (lambda: Int(1, 10, log=True, step=2), "log=True needs step=1"),
    (lambda: Choice([]), "at least one option"),
    (lambda: Choice("abc"), "options must be a list"),
    (lambda: Choice({"a", "b"}), "options must be a list"),
    (lambda: Choice(["a", "b", "a"]), "duplicate option 'a'"),
    (lambda: Choice([1, 1.0]), "duplicate option 1.0"),
    (lambda: Choice([[64, 64], [128]]), "JSON scalars"),
    (lambda: Choice([float("nan")]), "must be finite"),
    (lambda: Float(0, 1, when="sgd"), "when must be a dict"),
    (lambda: Float(0, 1, when={"optimizer": []}), "empty list"),
    (lambda: Float(0, 1, when={1: "sgd"}), "when keys must be parameter names"),
    (lambda: Float(0, 1, when={"optimizer": {"a": 1}}), "JSON scalars"),
])
def test_parameter_validation_errors(make, match):
    with pytest.raises(SpaceError, match=match):
        make()


def test_errors_are_knobs_and_value_errors():
    with pytest.raises(KnobsError):
        Float(1, 0)
    with pytest.raises(ValueError):
        Choice([])


def test_parameter_attributes():
    assert Float(0, 1).kind == "float"
    assert Int(0, 1).kind == "int"
    c = Choice(["a", np.str_("b"), np.int64(3), True, None])
    assert c.kind == "choice"
    assert c.options == ("a", "b", 3, True, None)
    assert all(type(o) in (str, int, bool, type(None)) for o in c.options)
    assert Float(0, 1, when={"opt": "sgd"}).when == {"opt": ("sgd",)}
    assert Float(0, 1, when={"opt": ["sgd", "adam"]}).when == {"opt": ("sgd", "adam")}
    assert Float(0, 1).when == {}
    assert Float(0, 1) == Float(0.0, 1.0)
    assert Float(0, 1) != Float(0, 2)
    assert Float(0, 1) != Int(0, 1)
    assert repr(Float(0.0, 1.0, step=0.5)) == "Float(low=0.0, high=1.0, step=0.5)"
    assert repr(Int(1, 8, log=True)) == "Int(low=1, high=8, log=True)"


def test_choice_true_and_one_are_distinct_options():
    c = Choice([1, True])
    assert c.to_unit(True) == 0.75 and c.to_unit(1) == 0.25
    assert c.to_unit(1.0) == 0.25  # the number 1, whatever its type


# -- Space construction --------------------------------------------------------------------

@pytest.mark.parametrize("params, match", [
    ({}, "empty"),
    ([("lr", Float(0, 1))], "expects a dict"),
    ({"lr": (0, 1)}, "must be a knobs.Float, Int or Choice"),
    ({"": Float(0, 1)}, "non-empty strings"),
    ({3: Float(0, 1)}, "non-empty strings"),
    ({"momentum": Float(0, 1, when={"optimzer": "sgd"})}, "unknown parameter 'optimzer'"),
    ({"opt": Choice(["sgd"]), "m": Float(0, 1, when={"opt": "sgdd"})}, "'sgdd' is not a value"),
    ({"n": Int(1, 3), "m": Float(0, 1, when={"n": 7})}, "7 is not a value"),
    ({"a": Choice([0, 1], when={"b": 1}), "b": Choice([0, 1], when={"a": 1})}, "cycle"),
    ({"a": Choice([0, 1], when={"a": 1})}, "cycle"),
    ({"x": Float(0, 1), "a": Choice([0, 1], when={"c": 0}), "b": Choice([0, 1], when={"a": 0}),
      "c": Choice([0, 1], when={"b": 0})}, "cycle"),
])
def test_space_validation_errors(params, match):
    with pytest.raises(SpaceError, match=match):
        Space(params)


def test_space_protocol():
    space = optimizer_space()
    assert space.names == ("optimizer", "momentum", "lr")
    assert len(space) == 3
    assert list(space) == ["optimizer", "momentum", "lr"]
    assert "lr" in space and "nope" not in space
    assert space["lr"] == Float(1e-4, 1e-1, log=True)
    with pytest.raises(SpaceError, match="unknown parameter 'nope'"):
        space["nope"]
    assert "Space({'optimizer': Choice" in repr(space)


def test_names_put_parents_first_and_keep_order_otherwise():
    space = Space({"damp": Float(0, 1, when={"nesterov": False}),
                   "lr": Float(1e-3, 1, log=True),
                   "nesterov": Choice([False, True], when={"opt": "sgd"}),
                   "opt": Choice(["sgd", "adam"]),
                   "wd": Float(0, 1)})
    assert space.names == ("lr", "opt", "nesterov", "damp", "wd")


# -- validate / is_active ------------------------------------------------------------------

@pytest.mark.parametrize("config, match", [
    ({"optimizer": "sgd", "momentum": 0.9, "lr": 0.01, "lrr": 1}, "unknown key 'lrr'"),
    ({"optimizer": "sgd", "lr": 0.01}, "missing the active key 'momentum'"),
    ({"optimizer": "adam"}, "missing the active key 'lr'"),
    ({"optimizer": "adam", "momentum": 0.9, "lr": 0.01}, "'momentum' is inactive"),
    ({"optimizer": "sgd", "momentum": 1.5, "lr": 0.01}, r"momentum=1.5 is out of range"),
    ({"optimizer": "sgd", "momentum": 0.9, "lr": 1.0}, r"lr=1.0 is out of range"),
    ({"optimizer": "sgd", "momentum": "0.9", "lr": 0.01}, "momentum must be a float, got str"),
    ({"optimizer": "sgd", "momentum": True, "lr": 0.01}, "momentum must be a float, got bool"),
    ({"optimizer": "nadam", "lr": 0.01}, "optimizer='nadam' is not one of the options"),
    (["optimizer"], "a config must be a dict"),
])
def test_validate_names_the_key(config, match):
    with pytest.raises(ConfigError, match=match):
        optimizer_space().validate(config)


@pytest.mark.parametrize("param, value, match", [
    (Int(0, 10), 2.0, "x must be an int, got float"),
    (Int(0, 10), True, "x must be an int, got bool"),
    (Int(0, 10), 11, r"x=11 is out of range \[0, 10\]"),
    (Int(0, 10, step=3), 4, "not on the grid 0 \\+ k \\* 3"),
    (Int(0, 10, step=3), 10, r"out of range \[0, 9\]"),
    (Float(0, 1, step=0.25), 0.3, "not on the grid"),
    (Float(0, 1, step=0.3), 1.0, "not on the grid"),
    (Choice(["a"]), "b", "not one of the options"),
])
def test_validate_values(param, value, match):
    with pytest.raises(ConfigError, match=match):
        Space({"x": param}).validate({"x": value})


def test_validate_accepts_valid_and_numpy_values():
    space = optimizer_space()
    space.validate({"optimizer": "sgd", "momentum": 0.9, "lr": 0.01})
    space.validate({"optimizer": "adam", "lr": np.float64(1e-4)})
    Space({"n": Int(0, 10, step=2), "x": Float(0, 1, step=0.1)}).validate(
        {"n": np.int64(4), "x": 0.1 * 3})  # 0.30000000000000004 is on the grid


def test_is_active_nested_conditions():
    space = mixed_space()
    assert space.is_active("momentum", {"optimizer": "sgd"})
    assert not space.is_active("momentum", {"optimizer": "adam"})
    assert not space.is_active("momentum", {})
    assert space.is_active("dampening", {"optimizer": "sgd", "nesterov": False})
    assert not space.is_active("dampening", {"optimizer": "sgd", "nesterov": True})
    # a parent present but itself inactive does not activate its children
    assert not space.is_active("dampening", {"optimizer": "adam", "nesterov": False})
    assert space.is_active("beta2", {"optimizer": "rmsprop"})
    with pytest.raises(SpaceError, match="unknown parameter 'foo'"):
        space.is_active("foo", {})


# -- sampling ------------------------------------------------------------------------------

def test_sample_is_valid_reproducible_and_respects_conditions():
    space = mixed_space()
    a = space.sample(np.random.default_rng(1), 400)
    b = space.sample(np.random.default_rng(1), 400)
    assert a == b
    for config in a:
        space.validate(config)
        assert ("momentum" in config) == (config["optimizer"] == "sgd")
        assert ("dampening" in config) == (config.get("nesterov") is False)
    assert {c["optimizer"] for c in a} == {"sgd", "adam", "rmsprop"}
    assert space.sample(np.random.default_rng(1), 0) == []
    assert space.sample(3, 2) == space.sample(np.random.default_rng(3), 2)


@pytest.mark.parametrize("n, rng, match", [
    (-1, 0, "n must be an integer >= 0"),
    (2.5, 0, "n must be an integer >= 0"),
    (1, "abc", "rng must be a numpy Generator"),
])
def test_sample_bad_arguments(n, rng, match):
    with pytest.raises(ConfigError, match=match):
        optimizer_space().sample(rng, n)


def draws(param: Param, n: int = 4000, seed: int = 0) -> np.ndarray:
    return np.array([c["x"] for c in Space({"x": param}).sample(np.random.default_rng(seed), n)])


def test_log_float_is_log_uniform():
    x = draws(Float(1e-4, 1e-1, log=True))
    assert abs(np.log10(np.median(x)) - (-2.5)) < 0.05  # median = geometric mean 10**-2.5
    decades = np.histogram(np.log10(x), bins=[-4, -3, -2, -1])[0] / len(x)
    np.testing.assert_allclose(decades, 1 / 3, atol=0.03)
    assert stats.kstest(np.log10(x), stats.uniform(-4, 3).cdf).pvalue > 1e-3


def test_linear_float_is_uniform():
    x = draws(Float(-2.0, 6.0))
    assert x.min() >= -2 and x.max() <= 6
    assert stats.kstest(x, stats.uniform(-2, 8).cdf).pvalue > 1e-3


def test_int_is_uniform_over_integers():
    x = draws(Int(-2, 4))
    values, counts = np.unique(x, return_counts=True)
    assert values.tolist() == list(range(-2, 5))
    assert stats.chisquare(counts).pvalue > 1e-3
    assert all(type(c["x"]) is int for c in Space({"x": Int(-2, 4)}).sample(0, 5))


def test_stepped_int_and_float_use_every_grid_value_equally():
    values, counts = np.unique(draws(Int(16, 100, step=16)), return_counts=True)
    assert values.tolist() == [16, 32, 48, 64, 80, 96]
    assert stats.chisquare(counts).pvalue > 1e-3
    values, counts = np.unique(draws(Float(0.0, 0.5, step=0.1)), return_counts=True)
    # clean decimals, not 0.30000000000000004
    assert values.tolist() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert stats.chisquare(counts).pvalue > 1e-3


def test_log_int_is_log_uniform_over_integers():
    x = draws(Int(1, 1000, log=True), n=8000)
    assert x.min() >= 1 and x.max() <= 1000
    # integer v owns [v - 0.5, v + 0.5] on a log axis over [0.5, 1000.5]
    expected_le_10 = math.log(10.5 / 0.5) / math.log(1000.5 / 0.5)
    assert abs(np.mean(x <= 10) - expected_le_10) < 0.02
    assert abs(np.median(x) - math.sqrt(0.5 * 1000.5)) < 3


def test_choice_is_uniform_over_options():
    x = [c["x"] for c in Space({"x": Choice(["a", "b", "c", "d"])}).sample(0, 4000)]
    counts = [x.count(o) for o in "abcd"]
    assert stats.chisquare(counts).pvalue > 1e-3


# -- unit cube -----------------------------------------------------------------------------

def test_roundtrip_config_unit_config():
    space = mixed_space()
    for config in space.sample(np.random.default_rng(7), 500):
        u = space.to_unit(config)
        assert u.shape == (len(space),) and np.all((u >= 0) & (u <= 1))
        assert_configs_equal(space.from_unit(u), config)


def test_roundtrip_at_the_bounds():
    space = mixed_space()
    for u in (np.zeros(len(space)), np.ones(len(space))):
        config = space.from_unit(u)
        space.validate(config)
        assert_configs_equal(space.from_unit(space.to_unit(config)), config)
    low = space.from_unit(np.zeros(len(space)))
    assert low["lr"] == 1e-5 and low["width"] == 8 and low["batch"] == 16 and low["dropout"] == 0
    high = space.from_unit(np.ones(len(space)))
    assert high["lr"] == 1.0 and high["width"] == 1024 and high["batch"] == 256


def test_unit_maps_of_each_kind():
    c = Choice(["a", "b", "c"])
    assert [c.to_unit(o) for o in "abc"] == [1 / 6, 0.5, 5 / 6]
    assert [c.from_unit(u) for u in (0.0, 0.33, 1 / 3, 0.99, 1.0, -3, 7)] == \
        ["a", "a", "b", "c", "c", "a", "c"]
    lr = Float(1e-4, 1e-1, log=True)
    assert math.isclose(lr.to_unit(1e-3), 1 / 3) and math.isclose(lr.to_unit(10**-2.5), 0.5)
    assert math.isclose(lr.from_unit(2 / 3), 1e-2)
    i = Int(0, 3)  # four integers, a quarter of the cube each
    assert [i.to_unit(v) for v in range(4)] == [0.125, 0.375, 0.625, 0.875]
    assert [i.from_unit(u) for u in (0.0, 0.24, 0.26, 0.74, 0.76, 1.0)] == [0, 0, 1, 2, 3, 3]
    assert Float(-1, 1).to_unit(0) == 0.5 and Float(-1, 1).from_unit(0.75) == 0.5
    assert Float(0, 1, step=0.1).from_unit(0.35) == 0.3
    with pytest.raises(ConfigError, match="out of range"):
        Float(0, 1).to_unit(2.0)
    with pytest.raises(SpaceError, match="NaN"):
        Float(0, 1).from_unit(float("nan"))


def test_int_bins_have_equal_mass():
    i = Int(0, 6, step=3)  # 0, 3, 6
    u = np.linspace(0, 1, 3001)
    values, counts = np.unique([i.from_unit(x) for x in u], return_counts=True)
    assert values.tolist() == [0, 3, 6]
    assert max(counts) - min(counts) <= 2


def test_inactive_parameters_encode_to_half_and_are_dropped():
    space = optimizer_space()
    u = space.to_unit({"optimizer": "adam", "lr": 1e-2})
    assert u[space.names.index("momentum")] == 0.5
    assert space.from_unit([0.9, 0.123, 0.5]) == {"optimizer": "adam",
                                                   "lr": pytest.approx(10**-2.5)}
    config = space.from_unit([0.1, 0.0, 0.5])
    assert config["optimizer"] == "sgd" and config["momentum"] == 0.5


def test_from_unit_clips_and_checks_shape():
    space = optimizer_space()
    assert space.from_unit([-5.0, 7.0, 2.0]) == {"optimizer": "sgd", "momentum": 0.99, "lr": 0.1}
    with pytest.raises(SpaceError, match=r"shape \(3,\)"):
        space.from_unit([0.5, 0.5])
    with pytest.raises(SpaceError, match="NaN"):
        space.from_unit([0.5, float("nan"), 0.5])


def test_to_unit_many_and_invalid_configs():
    space = optimizer_space()
    configs = space.sample(0, 5)
    U = space.to_unit_many(configs)
    assert U.shape == (5, 3)
    np.testing.assert_array_equal(U[2], space.to_unit(configs[2]))
    assert space.to_unit_many([]).shape == (0, 3)
    with pytest.raises(ConfigError, match="unknown key 'x'"):
        space.to_unit({"optimizer": "adam", "lr": 0.01, "x": 1})
    # a caller that checked its configs already (a sampler's history) skips the check, same points
    np.testing.assert_array_equal(space.to_unit_many(configs, validated=True), U)


# -- grid ----------------------------------------------------------------------------------

def test_grid_axis_values():
    assert Float(0, 1).grid(5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(Float(1e-4, 1e-1, log=True).grid(4), [1e-4, 1e-3, 1e-2, 1e-1])
    assert Float(1e-4, 1e-1, log=True).grid(4)[0] == 1e-4
    assert Int(1, 3).grid(5) == [1, 2, 3]
    assert Int(0, 10).grid(3) == [0, 5, 10]
    assert Int(1, 1000, log=True).grid(4) == [1, 10, 100, 1000]
    assert Int(0, 10, step=5).grid(10) == [0, 5, 10]
    assert Float(0, 0.5, step=0.1).grid(3) == [0.0, 0.2, 0.5]
    assert Float(0, 0.5, step=0.1).grid(6) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert Choice(["a", "b"]).grid(7) == ["a", "b"]
    assert Float(0, 10).grid(1) == [5.0]
    assert math.isclose(Float(1e-4, 1e-2, log=True).grid(1)[0], 1e-3)
    assert Int(0, 10).grid(1) == [5]


def test_grid_expands_conditions_only_where_active():
    space = optimizer_space()
    grid = space.grid(3)
    assert len(grid) == 3 * 3 + 3  # sgd: momentum x lr, adam: lr
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == len(grid)
    for config in grid:
        space.validate(config)
    assert sorted({c["lr"] for c in grid}) == pytest.approx([1e-4, 10**-2.5, 1e-1])
    assert len(space.grid({"momentum": 2, "lr": 4})) == 2 * 4 + 4


def test_grid_nested_conditions_and_full_space():
    space = mixed_space()
    grid = space.grid(2)
    # sgd: momentum 2 x (nesterov False: dampening 2 | True) = 6; adam, rmsprop: beta2 2 each
    # shared: lr 2 x width 2 x layers 2 x batch 2 x dropout 2 x act 5 = 160
    assert len(grid) == (2 * (2 + 1) + 2 + 2) * 160
    assert len({json.dumps(c, sort_keys=True) for c in grid}) == len(grid)
    for config in grid[::37]:
        space.validate(config)


@pytest.mark.parametrize("points, match", [
    (0, "points_per_axis must be an integer >= 1"),
    (2.5, "points_per_axis must be an integer >= 1"),
    (True, "points_per_axis must be an integer >= 1"),
    ({"momentum": 2}, r"no entry for numeric parameter\(s\) \['lr'\]"),
    ({"momentum": 2, "lr": 2, "wd": 2}, "unknown parameter 'wd'"),
    ({"momentum": 2, "lr": 2, "optimizer": 2}, "'optimizer', a Choice"),
    ({"momentum": 0, "lr": 2}, r"points_per_axis\['momentum'\] must be an integer >= 1"),
])
def test_grid_bad_points(points, match):
    with pytest.raises(SpaceError, match=match):
        optimizer_space().grid(points)


def test_grid_size_guard(monkeypatch):
    monkeypatch.setattr(grid_module, "MAX_GRID", 100)
    space = Space({"a": Float(0, 1), "b": Float(0, 1), "c": Float(0, 1)})
    assert len(space.grid(4)) == 64
    with pytest.raises(SpaceError, match="more than 100 configs"):
        space.grid(5)


# -- JSON ----------------------------------------------------------------------------------

def test_json_round_trip():
    space = mixed_space()
    d = json.loads(json.dumps(space.to_json()))
    again = Space.from_json(d)
    assert again == space
    assert again.names == space.names
    config = space.sample(0, 1)[0]
    np.testing.assert_array_equal(again.to_unit(config), space.to_unit(config))
    assert Space.from_json(d) != optimizer_space()


@pytest.mark.parametrize("d, match", [
    ([], "'params' dict"),
    ({"params": []}, "'params' dict"),
    ({"version": 2, "params": {"x": {"type": "float", "low": 0, "high": 1}}}, "version 2"),
    ({"params": {"x": {"type": "quantum"}}}, "parameter 'x': expected a dict with type"),
    ({"params": {"x": {"type": "float", "low": 0, "high": 1, "color": 3}}}, "bad fields"),
    ({"params": {"x": {"type": "float", "low": 1, "high": 0}}}, "parameter 'x': Float: low"),
    ({"params": {}}, "empty"),
])
def test_from_json_errors(d, match):
    with pytest.raises(SpaceError, match=match):
        Space.from_json(d)


def test_plain_values_for_parameters_are_told_which_parameter_they_meant():
    with pytest.raises(SpaceError, match=r"got tuple \(0.0001, 0.1\) \(a range: knobs.Float\(0.0001, 0.1\), with log"):
        Space({"lr": (1e-4, 1e-1)})
    with pytest.raises(SpaceError, match=r"\(a range: knobs.Int\(16, 256\)"):
        Space({"width": (16, 256)})
    with pytest.raises(SpaceError, match=r"\(a choice: knobs.Choice\(\['relu', 'tanh'\]\)\)"):
        Space({"act": ["relu", "tanh"]})
    with pytest.raises(SpaceError, match=r"Choice takes its options as one list: Choice\(\['relu', 'tanh', ...\]\)"):
        Choice("relu", "tanh")
