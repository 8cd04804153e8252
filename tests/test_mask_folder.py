"""Segmentation folders (``images/`` with ``masks/``): pairs by file stem, mask values as classes, an ignore value,
resizing that keeps classes whole, every bad pair named (or skipped and listed), and the whole cycle — `knobs run` with
an official test folder, `knobs evaluate` on a folder, `knobs predict` on new images."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from torch import nn

import knobs
from knobs.data import load_dataset
from knobs.data._mask_folder import is_mask_folder, load_mask_folder
from knobs.errors import ConfigError, DataError
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import predict_file
from summary_schema import check_summary

BORDER = 255


def make_folder(root, n=24, seed=0, size=16, border=True):
    """Noisy grey images with a bright square (class 1) and a dark one (class 2) on background 0; the top row of
    every mask marked ``BORDER`` (no class, as Pascal VOC marks object borders)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        image = rng.normal(120, 15, (size, size, 3))
        mask = np.zeros((size, size), np.uint8)
        for cls, value in ((1, 230), (2, 20)):
            r, c = rng.integers(1, size - 6, 2)
            h, w = rng.integers(3, 6, 2)
            image[r:r + h, c:c + w] = value
            mask[r:r + h, c:c + w] = cls
        if border:
            mask[0, :] = BORDER
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(root / "images" / f"{i:03d}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i:03d}.png")
    return root


def test_pairs_are_read_with_mask_values_as_classes_and_the_ignore_value_as_none(tmp_path):
    root = make_folder(tmp_path / "seg", n=6)
    assert is_mask_folder(root) and not is_mask_folder(root / "images")
    data = load_dataset(str(root), ignore_index=BORDER)
    assert data.task == "segmentation" and data.image_shape == (3, 16, 16) and data.X.shape == (6, 3 * 16 * 16)
    assert data.class_names == ["0", "1", "2"] and data.y.shape == (6, 16, 16)
    assert (data.y[:, 0] == -100).all() and set(np.unique(data.y[:, 1:])) == {0, 1, 2}
    assert list(data.row_ids[:2]) == ["images/000.png", "images/001.png"]
    assert data.loading["layout"] == "masks" and "value 255: no class" in data.loading["note"]
    raw = np.asarray(Image.open(root / "masks" / "003.png"))
    np.testing.assert_array_equal(np.where(data.y[3] == -100, BORDER, data.y[3]), raw)


def test_without_the_ignore_value_255_is_a_class_and_the_run_says_how_to_mark_it(tmp_path):
    data = load_dataset(str(make_folder(tmp_path / "seg", n=4)))
    assert data.class_names == ["0", "1", "2", "255"] and (data.y != -100).all()
    assert "set data.ignore_index = 255" in data.loading["note"]


def test_resizing_keeps_every_mask_pixel_one_of_the_classes(tmp_path):
    data = load_mask_folder(make_folder(tmp_path / "seg", n=4), image_size=(9, 7), ignore_index=BORDER)
    assert data.image_shape == (3, 9, 7) and data.y.shape == (4, 9, 7)
    assert set(np.unique(data.y)) <= {-100, 0, 1, 2}  # nearest neighbour: no value between two classes


def test_an_image_without_its_mask_is_named_or_skipped_and_listed(tmp_path):
    root = make_folder(tmp_path / "seg", n=5)
    (root / "masks" / "002.png").unlink()
    with pytest.raises(DataError, match=r"002.png' has no mask \(no masks/002\.\* beside it\).*bad_files = \"skip\""):
        load_mask_folder(root)
    data = load_mask_folder(root, bad_files="skip", ignore_index=BORDER)
    assert len(data.y) == 4 and data.loading["skipped_count"] == 1 and "002.png" in data.loading["skipped"][0]["file"]
    (root / "masks" / "extra.png").write_bytes((root / "masks" / "001.png").read_bytes())
    assert load_mask_folder(root, bad_files="skip").loading["masks_without_image"][0].endswith("extra.png")


def test_masks_that_cannot_label_their_images_are_refused_with_the_fix(tmp_path):
    root = make_folder(tmp_path / "seg", n=3)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "masks" / "001.png")
    with pytest.raises(DataError, match=r"16x16 pixels and its mask '001.png' 8x8"):
        load_mask_folder(root)
    colours = np.zeros((16, 16, 3), np.uint8)
    colours[4:8, 4:8] = (255, 0, 0)
    Image.fromarray(colours).save(root / "masks" / "001.png")
    with pytest.raises(DataError, match=r"colour image whose channels differ.*class id per pixel"):
        load_mask_folder(root)
    grey = np.repeat(np.asarray(Image.open(root / "masks" / "000.png"))[..., None], 3, axis=2)
    Image.fromarray(grey).save(root / "masks" / "001.png")  # an RGB file of equal channels reads as one channel
    assert load_mask_folder(root).y.shape == (3, 16, 16)


