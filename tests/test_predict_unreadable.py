"""Predictions stay aligned with the items when some cannot be read: `predict` on a DataLoader with
`knobs.data.skip_unreadable` gives a NaN row for each item left out (it gave fewer rows, every later
output shifted onto the item before it), and `knobs predict` writes a row for every input file, the
unreadable ones marked."""

import csv

import numpy as np
import pytest
import torch
from torch import nn

from knobs.data import ImageFolder, scan_image_folder, skip_unreadable
from knobs.errors import DataError
from knobs.train import Trainer
from knobs.train._predict import predict
from test_skip_unreadable import PER_CLASS, _damage, _folder

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:left out")
BAD = 3


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


@pytest.fixture
def folder(tmp_path):
    root = _folder(tmp_path / "img")
    files = scan_image_folder(root, bad_files="skip")
    readable = torch.stack([ImageFolder(files)[i][0] for i in range(2 * PER_CLASS)])  # before the damage
    _damage(root / "a" / f"{BAD}.jpg")
    return ImageFolder(files, bad_files="skip"), readable


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_item_gets_a_nan_row_and_the_others_keep_theirs(folder, workers):
    dataset, images = folder
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=skip_unreadable)
    out = predict(Net(), loader, batch_size=4)
    assert out.shape == (2 * PER_CLASS, 2)
    assert out[BAD].isnan().all() and not out[np.arange(2 * PER_CLASS) != BAD].isnan().any()
    expected = Net().eval()(images)
    good = [i for i in range(2 * PER_CLASS) if i != BAD]
    assert torch.equal(out[good], expected[good].detach())  # row i is item i's, as without the damage
    torch.testing.assert_close(Trainer().predict(Net(), loader), out, rtol=0, atol=0, equal_nan=True)


def test_a_subset_of_the_folder_is_aligned_to_its_own_items(folder):
    dataset, images = folder
    subset = torch.utils.data.Subset(dataset, [5, BAD, 1, 8])
    out = predict(Net(), torch.utils.data.DataLoader(subset, batch_size=3, collate_fn=skip_unreadable), batch_size=3)
    assert out[1].isnan().all()
    assert torch.equal(out[[0, 2, 3]], Net().eval()(images[[5, 1, 8]]).detach())


def test_a_shuffled_loader_with_an_item_left_out_is_refused(folder):
    dataset, _ = folder
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, collate_fn=skip_unreadable)
    with pytest.raises(DataError, match="cannot be matched to the items.*shuffle=False"):
        predict(Net(), loader, batch_size=4)


def test_a_loader_that_drops_items_unlisted_is_refused():
    """A collate function of the user's own that drops items, on a dataset that does not list them."""
    data = torch.utils.data.TensorDataset(torch.randn(6, 3 * 8 * 8))
    loader = torch.utils.data.DataLoader(data, batch_size=3, collate_fn=lambda items: torch.stack([x for (x,) in items[1:]]))
    with pytest.raises(DataError, match="does not list them"):
        predict(Net(), loader, batch_size=3)
