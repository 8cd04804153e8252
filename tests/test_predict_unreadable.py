"""Predictions stay aligned with the items when some cannot be read: `predict` on a DataLoader with
`knobs.data.skip_unreadable` gives a NaN row for each item left out (it gave fewer rows, every later
output shifted onto the item before it), and `knobs predict` writes a row for every input file, the
unreadable ones marked."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.data import ImageFolder, scan_image_folder, skip_unreadable
from knobs.errors import DataError
from knobs.pipeline.commands._predict import predict_file
from knobs.train import Trainer
from knobs.train._predict import predict
from test_empty_batches import Net
from test_skip_unreadable import PER_CLASS, _damage, _folder

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:left out")
BAD = 3




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
    # NOTE: close, not equal: a batch of 4 and one of 10 may round differently (CPU kernels pick by shape);
    # neighbouring rows differ by ~0.02, so a shifted row still fails.
    torch.testing.assert_close(out[good], expected[good].detach())  # row i is item i's, as without the damage
    torch.testing.assert_close(Trainer().predict(Net(), loader), out, rtol=0, atol=0, equal_nan=True)


def test_a_subset_of_the_folder_is_aligned_to_its_own_items(folder):
    dataset, images = folder
    subset = torch.utils.data.Subset(dataset, [5, BAD, 1, 8])
    out = predict(Net(), torch.utils.data.DataLoader(subset, batch_size=3, collate_fn=skip_unreadable), batch_size=3)
    assert out[1].isnan().all()
    torch.testing.assert_close(out[[0, 2, 3]], Net().eval()(images[[5, 1, 8]]).detach())


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


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A finished one-trial ConvNet run on 8x8 images, trained with data.bad_files = "skip"."""
    from knobs.config import RunConfig
    from knobs.pipeline import Display, run

    tmp = tmp_path_factory.mktemp("image_run")
    root = tmp / "train"
    rng = np.random.default_rng(0)
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 100, (8, 8, 3)) + 100 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    cfg = RunConfig.model_validate({
        "name": "images", "runs_dir": str(tmp / "runs"), "seed": 0,
        "data": {"source": str(root), "bad_files": "skip", "standardize": "channel", "test": 0.25, "val": 0.25},
        "model": {"family": "convnet"},
        "search": {"n_trials": 1, "space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "channels": 2, "depth": 1}},
        "train": {"epochs": 1, "threads": 1},
        "checks": {"overfit_tiny": False, "initial_loss": False}, "ensemble": {"enabled": False}})
    result = run(cfg, display=Display(quiet=True))
    new = tmp / "new"
    new.mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)).save(new / f"{i}.png")
    return result.path, new


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.reader(handle))


def test_knobs_predict_writes_a_marked_row_for_an_image_that_does_not_decode(image_run, tmp_path):
    from knobs.cli import main

    run_dir, new = image_run
    clean = _rows(predict_file(run_dir, new, tmp_path / "clean.csv"))
    damaged = tmp_path / "damaged"
    shutil.copytree(new, damaged)
    _damage(damaged / "1.png")
    with pytest.warns(UserWarning, match="1 of 4 input images do not decode"):
        rows = _rows(predict_file(run_dir, damaged, tmp_path / "out.csv"))
    assert rows[0] == clean[0] + ["unreadable"]
    assert [r[0] for r in rows[1:]] == ["0.png", "1.png", "2.png", "3.png"]  # one row per file, in order
    assert rows[2][1:-1] == [""] * (len(clean[0]) - 1) and "cannot decode" in rows[2][-1]
    assert [r[:-1] for r in rows[1:] if r[0] != "1.png"] == [r for r in clean[1:] if r[0] != "1.png"]  # unchanged
    assert all(r[-1] == "" for r in rows[1:] if r[0] != "1.png")
    assert main(["predict", "--run", str(run_dir), "--input", str(damaged), "--output", str(tmp_path / "cli.csv")]) == 0
    assert _rows(tmp_path / "cli.csv") == rows


def test_a_run_that_refused_bad_files_refuses_them_in_predict_too(image_run, tmp_path):
    run_dir, new = image_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "preprocess.json").read_text())
    record["loading"]["bad_files"] = "error"
    (copy / "preprocess.json").write_text(json.dumps(record))
    damaged = tmp_path / "damaged"
    shutil.copytree(new, damaged)
    _damage(damaged / "1.png")
    with pytest.raises(DataError, match="cannot decode image .*1.png"):
        predict_file(copy, damaged, tmp_path / "out.csv")
