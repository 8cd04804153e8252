"""`ImageFolder(bad_files="skip")` in a plain torch DataLoader of the user's own: with
`collate_fn=knobs.data.skip_unreadable` a file damaged after the scan is left out of its batch (no
other image in its place) and listed on the dataset — from worker processes too; without that
collate function the loader stops with one message naming the file and the way out."""

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.data import ImageFolder, UnreadableItem, scan_image_folder, skip_unreadable
from knobs.errors import DataError

torch.set_num_threads(1)

PER_CLASS = 5


def _folder(root):
    """Two classes of 8x8 JPEGs; image i of class c has the constant grey level 10 * (PER_CLASS * c + i) + 20."""
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            level = 10 * (PER_CLASS * c + i) + 20
            Image.fromarray(np.full((8, 8, 3), level, np.uint8)).save(root / name / f"{i}.jpg", quality=100)
    return root


def _damage(path):
    """Random bytes in place of the file (after the scan read its header)."""
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 400, dtype=np.uint8).tobytes())


@pytest.fixture
def folder(tmp_path):
    root = _folder(tmp_path / "img")
    files = scan_image_folder(root, bad_files="skip")
    _damage(root / "a" / "3.jpg")
    return root, ImageFolder(files, bad_files="skip")


@pytest.mark.parametrize("workers", [0, 2])
def test_a_plain_dataloader_yields_every_good_image_once_and_the_dataset_lists_the_bad_one(folder, workers):
    root, dataset = folder
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=workers,
                                         collate_fn=skip_unreadable, generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="3.jpg"):
        batches = [(images, labels) for images, labels in loader]
    levels = torch.cat([images[:, 0, 0, 0] for images, _ in batches]).mul(255).round().long().tolist()
    labels = torch.cat([labels for _, labels in batches]).tolist()
    good = [p for p in range(2 * PER_CLASS) if p != 3]
    assert sorted(levels) == [10 * p + 20 for p in good]  # each good image once, no stand-in for the bad one
    assert sorted(zip(levels, labels)) == [(10 * p + 20, p // PER_CLASS) for p in good]  # with its own label
    assert sum(len(images) for images, _ in batches) == 2 * PER_CLASS - 1
    [record] = dataset.unreadable
    assert record["file"] == str(root / "a" / "3.jpg") and record["position"] == 3
    assert "cannot decode" in record["reason"] and "after the scan" in record["reason"]
    list(loader)  # a second epoch finds it again: listed once
    assert len(dataset.unreadable) == 1


def test_a_batch_of_only_unreadable_files_is_empty_and_shaped_as_the_folder(folder):
    _, dataset = folder
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, [3]), batch_size=2,
                                         collate_fn=skip_unreadable)
    with pytest.warns(UserWarning):
        [(images, labels)] = list(loader)
    assert images.shape == (0, 3, 8, 8) and labels.shape == (0,) and labels.dtype == torch.long
    assert [r["position"] for r in dataset.unreadable] == [3]


@pytest.mark.parametrize("workers", [0, 1])
def test_without_skip_unreadable_the_loader_stops_with_one_message_naming_the_file_and_the_way_out(folder, workers):
    root, dataset = folder
    assert isinstance(dataset[3], UnreadableItem)
    with pytest.raises(DataError, match="skip_unreadable") as caught:
        list(torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=workers))
    assert str(root / "a" / "3.jpg") in str(caught.value)
    with pytest.raises(DataError, match="skip_unreadable"):
        image, label = dataset[3]
