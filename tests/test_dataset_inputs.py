"""Data as practitioners hand it over: a torch ``Dataset`` as it is (a ``TensorDataset``, a ``random_split``
``Subset``, their own), Hugging Face-style dict batches, classes numbered from 1 — trained, or one message that says
the exact fix."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

import knobs
from knobs.errors import DataError
from knobs.train import Trainer, lr_find

torch.set_num_threads(1)


def blobs(n=240, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = 2 * torch.randn(classes, d, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return centers[y] + 0.5 * torch.randn(n, d, generator=g), y


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


class Rows(Dataset):
    """A user's own map-style dataset of dict items."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"x": self.X[i], "y": self.y[i]}


def test_a_torch_dataset_trains_as_the_same_rows_in_memory_do_in_the_same_seeded_order():
    X, y = blobs()
    in_memory = Trainer(epochs=3, lr=1e-2, batch_size=32, seed=0).fit(mlp(), (X, y), (X, y)).records
    given = Trainer(epochs=3, lr=1e-2, batch_size=32, seed=0).fit(mlp(), TensorDataset(X, y), Rows(X, y)).records
    assert [r["train_loss"] for r in given] == pytest.approx([r["train_loss"] for r in in_memory], rel=1e-6)
    assert given[-1]["val_accuracy"] == in_memory[-1]["val_accuracy"]


def test_a_random_split_subset_trains_predicts_evaluates_and_finds_an_lr():
    X, y = blobs()
    train, val = random_split(TensorDataset(X, y), [180, 60], generator=torch.Generator().manual_seed(0))
    trainer = Trainer(epochs=5, lr=1e-2)
    model = mlp()
    assert trainer.fit(model, train, val).records[-1]["val_accuracy"] > 0.8
    rows = torch.tensor(val.indices)
    assert torch.equal(trainer.predict(model, val), trainer.predict(model, X[rows]))
    assert trainer.evaluate(model, val)["accuracy"] == trainer.evaluate(model, (X[rows], y[rows]))["accuracy"]
    assert len(lr_find(mlp(), train, steps=10).lrs) == 10


def test_diagnose_takes_torch_datasets():
    X, y = blobs()
    report = knobs.diagnose(mlp(), TensorDataset(X[:180], y[:180]), TensorDataset(X[180:], y[180:]), epochs=3,
                            lr=1e-2)
    assert report.evidence["sizes"] == {"train": 180, "val": 60}


def test_dict_batches_with_other_names_are_told_the_batch_keys_that_read_them():
    X, y = blobs()

    class Named(Dataset):
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return {"input_ids": X[i], "attention_mask": torch.ones(6), "labels": y[i]}

    with pytest.raises(DataError, match=r"for these batches: Trainer\(batch_keys=\{'x': \('input_ids', "
                                        r"'attention_mask'\), 'y': 'labels'\}\)"):
        Trainer(epochs=1).fit(mlp(), DataLoader(Named(), batch_size=32))

    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp()

        def forward(self, ids, mask):
            return self.net(ids * mask)

    keys = {"x": ("input_ids", "attention_mask"), "y": "labels"}
    assert Trainer(epochs=1, batch_keys=keys).fit(Two(), Named()).records[-1]["train_loss"] > 0


def test_classes_numbered_from_1_are_told_to_subtract_1():
    X, y = blobs()
    with pytest.raises(DataError, match=r"labels go up to 3 but the model outputs shape \(3,\); build it with "
                                        r"n_classes >= 4; the labels start at 1: if the classes are numbered from 1, "
                                        r"subtract 1"):
        Trainer(epochs=1).fit(mlp(), (X, y + 1))