def test_data_rows_decodes_only_its_draw_so_a_folder_over_the_budget_can_be_tried(tmp_path):
    from knobs.config import load_config
    from knobs.data._arrays import subsample
    from knobs.pipeline.inputs._source import load_source

    root = make_folder(tmp_path / "seg", n=10)
    whole = load_dataset(str(root))
    with pytest.raises(DataError, match=r"over the memory budget"):
        load_dataset(str(root), memory=10 * 16 * 16 * 20 - 1)
    part = load_dataset(str(root), memory=10 * 16 * 16 * 20 - 1, rows=4, seed=3)  # 4 of 10 fit
    drawn = subsample(whole, 4, 3)
    assert list(part.row_ids) == list(drawn.row_ids) and np.array_equal(part.y, drawn.y)
    assert part.loading["rows_sampled"] == 4 and part.loading["rows_before_sampling"] == 10
    given, _ = load_source(load_config(None, {"runs_dir": str(tmp_path / "runs"), "data.source": str(root),
                                              "data.rows": 4, "seed": 3}))
    assert list(given.dataset.row_ids) == list(drawn.row_ids)  # the run's own data.rows step finds it drawn


def test_options_that_do_not_fit_the_folder_are_refused_by_name(tmp_path):
    root = make_folder(tmp_path / "seg", n=3)
    with pytest.raises(ConfigError, match=r"max_per_class.*data.rows"):
        load_dataset(str(root), max_per_class=2)
    with pytest.raises(DataError, match=r"over the memory budget.*data.memory"):
        load_dataset(str(root), memory=1000)
    classes = tmp_path / "classes"
    for name in ("a", "b"):
        (classes / name).mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(classes / name / "0.png")
    with pytest.raises(ConfigError, match=r"ignore_index.*class folders: remove ignore_index"):
        load_dataset(str(classes), ignore_index=255)


def test_an_official_test_folder_must_be_a_segmentation_folder_of_the_training_classes(tmp_path):
    from knobs.config import load_config
    from knobs.pipeline.inputs._source import load_source

    train = make_folder(tmp_path / "train", n=6)
    settings = {"runs_dir": str(tmp_path / "runs"), "data.source": str(train), "data.ignore_index": BORDER}
    test = make_folder(tmp_path / "test", n=4, seed=1)
    given, ids = load_source(load_config(None, {**settings, "data.test": str(test)}))
    assert given.test[1].shape == (4, 16, 16) and list(ids) == [f"images/00{i}.png" for i in range(4)]
    np.testing.assert_array_equal(given.test[1][:, 0], -100)  # the ignore value read as in training
    with pytest.raises(DataError, match=r"test set is a folder like its source, images/ with masks/"):
        load_source(load_config(None, {**settings, "data.test": str(test / "images")}))
    mask = np.asarray(Image.open(test / "masks" / "001.png")).copy()
    mask[5, 5] = 7  # a class the training masks never show
    Image.fromarray(mask).save(test / "masks" / "001.png")
    with pytest.raises(DataError, match=r"test masks have classes \[7\] that the training masks lack"):
        load_source(load_config(None, {**settings, "data.test": str(test)}))


def fcn(params, info):
    width = int(params.get("width", 12))
    return nn.Sequential(nn.Conv2d(info.input_shape[0], width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
                         nn.Conv2d(width, info.n_classes, 1))


@pytest.mark.slow
def test_knobs_run_trains_on_a_segmentation_folder_and_scores_its_official_test_folder(tmp_path):
    train, test = make_folder(tmp_path / "train", n=60), make_folder(tmp_path / "test", n=16, seed=1)
    result = knobs.run(model=fcn, data=str(train), runs_dir=str(tmp_path / "runs"), quiet=True, n_trials=2,
                       epochs=15, space={"lr": knobs.Float(5e-3, 2e-2, log=True), "batch_size": 8},
                       **{"data.test": str(test), "data.ignore_index": BORDER, "search.sampler": "random",
                          "augment": {"hflip": 0.5, "vflip": 0.5, "translate": 0.1}})  # masks move with their images
    summary = result.summary
    assert summary["data"]["task"] == "segmentation" and summary["test"]["n"] == 16
    assert summary["practices"]["augment"] == {"hflip": 0.5, "vflip": 0.5, "translate": 0.1}
    sample = Image.open(result.path / "views" / "samples" / "0.png")  # an augmented image beside its moved mask
    assert sample.size == (2 * 16 + 1, 16)
    assert summary["test"]["mean_iou"] > 0.6
    assert check_summary(json.loads((result.path / "summary.json").read_text())) == []
    scored = evaluate_file(result.path, test)
    assert scored["n"] == 16 and scored["metrics"]["mean_iou"] == pytest.approx(summary["test"]["mean_iou"], abs=1e-6)
    assert scored["interval_method"].startswith("percentile bootstrap over images")
    new = tmp_path / "new"
    new.mkdir()
    for name in ("000.png", "001.png"):
        (new / name).write_bytes((test / "images" / name).read_bytes())
    Image.open(test / "images" / "002.png").resize((24, 20)).save(new / "002.png")  # another size: back at its own
    written = predict_file(result.path, new)
    masks = np.load(written.with_name(written.stem + ".masks.npy"))
    assert masks.shape == (3, 16, 16) and set(np.unique(masks)) <= {0, 1, 2}
    with open(written) as handle:
        assert [row["row"] for row in csv.DictReader(handle)] == ["000.png", "001.png", "002.png"]
    files = sorted((tmp_path / "new.predictions.masks").iterdir())
    assert [f.name for f in files] == ["000.png", "001.png", "002.png"]  # the masks/ layout, one per image
    np.testing.assert_array_equal(np.asarray(Image.open(files[0])), masks[0])
    assert Image.open(files[2]).size == (24, 20) and set(np.unique(np.asarray(Image.open(files[2])))) <= {0, 1, 2}
    with pytest.raises(DataError, match=r"images/ with masks/"):
        evaluate_file(result.path, new)
