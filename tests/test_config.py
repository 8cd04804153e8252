"""The TOML config: defaults, overrides, and one clear error for every kind of bad input."""

import pytest

from knobs.config import DEFAULT_SPACE, build_space, load_config, parse_config
from knobs.errors import ConfigError


def test_defaults_search_the_mlp_space_with_at_least_12_trials():
    cfg = load_config()
    assert cfg.data.source == "digits"
    assert cfg.search.n_trials >= 12
    assert set(cfg.search.space) == set(DEFAULT_SPACE)


def test_toml_file_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\n[search]\nn_trials = 5\n[search.space]\nlr = { low = 1e-3, high = 1e-1, log = true }\n')
    cfg = load_config(path, {"search.n_trials": 7, "train.epochs": 3})
    assert (cfg.name, cfg.search.n_trials, cfg.train.epochs) == ("x", 7, 3)
    assert list(cfg.search.space) == ["lr"]


def test_unknown_key_names_it_and_suggests_the_right_one(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[search]\nn_trails = 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "search.n_trails" in str(e.value) and "did you mean 'n_trials'" in str(e.value)


@pytest.mark.parametrize("raw, message", [
    ({"data": {"path": "x.csv"}}, "unknown key 'data.path' (did you mean 'source'?)"),
    ({"search": {"max_trials": 5}}, "unknown key 'search.max_trials' (did you mean 'n_trials'?)"),
    ({"model": {"arch": "mlp"}}, "unknown key 'model.arch' (did you mean 'family'?)"),
    ({"train": {"max_epochs": 3}}, "unknown key 'train.max_epochs' (did you mean 'epochs'?)"),
    ({"train": {"learning_rate": 0.1}}, "unknown key 'train.learning_rate': lr is set in [search.space] (a plain "
                                         "value fixes it for every trial"),
    ({"model": {"dropout": 0.1}}, "unknown key 'model.dropout': dropout is set in [search.space]"),
    ({"model": {"family": "embedding_bag"}}, "unknown family 'embedding_bag' (did you mean 'text_bag'?)"),
    ({"model": {"family": "cnn"}}, "unknown family 'cnn' (did you mean 'convnet'?)"),
    ({"search": {"metric": "accuracy"}}, "got 'accuracy' (did you mean 'val_accuracy'?)"),
    ({"search": {"sampler": "bayesian"}}, "got 'bayesian' (did you mean 'bayes'?)"),
    ({"train": {"precision": "bfloat16"}}, "got 'bfloat16' (did you mean 'bf16'?)"),
    ({"search": {"space": {"act": ["relu", "tanh"]}}}, "search.space.act: expected a table ({...})"),  # no "dict[str,any]"
])
def test_another_tools_key_or_a_key_of_another_table_is_pointed_home(raw, message):
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert message in str(e.value)


def test_a_model_hyperparameter_typo_is_suggested():
    from knobs.models import build_model

    with pytest.raises(ConfigError, match=r"model hyperparameter 'widht' \(did you mean 'width'\?\) is not one of "
                                          r"the mlp family's"):
        build_model("mlp", input_shape=(4,), n_classes=2, widht=16)


@pytest.mark.parametrize("raw, key", [
    ({"search": {"n_trials": -3}}, "search.n_trials"),
    ({"data": {"val": 1.5}}, "data.val"),
    ({"search": {"sampler": "tpe"}}, "search.sampler"),
    ({"train": {"epochs": 0}}, "train.epochs"),
])
def test_bad_values_name_the_key(raw, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(raw)


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[search\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_a_directory_or_a_binary_file_as_config_says_what_it_is(tmp_path):
    with pytest.raises(ConfigError, match="is a directory; give a TOML file"):
        load_config(tmp_path)
    binary = tmp_path / "model.toml"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="model.toml: not a text file.*UTF-8 TOML"):
        load_config(binary)


@pytest.mark.parametrize("name", ["../elsewhere", "a/b", "..", "."])
def test_a_run_name_is_one_directory_name(name):
    with pytest.raises(ConfigError, match=r"config: name: a run name is one directory name under runs_dir"):
        parse_config({"name": name})


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_outside_numpys_range_names_the_key(seed):
    with pytest.raises(ConfigError, match=r"config: seed: expected a number [≥≤] (0|4294967295), got"):
        parse_config({"seed": seed})


def test_space_syntax_kinds_fixed_values_and_conditions():
    space, fixed = build_space({
        "lr": {"low": 1e-4, "high": 1e-1, "log": True},
        "width": {"low": 16, "high": 64},
        "dropout": {"low": 0.0, "high": 0.5},
        "optimizer": {"choices": ["sgd", "adam"]},
        "momentum": {"low": 0.5, "high": 0.99, "when": {"optimizer": "sgd"}},
        "activation": "relu",
    })
    assert fixed == {"activation": "relu"}
    assert space["width"].kind == "int" and space["dropout"].kind == "float" and space["lr"].log
    for config in space.sample(__import__("numpy").random.default_rng(0), 20):
        assert ("momentum" in config) == (config["optimizer"] == "sgd")


@pytest.mark.parametrize("entry, message", [
    ({"low": 1, "hgh": 2}, "unknown key 'hgh'"),
    ({"low": 0.0, "high": 1.0, "log": True}, "search.space.p"),
    ({"low": 2.0, "high": 1.0}, "search.space.p"),
    ({"high": 1.0}, "give low and high"),
    ({"choices": ["a", "a"]}, "search.space.p"),
])
def test_bad_space_entries_name_the_parameter(entry, message):
    with pytest.raises(ConfigError, match=message):
        build_space({"p": entry})


def test_data_max_classes_decides_when_an_integer_target_is_classes(tmp_path):
    from knobs.pipeline.stages._inputs import load_inputs

    lines = ["a,b,y"] + [f"{i},{i % 7},{i % 30}" for i in range(300)]  # 30 distinct integer targets
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    tasks = [load_inputs(load_config(None, {"data.source": str(tmp_path / "t.csv"), "data.target": "y",
                                            "data.max_classes": k})).data.task for k in (20, 40)]
    assert tasks == ["regression", "classification"]


def test_an_override_into_a_key_that_is_not_a_table_names_the_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("search = 3\n")
    with pytest.raises(ConfigError, match=r"c.toml: key 'search' must be a table \(\[search\]\), got 3"):
        load_config(path, {"search.n_trials": 2})


@pytest.mark.parametrize("bad, words", [
    ({"seed": "x"}, "seed: expected a whole number, got 'x'"),
    ({"seed": 1.5}, "seed: expected a whole number, got 1.5"),
    ({"seed": 2**40}, "seed: expected a number ≤ 4294967295"),
    ({"search": {"sampler": "nope"}}, "search.sampler: expected one of"),
])
def test_config_errors_are_worded_for_a_person_not_in_pydantic_terms(bad, words):
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert words in str(info.value) and "Input should" not in str(info.value)
