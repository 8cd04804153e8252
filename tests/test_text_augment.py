"""EDA text augmentation: the four operations, counts, reproducibility, WordNet read offline from
the Debian package, and bad input named."""

import os
import random
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

import knobs
from knobs.augment import (STOPWORDS, EDAOptions, TextAugment, find_wordnet, load_wordnet, random_deletion,
                           random_insertion, random_swap, synonym_replacement)
from knobs.augment import _thesaurus
from knobs.augment._eda import eda
from knobs.augment._thesaurus import as_thesaurus
from knobs.data import TextPreprocessor, tokenize
from knobs.errors import ConfigError, DataError

THESAURUS = as_thesaurus({"film": ["movie", "motion picture"], "good": ["fine", "great"],
                          "actors": ["players"], "plot": ["story"]})
WORDS = tokenize("the film was good and the plot of the film was not bad , the actors too")
needs_wordnet = pytest.mark.wordnet  # skipped, with the reason, where WordNet is missing (conftest.py)


# ---- the four operations ----------------------------------------------------------------------

def test_synonym_replacement_replaces_every_occurrence_of_n_words_never_stopwords():
    out = synonym_replacement(WORDS, 2, random.Random(0), THESAURUS, STOPWORDS)
    changed = {w for w in set(WORDS) if w not in out}
    assert len(changed) == 2 and changed <= {"film", "good", "actors", "plot"}
    assert all(out.count(w) == WORDS.count(w) for w in STOPWORDS & set(WORDS))
    everything = synonym_replacement(WORDS, 100, random.Random(0), THESAURUS, STOPWORDS)
    assert not {"film", "good", "actors", "plot"} & set(everything)  # all four, and nothing else
    assert synonym_replacement(["the", "and"], 1, random.Random(0), THESAURUS, STOPWORDS) == ["the", "and"]


def test_random_insertion_adds_synonyms_of_sentence_words():
    out = random_insertion(WORDS, 3, random.Random(1), THESAURUS, STOPWORDS)
    added = Counter(out) - Counter(WORDS)
    synonyms = {t for w in ("film", "good", "actors", "plot") for s in THESAURUS.synonyms(w) for t in s.split()}
    assert sum(added.values()) >= 3 and set(added) <= synonyms
    assert not Counter(WORDS) - Counter(out)  # nothing removed
    assert random_insertion(["the", "of"], 2, random.Random(0), THESAURUS, STOPWORDS) == ["the", "of"]


def test_random_swap_keeps_the_words():
    out = random_swap(WORDS, 3, random.Random(2))
    assert sorted(out) == sorted(WORDS) and out != WORDS
    assert random_swap(["one"], 5, random.Random(0)) == ["one"]


def test_random_deletion_never_empties_a_sentence():
    rng = random.Random(3)
    assert random_deletion(WORDS, 0.0, rng) == WORDS
    assert len(random_deletion(WORDS, 1.0, rng)) == 1
    lengths = [len(random_deletion(WORDS, 0.3, rng)) for _ in range(400)]
    assert abs(np.mean(lengths) - 0.7 * len(WORDS)) < 0.3


def test_eda_makes_n_aug_sentences_shared_by_the_active_operations():
    kw = dict(rng=random.Random(0), thesaurus=THESAURUS, stopwords=STOPWORDS)
    made = eda(WORDS, alpha_sr=0.1, alpha_ri=0.1, alpha_rs=0.1, p_rd=0.1, n_aug=9, **kw)
    assert len(made) == 9 and all(m != WORDS for m in made[:1])
    only_swaps = eda(WORDS, alpha_sr=0, alpha_ri=0, alpha_rs=0.2, p_rd=0, n_aug=5, **kw)
    assert len(only_swaps) == 5 and all(sorted(m) == sorted(WORDS) for m in only_swaps)
    assert eda(WORDS, alpha_sr=0.1, alpha_ri=0.1, alpha_rs=0.1, p_rd=0.1, n_aug=0, **kw) == []


