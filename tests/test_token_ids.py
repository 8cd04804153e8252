"""In-memory inputs reach each model in the dtype it reads: integer token ids stay int64 for a model with an
embedding table (fit, evaluate, predict, lr_find, the checks, diagnose), float inputs stay floats for it (a model may
embed positions and read features), and integer features take the float dtype of any other model (predict included)."""

import pytest
import torch
from torch import nn

import knobs
from knobs.checks import check_initial_loss, gradient_check, overfit_tiny
from knobs.train import Trainer, lr_find
from knobs.train._batches import as_tensors, cast_inputs, input_dtype

torch.set_num_threads(1)


class Bag(nn.Module):
    """A user's own text model: ids into an embedding table, averaged, then a linear head."""

    def __init__(self, vocab=50):
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.head = nn.EmbeddingBag(vocab, 16), nn.Linear(16, 2)

    def forward(self, ids):
        return self.head(self.embed(ids))


def ids_and_labels(n=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 50, (n, 8), generator=g)
    return ids, (ids < 25).sum(1).gt(4).long()  # the label is in which ids a row holds


def test_a_users_embedding_model_trains_evaluates_and_predicts_on_an_id_tensor():
    ids, y = ids_and_labels()
    trainer = Trainer(epochs=15, lr=3e-2)
    history = trainer.fit(Bag(), (ids, y), ids_and_labels(seed=1))
    assert history.records[-1]["val_accuracy"] > 0.7
    assert trainer.evaluate(trainer.model_, ids_and_labels(seed=1))["accuracy"] == history.records[-1]["val_accuracy"]
    assert trainer.predict(trainer.model_, ids.numpy()).shape == (160, 2)
    assert lr_find(Bag(), (ids, y), steps=20, seeds=(0,)).raw.shape == (1, 20)


def test_the_checks_and_diagnose_read_ids_as_ids():
    ids, y = ids_and_labels()
    assert check_initial_loss(Bag, ids, y).passed
    assert overfit_tiny(Bag, ids, y).passed
    assert gradient_check(Bag(), ids, y).passed
    report = knobs.diagnose(Bag(), (ids, y), ids_and_labels(seed=1), epochs=1)
    assert {check.name for check in report.checks} >= {"initial_loss", "gradient_check", "overfit_tiny"}
    # EmbeddingBag has no double backward (torch's), so its curvature is an error, but not a dtype one any more
    assert "indices" not in report.evidence["curvature"]["error"]

    class Embedded(nn.Module):  # nn.Embedding has one: the curvature is measured on the ids
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embed, self.head = nn.Embedding(50, 16), nn.Linear(16, 2)

        def forward(self, ids):
            return self.head(self.embed(ids).mean(1))

    report = knobs.diagnose(Embedded(), (ids, y), ids_and_labels(seed=1), epochs=1)
    assert report.evidence["curvature"]["eigenvalue"] > 0


def test_integer_features_are_floats_for_a_model_without_an_embedding_table():
    X = torch.randint(0, 5, (64, 8))
    y = (X[:, 0] > 2).long()
    mlp = nn.Sequential(nn.Linear(8, 2))
    Trainer(epochs=1).fit(mlp, (X, y))
    assert Trainer().predict(mlp, X.numpy()).dtype == torch.float32  # predict kept the integers before


def test_cast_inputs_keeps_ids_exact_and_gives_other_models_their_float_dtype():
    big = torch.tensor([[2**25 + 1, 3]])
    assert cast_inputs(big, torch.long).tolist() == [[2**25 + 1, 3]]  # float32 would round it
    assert as_tensors((big, torch.tensor([1])), "train", "classification", torch.long)[0].dtype == torch.long
    assert cast_inputs(torch.tensor([[1, 2]], dtype=torch.int32), torch.long).dtype == torch.long
    assert cast_inputs(torch.tensor([[1.0, 2.0]]), torch.long).dtype == torch.float32  # floats are never made ids
    assert cast_inputs(torch.tensor([[1, 2]], dtype=torch.int32), torch.float32).dtype == torch.float32
    assert cast_inputs(torch.ones(2, 2, dtype=torch.float64), torch.float32).dtype == torch.float32
    assert input_dtype(Bag()) == torch.long and input_dtype(nn.Linear(2, 2)) == torch.float32
    assert input_dtype(nn.Linear(2, 2).double()) == torch.float64 and input_dtype(nn.ReLU()) == torch.float32


def test_a_float64_model_reads_float64_inputs():
    X = torch.randn(64, 8)
    y = (X[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(8, 2)).double()
    history = Trainer(epochs=5, lr=3e-2, batch_size=8).fit(model, (X, y), (X, y))
    assert history.records[-1]["val_accuracy"] > 0.7
    assert Trainer().predict(model, X).dtype == torch.float32  # outputs as float32, as for any model


def test_a_model_with_nothing_to_train_is_one_message():
    frozen = nn.Sequential(nn.Linear(8, 2))
    frozen.requires_grad_(False)
    X, y = torch.randn(16, 8), torch.randint(0, 2, (16,))
    with pytest.raises(knobs.ConfigError, match=r"the model \(Sequential\) has no trainable parameters.*unfreeze"):
        Trainer(epochs=1).fit(frozen, (X, y))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_a_loaders_integer_batches_follow_the_same_rule(dtype):
    from torch.utils.data import DataLoader, TensorDataset

    ids, y = ids_and_labels()
    history = Trainer(epochs=2, lr=3e-2).fit(Bag(), DataLoader(TensorDataset(ids.to(dtype), y), batch_size=32))
    assert len(history.records) == 2
    X = ids.to(dtype)
    Trainer(epochs=1).fit(nn.Sequential(nn.Linear(8, 2)), DataLoader(TensorDataset(X, y), batch_size=32))


def test_integer_images_reaching_a_float_model_warn_once_that_they_are_unscaled():
    import warnings

    from torch.utils.data import DataLoader, TensorDataset

    from knobs.train._batches import RawPixelsWarning

    X = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    y = torch.randint(0, 2, (64,))
    model = nn.Sequential(nn.Flatten(), nn.Linear(192, 2))
    with pytest.warns(RawPixelsWarning, match=r"train: torch.uint8 images reach the model as floats in 0..\d+; scale "
                                              r"them first \(x.float\(\) / 255") as caught:
        Trainer(epochs=2).fit(model, DataLoader(TensorDataset(X, y), batch_size=16))
    assert len([w for w in caught if w.category is RawPixelsWarning]) == 1  # once a fit, not once a batch
    with warnings.catch_warnings():
        warnings.simplefilter("error", RawPixelsWarning)
        Trainer(epochs=1).fit(model, (X.float() / 255, y))  # scaled: nothing to say
        Trainer(epochs=1).fit(nn.Sequential(nn.Linear(8, 2)), (torch.randint(0, 5, (64, 8)), y))  # counts, not pixels
