"""A batch whose every item is unreadable comes out of `knobs.data.skip_unreadable` with 0 rows:
the Trainer (fit, validation, evaluate, predict) and `diagnose` pass it over — no step, no loss, no
rows in an average — instead of crashing in the model or reading its NaN loss as divergence."""

import warnings

import pytest
import torch
from torch import nn

from knobs.data import ImageFolder, scan_image_folder, skip_unreadable
from knobs.diagnose import diagnose
from knobs.errors import DataError
from knobs.train import Trainer
from test_skip_unreadable import PER_CLASS, _damage, _folder

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore:left out")
DAMAGED = (0, 1)  # the first batch of 2, in order: wholly unreadable


class Net(nn.Module):
    """A linear model that flattens with ``view(len(x), -1)``, which a batch of 0 rows breaks."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 2)

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))


@pytest.fixture
def loader(tmp_path):
    root = _folder(tmp_path / "img")
    files = scan_image_folder(root, bad_files="skip")
    for i in DAMAGED:
        _damage(root / "a" / f"{i}.jpg")
    dataset = ImageFolder(files, bad_files="skip")
    return torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=False, collate_fn=skip_unreadable)


def _good(loader):
    """The readable rows, as tensors."""
    batches = [batch for batch in loader if len(batch[1])]
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


def test_the_loader_gives_an_empty_batch(loader):
    assert [len(labels) for _, labels in loader] == [0, 2, 2, 2, 2]


def test_fit_validation_and_evaluate_pass_over_the_empty_batch(loader):
    X, y = _good(loader)
    steps = []
    # lr 1e-30: the model stays as built, so each epoch's losses are the initial model's over the good rows
    trainer = Trainer(optimizer="sgd", lr=1e-30, epochs=2, seed=0, callbacks=[type("S", (), {
        "on_step_end": lambda self, trainer, record: steps.append(record["batch"])})()])
    history = trainer.fit(Net(), loader, loader)
    expected = Trainer().evaluate(Net(), (X, y))
    assert trainer.step_ == 2 * (2 * PER_CLASS - len(DAMAGED)) // 2 and steps == [0, 1, 2, 3] * 2  # no step for it
    for record in history.records:
        assert record["train_loss"] == pytest.approx(expected["loss"], rel=1e-6)   # over the 8 good rows only
        assert record["val_loss"] == pytest.approx(expected["loss"], rel=1e-6)
        assert record["val_accuracy"] == pytest.approx(expected["accuracy"])
    assert trainer.evaluate(trainer.model_, loader) == pytest.approx(expected)


def test_predict_passes_over_the_empty_batch(loader):
    X, _ = _good(loader)
    out = Trainer().predict(Net(), loader)
    assert out.shape == (2 * PER_CLASS, 2) and out[list(DAMAGED)].isnan().all()  # a NaN row per unreadable item
    assert torch.allclose(out[len(DAMAGED):], Net()(X))


def test_diagnose_passes_over_the_empty_batch(loader):
    report = diagnose(Net(), loader, loader, epochs=2)
    assert report.evidence["run"]["records"] and all(
        r["train_loss"] is not None for r in report.evidence["run"]["records"])


def test_a_loader_of_no_readable_item_is_one_message(loader):
    only_bad = torch.utils.data.DataLoader(torch.utils.data.Subset(loader.dataset, list(DAMAGED)), batch_size=2,
                                           collate_fn=skip_unreadable)
    X, y = _good(loader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="unreadable"):
            Trainer(epochs=1).fit(Net(), only_bad)
        with pytest.raises(DataError, match="unreadable"):
            Trainer(epochs=1).fit(Net(), (X, y), only_bad)
        with pytest.raises(DataError, match="unreadable"):
            Trainer().predict(Net(), only_bad)
        with pytest.raises(DataError, match="unreadable"):
            diagnose(Net(), only_bad, loader)
