"""[augment] for text runs: EDA on the training texts only, the vocabulary of the original texts,
searchable as augment.* keys; image options on text (and text options on images) are refused."""

import csv

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.data import TextPreprocessor
from knobs.errors import ConfigError
from knobs.pipeline import Display, run
from knobs.pipeline.stages._inputs import load_inputs
from knobs.pipeline.inputs._practices import trial_practices


needs_wordnet = pytest.mark.wordnet  # skipped, with the reason, where WordNet is missing (conftest.py)

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "checks.overfit_tiny": False, "model.family": "text_bag",
        "search.space": {"lr": {"low": 3e-3, "high": 3e-2, "log": True}, "width": 8, "depth": 1,
                         "embed_dim": 8, "optimizer": "adam"}}
POSITIVE = ["good", "great", "fine", "lovely", "happy", "excellent"]
NEGATIVE = ["bad", "awful", "poor", "sad", "terrible", "boring"]
FILLER = ["the", "film", "movie", "story", "was", "a", "plot", "actor", "really", "quite", "house", "car"]


def _write_texts(path, n=90):
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["text", "label"])
        for i in range(n):
            words = [*rng.choice(FILLER, 5), *rng.choice(POSITIVE if i % 2 else NEGATIVE, 2)]
            w.writerow([" ".join(rng.permutation(words)), "pos" if i % 2 else "neg"])
    return path


def _cfg(tmp_path, **more):
    source = _write_texts(tmp_path / "t.csv")
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "t", "data.source": str(source),
                              "data.text_column": "text", "data.min_freq": 1, **more})


@pytest.mark.slow
def test_text_run_with_eda_searched_as_augment_keys(tmp_path):
    torch.set_num_threads(1)
    space = {**FAST["search.space"], "augment.p_rd": {"low": 0.0, "high": 0.3}}
    cfg = _cfg(tmp_path, **{"augment": {"n_aug": 2, "alpha_sr": 0.0, "alpha_ri": 0.0, "alpha_rs": 0.1},
                            "search.space": space})
    result = run(cfg, display=Display(quiet=True))
    assert 0.0 <= result.summary["best_trial"]["config"]["augment.p_rd"] <= 0.3
    assert result.summary["practices"]["augment"]["n_aug"] == 2
    assert 0.0 <= result.summary["test"]["accuracy"] <= 1.0 and result.summary["vault"]["openings"] == 1


def _augmented(cfg, data, params=None):
    practices = trial_practices(cfg, data, {"batch_size": 64, **(params or {})}, seed=0, model=None)
    return practices.train


@needs_wordnet
def test_eda_adds_training_rows_only_and_keeps_the_vocabulary_of_the_original_texts(tmp_path):
    cfg = _cfg(tmp_path, **{"augment": {"n_aug": 3, "alpha_sr": 0.3, "alpha_ri": 0.3}})
    inputs = load_inputs(cfg)
    splits, data = inputs.splits, inputs.data
    vocab = list(data.preprocessing.preprocessor.vocab_)
    assert vocab == TextPreprocessor(min_freq=1).fit(data.texts).vocab_  # fitted on the original texts only
    X, y = _augmented(cfg, data)
    n = len(data.train[1])
    assert len(y) == 4 * n and torch.equal(X[:n], data.train[0]) and torch.equal(y[:n], data.train[1])
    assert not torch.equal(X[n:2 * n], data.train[0])  # new sentences, not copies
    assert int(X.max()) < len(vocab)  # every new word is a vocabulary id (synonyms unseen in training are <unk>)
    assert (X[n:] == 1).sum() > (X[:n] == 1).sum()  # WordNet synonyms outside the vocabulary did appear
    assert data.preprocessing.preprocessor.vocab_ == vocab and len(data.val[1]) == len(splits.val[1])
    # the trial's augment.* keys override [augment]: n_aug = 0 turns it off
    assert len(_augmented(cfg, data, {"augment.n_aug": 0})[1]) == n


def test_each_fold_augments_its_own_training_part(tmp_path):
    cfg = _cfg(tmp_path, **{"augment": {"n_aug": 2, "alpha_sr": 0.0, "alpha_ri": 0.0, "p_rd": 0.2},
                            "data.folds": 3})
    inputs = load_inputs(cfg)
    data = inputs.data
    for fold in data.folds:
        prepared = fold.prepare().data
        X, y = _augmented(cfg, prepared)
        assert len(y) == 3 * len(prepared.train[1]) and int(X.max()) < prepared.model_args["vocab_size"]


@pytest.mark.parametrize("more, match", [
    ({"augment": {"hflip": 0.5}},
     r"augment.hflip: an image augmentation option, but this run's data is text; the options for text are alpha_sr"),
    ({"search.space": {**FAST["search.space"], "augment.rotation": {"low": 0.0, "high": 10.0}}},
     r"search.space.augment.rotation: an image augmentation option"),
    # synonyms off: a range is checked without WordNet too (this case once needed it, unmarked)
    ({"augment": {"alpha_sr": 0.0, "alpha_ri": 0.0},
      "search.space": {**FAST["search.space"], "augment.alpha_rs": {"low": 0.0, "high": 1.5}}},
     r"augment.alpha_rs: expected a number in \[0, 1\]"),
    pytest.param({"search.space": {**FAST["search.space"], "augment.alpha_rs": {"low": 0.0, "high": 1.5}}},
                 r"augment.alpha_rs: expected a number in \[0, 1\]", marks=needs_wordnet, id="synonyms-on"),
    ({"augment": {"n_aug": -1}}, r"augment.n_aug: expected an integer >= 0"),
    ({"augment": {"spin": 1.0}}, r"augment.spin: not an augmentation option"),
])
def test_bad_text_augmentation_is_named_before_the_run(tmp_path, more, match):
    with pytest.raises(ConfigError, match=match):
        load_inputs(_cfg(tmp_path, **more))
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("more, match", [
    ({"model.family": "convnet", "augment": {"n_aug": 4},
      "search.space": {"lr": {"low": 1e-3, "high": 1e-2}, "channels": 4}},
     r"augment.n_aug: a text \(EDA\) augmentation option, but this run's data is images; the options for images are hflip"),
    ({"augment": {"alpha_sr": 0.1}}, r"EDA needs text data"),
])
def test_text_options_on_other_data_are_refused(tmp_path, more, match):
    cfg = load_config(None, {**FAST, "model.family": "mlp", "runs_dir": str(tmp_path / "runs"), **more})
    with pytest.raises(ConfigError, match=match):
        load_inputs(cfg)


def test_missing_wordnet_is_found_before_the_run(tmp_path, monkeypatch):
    from knobs.augment import _thesaurus
    from knobs.errors import DataError

    monkeypatch.setattr(_thesaurus, "SEARCHED", (str(tmp_path / "none"),))
    monkeypatch.delenv("KNOBS_WORDNET", raising=False)
    with pytest.raises(DataError, match="EDA synonyms need WordNet"):
        load_inputs(_cfg(tmp_path, **{"augment": {"alpha_sr": 0.1}}))
    assert not (tmp_path / "runs").exists()


def test_smote_on_token_ids_is_refused(tmp_path):
    with pytest.raises(ConfigError, match='balance.sampler = "smote" .* token ids'):
        load_inputs(_cfg(tmp_path, **{"balance.sampler": "smote"}))