# ---- the shell --------------------------------------------------------------------------------

def test_same_seed_same_sentences_other_seed_others():
    texts = ["The film was good.", "A dull plot, but the actors were good!"]
    a = TextAugment({"n_aug": 4}, seed=0, thesaurus=THESAURUS).augment_dataset(texts, [1, 0])
    b = TextAugment({"n_aug": 4}, seed=0, thesaurus=THESAURUS).augment_dataset(texts, [1, 0])
    c = TextAugment({"n_aug": 4}, seed=1, thesaurus=THESAURUS).augment_dataset(texts, [1, 0])
    assert a[0] == b[0] and a[0] != c[0]


def test_augment_dataset_keeps_originals_first_and_labels_aligned():
    X = np.array([["The film was good."], ["A dull plot."], ["Great actors!"]], dtype=object)
    aug = TextAugment({"n_aug": 3}, seed=0, thesaurus=THESAURUS)
    X_out, y_out = aug.augment_dataset(X, np.array([2, 0, 1]))
    assert X_out.shape == (12, 1) and X_out[:3].tolist() == X.tolist()
    assert y_out.tolist() == [2, 0, 1] + [2] * 3 + [0] * 3 + [1] * 3
    pre = TextPreprocessor(min_freq=1).fit(X_out)  # the preprocessor reads the sentences back
    assert "movie" in pre.vocab_ or "story" in pre.vocab_ or "fine" in pre.vocab_
    off, y_off = TextAugment({"n_aug": 0}).augment_dataset(["a b"], [1])
    assert off == ["a b"] and y_off.tolist() == [1]


def test_from_params_reads_a_space_sample():
    space = knobs.Space({"augment.alpha_sr": knobs.Float(0, 0.3), "augment.n_aug": knobs.Int(1, 16),
                         "lr": knobs.Float(1e-3, 1e-1, log=True)})
    for config in space.sample(np.random.default_rng(0), 4):
        aug = TextAugment.from_params(config, thesaurus=THESAURUS).check()
        assert aug.options_.n_aug == config["augment.n_aug"]
        assert len(aug("the film was good")) == config["augment.n_aug"]


def test_options_defaults_are_the_papers():
    opts = EDAOptions()
    assert (opts.alpha_sr, opts.alpha_ri, opts.alpha_rs, opts.p_rd) == (0.1,) * 4
    assert EDAOptions.from_dict({"n_aug": 4.0}).n_aug == 4  # a search's float integer is fine


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [("", "is empty"), ("   \n", "is empty"), (None, "must be a string")])
def test_empty_text_is_named(text, match):
    with pytest.raises(DataError, match=match):
        TextAugment(thesaurus=THESAURUS)(text)


def test_empty_text_in_a_dataset_names_its_index():
    with pytest.raises(DataError, match=r"texts\[1\] is empty"):
        TextAugment(thesaurus=THESAURUS).augment_dataset(["a film", ""], [0, 1])
    with pytest.raises(DataError, match="one label per text"):
        TextAugment(thesaurus=THESAURUS).augment_dataset(["a film", "b"], [0])
    with pytest.raises(DataError, match="list of strings"):
        TextAugment(thesaurus=THESAURUS).augment_dataset("a film", [0])


@pytest.mark.parametrize("config, match", [
    ({"alpha_sw": 0.1}, r"unknown key 'augment.alpha_sw' \(did you mean 'alpha_sr'\?\)"),
    ({"alpha_sr": 1.5}, r"augment.alpha_sr: expected a number in \[0, 1\]"),
    ({"p_rd": -0.2}, "augment.p_rd"),
    ({"n_aug": -1}, "augment.n_aug: expected an integer >= 0"),
    ({"n_aug": 2.5}, "augment.n_aug"),
])
def test_bad_options_are_named(config, match):
    with pytest.raises(ConfigError, match=match):
        TextAugment(config, thesaurus=THESAURUS).check()


