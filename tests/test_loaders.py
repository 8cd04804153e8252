"""Image folders, the load_dataset dispatch and its options, the saved preprocessing, and
`knobs run` on a CSV with categories and missing values and on an image folder."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.config import DataConfig, load_config
from knobs.data._mask_folder import load_mask_folder
from knobs.data import (
    OPTIONS, ImageFolder, Preprocessing, Standardizer, TabularPreprocessor, encode_splits, load_csv,
    load_dataset, load_image_folder, load_text_csv, loader_options, read_image, scan_image_folder, split,
)
from knobs.errors import ConfigError, DataError

torch.set_num_threads(1)


def image_folder(tmp_path, classes=("cat", "dog"), n=6, size=(10, 8), mode="L", name="imgs"):
    """Tiny PNGs: class k has its top half at brightness 60 + 120 k (learnable in a few steps)."""
    rng = np.random.default_rng(0)
    root = tmp_path / name
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            h, w = size
            pixels = rng.integers(0, 40, (h, w, 3) if mode == "RGB" else (h, w)).astype(np.uint8)
            pixels[: h // 2] += np.uint8(60 + 120 * k)
            Image.fromarray(pixels).save(root / cls / f"{i:03d}.png")
    return root


# --- image folders --------------------------------------------------------------------------------

def test_image_folder_loads_channels_first_in_unit_range(tmp_path):
    root = image_folder(tmp_path, size=(6, 4))
    ds = load_image_folder(root)
    assert ds.image_shape == (1, 6, 4) and ds.X.shape == (12, 24) and ds.X.dtype == np.float32
    assert ds.class_names == ["cat", "dog"] and ds.y.tolist() == [0] * 6 + [1] * 6
    first = np.asarray(Image.open(root / "cat" / "000.png"), dtype=np.float32) / 255
    assert np.allclose(ds.X[0].reshape(6, 4), first)
    assert ds.loading["classes"] == {"cat": 6, "dog": 6} and ds.loading["resized"] == 0
    assert ds.loading["channels"] == 1 and ds.loading["skipped"] == []


def test_resize_and_channels(tmp_path):
    root = image_folder(tmp_path, size=(16, 16), mode="RGB")
    ds = load_image_folder(root, image_size=8)
    assert ds.image_shape == (3, 8, 8) and ds.loading["resized"] == 12
    assert load_image_folder(root, image_size=(4, 6), image_channels=1).image_shape == (1, 4, 6)
    # a grayscale image in a colour set becomes three equal channels
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(root / "cat" / "gray.png")
    mixed = load_image_folder(root, image_size=8)
    gray = mixed.X[mixed.y == 0][-1].reshape(3, 8, 8)
    assert mixed.image_shape == (3, 8, 8) and np.allclose(gray, 200 / 255)
    # 16-bit images are scaled by 65535, not clipped at 255
    Image.fromarray(np.full((16, 16), 30000, np.uint16)).save(root / "dog" / "deep.png")
    assert np.allclose(read_image(root / "dog" / "deep.png", (8, 8), 1), 30000 / 65535, atol=1e-4)


def test_mixed_sizes_need_an_image_size(tmp_path):
    root = image_folder(tmp_path, size=(8, 8))
    Image.fromarray(np.zeros((5, 7), np.uint8)).save(root / "dog" / "odd.png")
    with pytest.raises(DataError, match=r"2 different sizes \(8x8 \(12 images\), 7x5 \(1 images\)\); set image_size"):
        load_image_folder(root)
    assert load_image_folder(root, image_size=8).loading["resized"] == 1


def test_non_image_file_is_named_or_skipped_and_listed(tmp_path):
    root = image_folder(tmp_path)
    (root / "cat" / "notes.txt").write_text("not a picture")
    with pytest.raises(DataError, match=r"notes.txt' is not an image Pillow can read.*bad_files = \"skip\""):
        load_image_folder(root)
    ds = load_image_folder(root, bad_files="skip")
    assert len(ds) == 12 and ds.loading["skipped_count"] == 1
    assert ds.loading["skipped"][0]["file"].endswith("cat/notes.txt")
    # a file that has an image header but broken data fails at decoding, named the same way
    (root / "cat" / "notes.txt").unlink()
    data = (root / "dog" / "000.png").read_bytes()
    (root / "dog" / "broken.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot decode image '.*dog/broken.png'"):
        load_image_folder(root)
    assert load_image_folder(root, bad_files="skip").loading["skipped_count"] == 1


def test_folder_layout_errors_name_the_folder(tmp_path):
    root = image_folder(tmp_path)
    (root / "bird").mkdir()
    with pytest.raises(DataError, match=r"class folder '.*imgs/bird' holds no images"):
        load_image_folder(root)
    (root / "bird").rmdir()
    (root / "stray.png").write_bytes((root / "cat" / "000.png").read_bytes())
    with pytest.raises(DataError, match=r"stray.png' lies outside the class folders"):
        load_image_folder(root)
    (root / "stray.png").unlink()
    (root / ".DS_Store").write_text("x")
    assert load_image_folder(root).loading["ignored"] == [str(root / ".DS_Store")]
    nested = tmp_path / "nested"
    (nested / "train").mkdir(parents=True)
    (root).rename(nested / "train" / "imgs")
    with pytest.raises(DataError, match=r"holds a folder 'imgs'.*point the source at"):
        load_image_folder(nested)
    with pytest.raises(DataError, match="image folder not found"):
        load_image_folder(tmp_path / "nowhere")


def test_memory_guard_and_max_per_class(tmp_path):
    root = image_folder(tmp_path, n=5)
    with pytest.raises(DataError, match=r"take .* GiB as float32, over max_bytes.*ImageFolder"):
        load_image_folder(root, max_bytes=1000)
    ds = load_image_folder(root, max_per_class=2)
    assert ds.loading["classes"] == {"cat": 2, "dog": 2}
    with pytest.raises(ConfigError, match="max_per_class"):
        load_image_folder(root, max_per_class=0)


def test_lazy_image_folder_matches_the_in_memory_load_through_a_dataloader(tmp_path):
    root = image_folder(tmp_path, size=(8, 8), mode="RGB")
    lazy = ImageFolder(scan_image_folder(root), image_size=4)
    eager = load_image_folder(root, image_size=4)
    assert len(lazy) == 12 and lazy.image_shape == eager.image_shape == (3, 4, 4)
    loader = torch.utils.data.DataLoader(lazy, batch_size=5, shuffle=False, **loader_options("cpu", cpu_count=1))
    X = torch.cat([x for x, _ in loader])
    assert torch.allclose(X.reshape(12, -1), torch.from_numpy(eager.X)) and lazy.targets.tolist() == eager.y.tolist()


def test_loader_options_decide_workers_and_pinning():
    assert loader_options("cpu", cpu_count=2) == {"num_workers": 1, "pin_memory": False, "persistent_workers": True}
    assert loader_options("cuda", cpu_count=32)["num_workers"] == 8 and loader_options("cuda")["pin_memory"]
    assert loader_options("cuda", decoded_on_access=False, cpu_count=16) == {
        "num_workers": 0, "pin_memory": True, "persistent_workers": False}


# --- dispatch and options -------------------------------------------------------------------------

def test_load_dataset_resolves_kinds_and_refuses_options_of_other_kinds(tmp_path):
    root = image_folder(tmp_path)
    csv = tmp_path / "t.csv"
    csv.write_text("a,label\n1,0\n2,1\n")
    assert load_dataset(root).loading["kind"] == "images"
    assert load_dataset(csv).loading["kind"] == "tabular"
    with pytest.raises(ConfigError, match=r"data option 'image_size' does not apply to tabular data"):
        load_dataset(csv, image_size=8)
    with pytest.raises(ConfigError, match=r"data option 'missing' does not apply to images data"):
        load_dataset(root, missing="drop")
    with pytest.raises(ConfigError, match="does not apply to the built-in data set"):
        load_dataset("digits", kind="text")
    with pytest.raises(ConfigError, match="option 'target' does not apply to builtin"):
        load_dataset("digits", target="y")
    with pytest.raises(ConfigError, match="is a folder, which loads as images"):
        load_dataset(root, kind="tabular")
    with pytest.raises(ConfigError, match="needs a folder"):
        load_dataset(csv, kind="images")


def test_config_defaults_are_the_loaders_defaults():
    defaults = DataConfig()
    loaders = {"tabular": load_csv, "text": load_text_csv, "images": load_image_folder}
    for kind, loader in loaders.items():
        params = inspect.signature(loader).parameters
        if kind == "images":  # a segmentation folder's options: load_mask_folder's
            params = {**params, **inspect.signature(load_mask_folder).parameters}
        for key in OPTIONS[kind] & set(DataConfig.model_fields):
            config_default = getattr(defaults, key)
            loader_default = params[key].default
            if key in ("target", "text_column"):  # None in a config: "label" / not a text table
                assert config_default is None and loader_default in ("label", "text")
            else:
                assert config_default == loader_default or (config_default == [] and loader_default == ()), (kind, key)
    assert defaults.loader_options() == {}


def test_preprocessing_saves_as_json_and_reapplies_exactly(tmp_path):
    csv = tmp_path / "m.csv"
    rows = [f"{'' if i % 7 == 0 else i},{['red', 'blue', 'green'][i % 3]},{i % 2}" for i in range(40)]
    csv.write_text("x,c,label\n" + "\n".join(rows) + "\n")
    ds = load_csv(csv, missing="mean")
    splits = split(ds, val=0.2, test=0.2, seed=1)
    pre, encoded, report = encode_splits(ds, splits)
    scaler = Standardizer().fit(encoded.train[0])
    prep = Preprocessing.of(ds, pre, scaler, (encoded.train[0].shape[1],), report)
    path = prep.save(tmp_path / "preprocess.json")
    doc = json.loads(path.read_text())
    assert doc["preprocessor"]["kind"] == "tabular" and doc["loading"]["missing"] == "mean"
    assert doc["encoding"]["fitted_on"] == "train" and doc["encoding"]["test"]["rows"] == len(splits.test[1])
    again = Preprocessing.load(path)
    raw = np.array([["", "green"], ["3", "purple"]])
    assert np.array_equal(again.transform(raw), prep.transform(raw))
    assert np.allclose(again.transform(splits.test[0]), scaler.transform(encoded.test[0]))
    assert isinstance(again.preprocessor, TabularPreprocessor)
    (tmp_path / "bad.json").write_text('{"format": 1}')
    with pytest.raises(DataError, match="preprocessing record lacks"):
        Preprocessing.load(tmp_path / "bad.json")


# --- knobs run end to end -------------------------------------------------------------------------

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 6, "checks.overfit_tiny": False,
        "name": "t"}


@pytest.mark.slow
def test_knobs_run_on_a_csv_with_categories_and_missing_values(tmp_path):
    from knobs.pipeline import Display, run

    rng = np.random.default_rng(0)
    rows = []
    for i in range(90):
        color = ["red", "green", "blue"][i % 3]
        size = "" if i % 5 == 0 else f"{rng.normal(10, 2):.2f}"
        rows.append(f"{size},{color},{'' if i % 11 == 0 else rng.choice(['a', 'b'])},{'hot' if color == 'red' else 'cold'}")
    csv = tmp_path / "shop.csv"
    csv.write_text("size,color,shelf,kind\n" + "\n".join(rows) + "\n")
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "data.source": str(csv), "data.target": "kind",
                             "data.missing": "median", "search.space": {"lr": {"low": 0.01, "high": 0.03}, "width": 16, "depth": 1}})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["test"]["accuracy"] >= 0.9  # the colour decides the class
    prep = Preprocessing.load(result.path / "preprocess.json")
    assert prep.record["loading"]["missing_cells"] == {"size": 18, "shelf": 9}
    assert prep.preprocessor.categorical == ["color", "shelf"] and prep.record["class_names"] == ["cold", "hot"]
    X = torch.as_tensor(prep.transform(np.array([["", "red", "a"], ["9", "blue", "?"]])))
    state = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    from knobs.models import build_model
    from knobs.pipeline.model._build import split_params

    model = build_model("mlp", input_shape=tuple(state["extra"]["input_shape"]), n_classes=2,
                        **split_params(state["extra"]["params"])[1])
    model.load_state_dict(state["model"])
    assert model.eval()(X).argmax(dim=1).tolist() == [1, 0]  # hot, cold


@pytest.mark.slow
def test_knobs_run_on_an_image_folder_with_a_convnet(tmp_path):
    from knobs.pipeline import Display, run

    root = image_folder(tmp_path, n=20, size=(12, 12))
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "data.source": str(root), "data.image_size": 8,
                             "model.family": "convnet",
                             "search.space": {"lr": {"low": 0.005, "high": 0.02}, "channels": 4, "depth": 1, "head_width": 8}})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["test"]["accuracy"] == 1.0
    prep = Preprocessing.load(result.path / "preprocess.json")
    assert prep.input_shape == (1, 8, 8) and prep.standardizer.mode == "channel"
    assert prep.transform_files([root / "dog" / "000.png"]).shape == (1, 1, 8, 8)


def test_bad_data_input_exits_2_naming_the_problem_and_leaves_no_run(tmp_path, capsys):
    from knobs.cli import main

    root = image_folder(tmp_path)
    (root / "dog" / "readme.md").write_text("hello")
    csv = tmp_path / "c.csv"
    csv.write_text("a,b,label\n1,x,0\n2,3,1\n")
    cases = [
        (f'[data]\nsource = "{root}"\n[model]\nfamily = "convnet"\n', "readme.md' is not an image"),
        (f'[data]\nsource = "{csv}"\n', "column 'b' mixes numbers and text"),
        (f'[data]\nsource = "{csv}"\ntarget = "y"\n', "no column 'y'"),
        (f'[data]\nsource = "{csv}"\nimage_size = 8\n', "data option 'image_size' does not apply to tabular data"),
    ]
    for i, (toml, message) in enumerate(cases):
        path = tmp_path / f"c{i}.toml"
        path.write_text(toml)
        assert main(["run", "--config", str(path), "--runs-dir", str(tmp_path / "runs"), "-q"]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
