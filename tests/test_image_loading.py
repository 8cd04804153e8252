"""Image folders decoded once: uint8 pixels scaled to the same float32 as read_image, a disk cache
that the next load of the same files reads instead of decoding, and a seeded max_per_class draw."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from knobs.data import load_dataset, load_image_folder, read_image, scan_image_folder
from knobs.data import _images
from knobs.errors import ConfigError


def folder(tmp_path, n=30, size=(6, 5), mode="RGB", name="imgs"):
    """Random images in two classes, files named 000.png ... so name order is obvious."""
    rng = np.random.default_rng(1)
    root = tmp_path / name
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            shape = (*size, 3) if mode == "RGB" else size
            Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8)).save(root / cls / f"{i:03d}.png")
    return root


def test_decoded_pixels_are_read_images_bits(tmp_path):
    root = folder(tmp_path, n=4)
    ds = load_image_folder(root, image_size=(4, 3), cache_dir=False)
    scan = scan_image_folder(root)
    expected = np.stack([read_image(f, (4, 3), 3).reshape(-1) for f in scan.files])
    assert ds.X.dtype == np.float32 and np.array_equal(ds.X, expected)
    gray = load_image_folder(root, image_channels=1, cache_dir=False)
    assert np.array_equal(gray.X[0], read_image(scan.files[0], (6, 5), 1).reshape(-1))
    assert ds.loading["cache"]["hit"] is False and ds.loading["cache"]["mib"] == round(8 * 36 / 2**20, 1)
    assert ds.loading["cache"]["message"].startswith("decoded 8 images once into a")


def test_second_load_reads_the_disk_cache_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    root = folder(tmp_path, n=5)
    cache = tmp_path / "cache"
    first = load_image_folder(root, cache_dir=cache)
    assert first.loading["cache"]["hit"] is False and len(list(cache.glob("*.npy"))) == 1
    decoded = []
    real = _images._decode_uint8
    monkeypatch.setattr(_images, "_decode_uint8", lambda *a: decoded.append(a) or real(*a))
    second = load_image_folder(root, cache_dir=cache)
    assert decoded == [] and second.loading["cache"]["hit"] is True
    assert np.array_equal(second.X, first.X) and second.y.tolist() == first.y.tolist()
    assert {k: v for k, v in second.loading.items() if k != "cache"} == \
        {k: v for k, v in first.loading.items() if k != "cache"}
    assert second.image_shape == first.image_shape and second.class_names == first.class_names
    # other options or changed files: another key, decoded again
    assert load_image_folder(root, image_size=3, cache_dir=cache).loading["cache"]["hit"] is False
    Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(root / "a" / "000.png")
    os.utime(root / "a" / "000.png", ns=(1, 1))
    changed = load_image_folder(root, cache_dir=cache)
    assert changed.loading["cache"]["hit"] is False and changed.X[0].max() == 0
    assert len(decoded) == 10 + 10


def test_small_folders_use_no_disk_cache_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("KNOBS_CACHE_DIR", str(tmp_path / "home-cache"))
    ds = load_image_folder(folder(tmp_path, n=3))
    assert ds.loading["cache"]["file"] is None and not (tmp_path / "home-cache").exists()
    monkeypatch.setattr("knobs.data._image_cache.AUTO_FROM", 4)
    ds = load_image_folder(tmp_path / "imgs")
    assert ds.loading["cache"]["file"].startswith(str(tmp_path / "home-cache" / "images"))


def test_max_per_class_is_a_seeded_random_draw_not_the_first_by_name(tmp_path):
    root = folder(tmp_path, n=30)
    names = lambda files: [f"{f.parent.name}/{f.name}" for f in files.files]
    first = names(scan_image_folder(root, max_per_class=5, seed=0))
    assert first == names(scan_image_folder(root, max_per_class=5, seed=0))
    assert first != [f"{c}/{i:03d}.png" for c in "ab" for i in range(5)]  # not the first five by name
    assert first != names(scan_image_folder(root, max_per_class=5, seed=1))
    assert first == sorted(first) and len(first) == 10 and len(set(first)) == 10
    ds = load_image_folder(root, max_per_class=5, seed=0, cache_dir=False)
    assert ds.loading["max_per_class_seed"] == 0 and ds.loading["classes"] == {"a": 5, "b": 5}
    assert load_dataset(root, seed=3, max_per_class=5).loading["max_per_class_seed"] == 3
    # every file when N covers the class; a bad seed is refused
    assert len(scan_image_folder(root, max_per_class=30, seed=7).files) == 60
    with pytest.raises(ConfigError, match="seed must be a non-negative integer"):
        scan_image_folder(root, max_per_class=5, seed=-1)


def test_a_bad_file_in_the_draw_is_replaced_by_another(tmp_path):
    root = folder(tmp_path, n=12)
    for i in range(12):
        if i % 2:
            (root / "a" / f"{i:03d}.png").write_text("not an image")
    files = scan_image_folder(root, max_per_class=4, bad_files="skip", seed=0)
    kept_a = [f.name for f, label in zip(files.files, files.labels) if label == 0]
    assert len(kept_a) == 4 and all(int(name[:3]) % 2 == 0 for name in kept_a)


def test_a_damaged_cache_entry_is_decoded_again_and_replaced(tmp_path):
    root = folder(tmp_path, n=3)
    cache = tmp_path / "cache"
    first = load_image_folder(root, cache_dir=cache)
    entry = next(cache.glob("*.npy"))
    entry.write_bytes(entry.read_bytes()[:50])
    again = load_image_folder(root, cache_dir=cache)
    assert again.loading["cache"]["hit"] is False and np.array_equal(again.X, first.X)
    assert load_image_folder(root, cache_dir=cache).loading["cache"]["hit"] is True