def test_bad_thesaurus_stopwords_and_seed():
    with pytest.raises(ConfigError, match="thesaurus: expected None"):
        TextAugment(thesaurus=42).check()
    with pytest.raises(ConfigError, match="stopwords must be a collection"):
        TextAugment(thesaurus=THESAURUS, stopwords="the a").check()
    with pytest.raises(ConfigError, match="seed must be an integer"):
        TextAugment(thesaurus=THESAURUS, seed=1.5).check()


def test_missing_wordnet_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(_thesaurus, "SEARCHED", (str(tmp_path / "none"),))
    monkeypatch.delenv("KNOBS_WORDNET", raising=False)
    with pytest.raises(DataError, match=r"found none \(KNOBS_WORDNET unset.*apt-get install -y wordnet-base"):
        find_wordnet()
    monkeypatch.setenv("KNOBS_WORDNET", str(tmp_path))
    with pytest.raises(DataError, match="KNOBS_WORDNET: .* is not a WordNet dict folder"):
        TextAugment().check()
    # swaps and deletions need no thesaurus, so no WordNet either
    assert len(TextAugment({"alpha_sr": 0, "alpha_ri": 0, "n_aug": 2})("a good film")) == 2


def test_missing_nltk_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk", None)
    with pytest.raises(ConfigError, match="nltk's WordNet reader.*pip install nltk"):
        _thesaurus._reader_class()


# ---- WordNet from the Debian package ----------------------------------------------------------

@needs_wordnet
def test_wordnet_is_found_and_gives_synonyms():
    folder = find_wordnet()
    assert (folder / "data.noun").is_file()
    wordnet = load_wordnet()
    assert wordnet.reader_.get_version() == "3.0"
    film = wordnet.synonyms("film")
    assert "movie" in film and "film" not in film and film == sorted(film)
    assert "movie" in wordnet.synonyms("films")  # WordNet's morphology: plural -> lemma
    assert "run" in wordnet.synonyms("running")
    assert wordnet.synonyms("qwzxv") == []
    assert all(s.replace(" ", "").isalpha() for s in wordnet.synonyms("good"))


@needs_wordnet
def test_eda_with_wordnet_keeps_stopwords_and_changes_content_words():
    aug = TextAugment({"alpha_sr": 0.3, "alpha_ri": 0, "alpha_rs": 0, "p_rd": 0, "n_aug": 8}, seed=0)
    text = "the movie was not good but the actors were great"
    for sentence in aug(text):
        words = sentence.split()
        for stop in ("the", "was", "not", "but", "were"):  # kept (a synonym may bring more)
            assert words.count(stop) >= tokenize(text).count(stop)
        assert sentence != text


def test_output_does_not_depend_on_the_hash_seed():
    # synonyms come as sets here, as from WordNet's synsets; their order must not leak through
    table = "{'quick': {'fast', 'speedy', 'rapid', 'swift'}, 'fox': {'dog', 'canine', 'wolf', 'hound'}}"
    call = "TextAugment({'n_aug': 6}, seed=4, thesaurus=%s)('the quick brown fox jumps over the lazy dog')" % table
    here = eval(call, {"TextAugment": TextAugment})
    other_seed = "2" if os.environ.get("PYTHONHASHSEED") == "1" else "1"
    there = subprocess.run([sys.executable, "-c", f"from knobs.augment import TextAugment; print({call})"],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": other_seed}).stdout
    assert there.strip() == repr(here) and any("fox" not in s for s in here)


def test_options_may_be_keywords_and_the_papers_other_name_for_deletion_is_pointed_home():
    aug = TextAugment(n_aug=2, alpha_sr=0.2, seed=0, thesaurus=THESAURUS)
    assert aug.config == {"n_aug": 2, "alpha_sr": 0.2} and len(aug("the film was good")) == 2
    with pytest.raises(ConfigError, match=r"unknown key 'augment.alpha_rd' \(did you mean 'p_rd'\?\)"):
        TextAugment(alpha_rd=0.1, thesaurus=THESAURUS)("the film was good")
