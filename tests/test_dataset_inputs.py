"""Data as practitioners hand it over: a torch ``Dataset`` as it is (a ``TensorDataset``, a ``random_split``
``Subset``, their own), Hugging Face-style dict batches, classes numbered from 1 — trained, or one message that says
the exact fix."""

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
