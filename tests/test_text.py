"""Text data: tokenizer, vocabulary (train only), padded ids, the text CSV loader, the text models,
and `knobs run` on a tiny generated text CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.data import (
    PAD, UNK, TextPreprocessor, build_vocab, encode_splits, encode_tokens, load_dataset, load_text_csv, split,
    tokenize,
)
from knobs.errors import ConfigError, DataError
from knobs.models import TEXT_FAMILIES, TextBag, TextCNN, build_model

torch.set_num_threads(1)

POSITIVE = ["great", "wonderful", "fun", "moving", "superb"]
NEGATIVE = ["boring", "awful", "dull", "bad", "slow"]


def texts_csv(tmp_path, n=80, name="reviews.csv", extra=""):
    rng = np.random.default_rng(0)
    rows = ["review,sentiment"]
    for i in range(n):
        words = POSITIVE if i % 2 else NEGATIVE
        rows.append(f"the film was {rng.choice(words)} and {rng.choice(words)} {'!' * (i % 3)},"
                    f"{'pos' if i % 2 else 'neg'}")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n" + extra)
    return path


# --- tokenizer and vocabulary ---------------------------------------------------------------------

def test_tokenize_lowercases_and_splits_words_and_punctuation():
    assert tokenize("It's GREAT, isn't it?!") == ["it's", "great", ",", "isn't", "it", "?", "!"]
    assert tokenize("  \t ") == [] and tokenize("a-b 3.5") == ["a", "-", "b", "3", ".", "5"]


def test_vocab_orders_by_count_then_alphabet_with_min_freq_and_max_size():
    texts = [["b", "a", "c"], ["a", "b"], ["a", "d", "<unk>"]]
    assert build_vocab(texts, min_freq=1) == ["<pad>", "<unk>", "a", "b", "c", "d"]
    assert build_vocab(texts, min_freq=2) == ["<pad>", "<unk>", "a", "b"]
    assert build_vocab(texts, min_freq=1, max_size=3) == ["<pad>", "<unk>", "a"]


def test_encode_pads_truncates_and_reports_lengths():
    index = {"<pad>": 0, "<unk>": 1, "a": 2, "b": 3}
    ids, lengths = encode_tokens([["a", "zzz"], ["b", "a", "b", "a"]], index, length=3)
    assert ids.tolist() == [[2, UNK, PAD], [3, 2, 3]] and lengths.tolist() == [2, 3]
    assert ids.dtype == np.int64


def test_text_preprocessor_fits_on_train_only_and_round_trips():
    train = np.array([["a good film"], ["a bad film"], ["good good"]])
    pre = TextPreprocessor(min_freq=1, max_length=10).fit(train)
    assert pre.vocab_ == ["<pad>", "<unk>", "good", "a", "film", "bad"] and pre.length_ == 3
    test = np.array([["a terrible terrible film indeed"]])  # words never seen in training
    assert pre.transform(test).tolist() == [[3, UNK, UNK]]
    assert pre.audit(test) == {"rows": 1, "tokens": 5, "unknown_rate": 0.6, "truncated": 1}
    ids, lengths = pre.encode(np.array(["good"]))
    assert ids.tolist() == [[2, 0, 0]] and lengths.tolist() == [1]
    again = TextPreprocessor()
    again.load_state_dict(json.loads(json.dumps(pre.state_dict())))
    assert np.array_equal(again.transform(test), pre.transform(test))
    with pytest.raises(DataError, match=r"1 empty texts \(first in row 1\)"):
        pre.transform(np.array(["good", "  "]))
    with pytest.raises(ConfigError, match="vocab_size must be an integer >= 3"):
        TextPreprocessor(vocab_size=2).fit(train)
    with pytest.raises(ConfigError, match="not fitted"):
        TextPreprocessor().transform(train)


# --- the loader -----------------------------------------------------------------------------------

def test_load_text_csv_maps_labels_and_keeps_texts_raw(tmp_path):
    ds = load_text_csv(texts_csv(tmp_path), text_column="review", target="sentiment", min_freq=1)
    assert ds.X.shape == (80, 1) and ds.X.dtype == object and ds.class_names == ["neg", "pos"]
    assert ds.y[:4].tolist() == [0, 1, 0, 1] and isinstance(ds.preprocessor, TextPreprocessor)
    assert ds.loading["kind"] == "text" and ds.loading["dropped_rows"] == 0
    same = load_dataset(str(texts_csv(tmp_path)), text_column="review", target="sentiment")
    assert same.loading["kind"] == "text"  # auto: a table with a text column is text


def test_vocabulary_comes_from_the_training_split(tmp_path):
    path = texts_csv(tmp_path, extra="an unmistakable xylophone,pos\nunmistakable xylophone again,neg\n")
    ds = load_text_csv(path, text_column="review", target="sentiment", min_freq=1)
    splits = split(ds, val=0.2, test=0.2, seed=0)
    pre, encoded, report = encode_splits(ds, splits)
    train_words = {w for text in splits.train[0][:, 0] for w in tokenize(text)}
    assert set(pre.vocab_) - {"<pad>", "<unk>"} == train_words
    assert encoded.train[0].shape == (len(splits.train[1]), pre.length_)
    assert report["fitted_on"] == "train" and report["train"]["unknown_rate"] == 0.0
    assert ds.preprocessor is not pre and not hasattr(ds.preprocessor, "vocab_")  # the template stays unfitted


def test_empty_text_and_missing_label_name_the_lines(tmp_path):
    path = texts_csv(tmp_path, extra="   ,pos\nfine film,\n")
    with pytest.raises(DataError, match=r"empty text in column 'review' on line 82; missing label in column "
                                        r"'sentiment' on line 83.*missing = \"drop\""):
        load_text_csv(path, text_column="review", target="sentiment")
    ds = load_text_csv(path, text_column="review", target="sentiment", missing="drop")
    assert len(ds) == 80 and ds.loading["dropped_lines"] == [82, 83] and ds.loading["empty_texts"] == 1
    with pytest.raises(ConfigError, match="does not apply to text"):
        load_text_csv(path, text_column="review", target="sentiment", missing="mean")
    with pytest.raises(DataError, match=r"no column 'text'.*\['review', 'sentiment'\]"):
        load_text_csv(path, target="sentiment")


# --- the models -----------------------------------------------------------------------------------

@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_text_models_ignore_padding_and_take_float_ids(family):
    torch.manual_seed(0)
    net = build_model(family, input_shape=(8,), n_classes=3, vocab_size=20, embed_dim=6).eval()
    short = torch.tensor([[4, 7, 9, 0, 0, 0, 0, 0]])
    longer_pad = torch.tensor([[4, 7, 9, 0, 0, 0, 0, 0, 0, 0, 0]])
    assert torch.allclose(net(short), net(longer_pad), atol=1e-6)   # padding never changes a prediction
    assert torch.equal(net(short), net(short.float()))               # the Trainer sends float32 ids
    assert net(torch.zeros(2, 8)).shape == (2, 3)                    # an all-pad row still gives logits
    with pytest.raises(DataError, match="bfloat16"):
        net(short.bfloat16())


def test_text_bag_is_the_mean_embedding_through_the_head():
    net = TextBag((4,), 2, vocab_size=10, embed_dim=3, depth=0).eval()
    ids = torch.tensor([[2, 5, 0, 0]])
    mean = net.embedding.weight[[2, 5]].mean(dim=0, keepdim=True)
    assert torch.allclose(net(ids), net.head(mean), atol=1e-6)


def test_text_cnn_structure_and_checks():
    net = TextCNN((16,), 2, vocab_size=30, embed_dim=8, channels=5, kernel_size=3, depth=2, width=4)
    convs = [m for m in net.convs if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(8, 5), (5, 5)]
    with pytest.raises(ConfigError, match="kernel_size: expected an odd size"):
        TextCNN((16,), 2, vocab_size=30, kernel_size=4)
    with pytest.raises(ConfigError, match="vocab_size"):
        build_model("text_bag", input_shape=(16,), n_classes=2, vocab_size=1)
    with pytest.raises(ConfigError, match="input_shape"):
        build_model("text_cnn", input_shape=(1, 8, 8), n_classes=2, vocab_size=30)


# --- knobs run on a text CSV ----------------------------------------------------------------------

@pytest.mark.slow
def test_knobs_run_on_a_text_csv(tmp_path):
    from knobs.pipeline import Display, run
    from knobs.data import Preprocessing

    path = texts_csv(tmp_path, n=60)
    cfg = load_config(None, {
        "runs_dir": str(tmp_path / "runs"), "name": "t", "data.source": str(path), "data.text_column": "review",
        "data.target": "sentiment", "data.min_freq": 1, "model.family": "text_bag", "search.n_trials": 2,
        "search.sampler": "random", "train.epochs": 8, "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 0.01, "high": 0.05, "log": True}, "width": 16, "embed_dim": 16},
    })
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["test"]["accuracy"] >= 0.8  # one word decides the class
    prep = Preprocessing.load(result.path / "preprocess.json")
    assert prep.record["loading"]["kind"] == "text" and prep.record["class_names"] == ["neg", "pos"]
    X = prep.transform(np.array([["the film was superb"], ["boring"]]))
    assert X.shape == (2, prep.preprocessor.length_) and X[0, 3] == prep.preprocessor.vocab_.index("superb")
    state = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert state["extra"]["params"]["vocab_size"] == len(prep.preprocessor.vocab_)
    with pytest.raises(ConfigError, match="search.space.vocab_size: this model argument comes from the data"):
        run(load_config(None, {**_overrides(cfg), "search.space": {"lr": 0.01, "vocab_size": 50, "width": {"low": 4, "high": 8}}}),
            display=Display(quiet=True))
    with pytest.raises(ConfigError, match="text data needs a text model"):
        run(load_config(None, {**_overrides(cfg), "model.family": "mlp", "name": "u"}), display=Display(quiet=True))


def _overrides(cfg) -> dict:
    return {"runs_dir": cfg.runs_dir, "name": "v", "data.source": cfg.data.source, "data.text_column": "review",
            "data.target": "sentiment", "model.family": "text_bag"}