def test_a_fraction_as_val_holds_out_a_seeded_stratified_share_of_the_training_rows():
    from knobs.errors import ConfigError
    from knobs.train._holdout import hold_out

    X, y = blobs()
    y = torch.where(torch.arange(240) < 200, y % 2, torch.full((240,), 2))  # class 2 is the last 40 rows, as sorted
    (Xt, yt), (Xv, yv) = hold_out((X, y), 0.25, task="classification", seed=3)
    assert len(yv) == 60 and len(yt) == 180 and int((yv == 2).sum()) == 10  # a quarter of each class
    assert not set(map(tuple, Xv.tolist())) & set(map(tuple, Xt.tolist()))
    again = hold_out((X, y), 0.25, task="classification", seed=3)[1][1]
    assert torch.equal(again, yv)
    w = torch.rand(240)
    (_, _, wt), (_, _, wv) = hold_out((X, y, w), 0.25, task="classification", seed=3)
    assert float(wt.sum() + wv.sum()) == pytest.approx(float(w.sum()))
    record = Trainer(epochs=3, lr=1e-2, seed=1).fit(mlp(), (X, y), 0.2).records[-1]
    assert record["val_accuracy"] is not None
    train, val = hold_out(TensorDataset(X, y), 0.2, task="classification", seed=0)
    assert (len(train), len(val)) == (192, 48) and not set(train.indices) & set(val.indices)
    with pytest.raises(ConfigError, match=r"val: a fraction holds out rows of in-memory data or of a torch Dataset; "
                                          r"a DataLoader gives batches"):
        Trainer(epochs=1).fit(mlp(), DataLoader(TensorDataset(X, y), batch_size=32), 0.2)
    with pytest.raises(ConfigError, match=r"val: a share of the training rows to hold out is a fraction in \(0, 1\)"):
        Trainer(epochs=1).fit(mlp(), (X, y), 1.5)


def test_a_hugging_face_classifier_trains_on_its_own_batches_and_outputs():
    # a BertForSequenceClassification (tiny, random init: no download) takes (input_ids, attention_mask) and returns
    # a SequenceClassifierOutput; dict batches with Hugging Face's key names are read by batch_keys
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (160, 10), generator=g)
    labels = (ids[:, 0] >= 30).long()  # the first token decides
    mask = torch.ones_like(ids)
    mask[::2, 7:] = 0  # padded rows

    class Encoded(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return {"input_ids": ids[i], "attention_mask": mask[i], "labels": labels[i]}

    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    trainer = Trainer(epochs=15, lr=3e-3, batch_size=32, batch_keys={"x": ("input_ids", "attention_mask"), "y": "labels"})
    record = trainer.fit(model, Encoded(), Encoded()).records[-1]
    assert record["val_accuracy"] > 0.9
    assert trainer.predict_proba(model, Encoded()).shape == (160, 2)


def test_a_fit_on_a_dataset_resumes_bit_for_bit(tmp_path):
    # knobs' batch sampler's random stream was not checkpointed (only a DataLoader's own generator was): a resumed
    # fit on a Dataset — or a streamed split, read through the same sampler — drew another order
    X, y = blobs()

    class Crash:
        def on_epoch_end(self, trainer, record):
            if record["epoch"] == 2:
                raise KeyboardInterrupt

    settings = dict(epochs=4, seed=1, batch_size=32, lr=1e-2)
    whole = Trainer(**settings).fit(mlp(), TensorDataset(X, y), (X, y)).records
    with pytest.raises(KeyboardInterrupt):
        Trainer(**settings, checkpoint_dir=tmp_path, callbacks=[Crash()]).fit(mlp(), TensorDataset(X, y), (X, y))
    resumed = Trainer(**settings).fit(mlp(), TensorDataset(X, y), (X, y), resume_from=tmp_path / "last.pt").records
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in whole]


def test_class_names_as_labels_are_one_message_naming_the_encoding():
    # torch said "can't convert np.ndarray of type numpy.str_", a loader's tuple of names "'tuple' object has no
    # attribute 'ndim'"
    X, y = blobs()
    names = ["cat", "dog", "eel"]

    class Named(Dataset):
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return X[i], names[int(y[i])]

    match = r"train: the labels are names \('\w+', '\w+', '\w+', ...\), not class indices; encode them first"
    with pytest.raises(DataError, match=match):
        Trainer(epochs=1).fit(mlp(), DataLoader(Named(), batch_size=16))
    with pytest.raises(DataError, match=r"the labels are names \('(cat|dog|eel)'"):
        Trainer(epochs=1).fit(mlp(), (X, [names[int(i)] for i in y]))


def test_raw_text_as_inputs_is_one_message_naming_token_ids():
    # torch said "can't convert np.ndarray of type numpy.str_"
    with pytest.raises(DataError, match=r"train: X holds text \('good movie', ...\); a model reads token ids"):
        Trainer(epochs=1).fit(mlp(), (["good movie", "bad film"], [1, 0]))
    with pytest.raises(DataError, match=r"data: X holds text"):
        Trainer().predict(mlp(), np.array(["good movie", "bad film"]))
