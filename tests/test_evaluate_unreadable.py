"""`knobs evaluate` on a folder of class folders holding an image that does not decode: a run trained with
`data.bad_files = "skip"` scores the images that decode and says which it skipped (it refused the folder);
a run with the default `"error"` still refuses it, naming the file."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from knobs.errors import DataError
from knobs.pipeline.commands import _evaluate
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import UnreadableInputWarning
from test_predict_unreadable import image_run  # noqa: F401  (a fixture: a finished run, bad_files = "skip")
from test_skip_unreadable import _damage

PER_CLASS = 4


@pytest.fixture
def labelled(tmp_path):
    """Two class folders of 8x8 images drawn as the run's training images were."""
    root = tmp_path / "labelled"
    rng = np.random.default_rng(1)
    for c, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = rng.integers(0, 100, (8, 8, 3)) + 100 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def test_a_skip_run_scores_the_readable_images_and_names_the_skipped_one(image_run, labelled, tmp_path, capsys):
    from knobs.cli import main

    run_dir, _ = image_run
    assert evaluate_file(run_dir, labelled)["skipped"] == {"count": 0, "files": []}
    readable = tmp_path / "readable"
    shutil.copytree(labelled, readable)
    (readable / "a" / "1.png").unlink()
    expected = evaluate_file(run_dir, readable)
    _damage(labelled / "a" / "1.png")
    with pytest.warns(UnreadableInputWarning, match=r"1 of the 8 images .* a/1.png; the metrics are on the other 7"):
        result = evaluate_file(run_dir, labelled)
    assert result["n"] == 7 == expected["n"]
    [skipped] = result["skipped"]["files"]
    assert result["skipped"]["count"] == 1 and skipped["file"] == "a/1.png" and "cannot decode" in skipped["reason"]
    assert result["metrics"] == expected["metrics"]  # exactly the readable images, each with its own label
    assert result["intervals"] == expected["intervals"]
    out = tmp_path / "result.json"
    assert main(["evaluate", "--run", str(run_dir), "--input", str(labelled), "--json", str(out)]) == 0
    printed = capsys.readouterr()
    assert "1 of the 8 images" in " ".join(printed.err.split())
    assert "7 of 8 images (1 unreadable, skipped)" in " ".join(printed.out.split())
    assert json.loads(out.read_text())["skipped"] == result["skipped"]


def test_the_skipped_images_are_counted_whole_and_named_up_to_a_cap(image_run, labelled, monkeypatch):
    run_dir, _ = image_run
    monkeypatch.setattr(_evaluate, "SKIPPED_LISTED", 2)
    for name in ("a/0.png", "a/2.png", "b/3.png"):
        _damage(labelled / name)
    with pytest.warns(UnreadableInputWarning, match=r"3 of the 8 images .* a/0.png, a/2.png and 1 more; .* other 5"):
        result = evaluate_file(run_dir, labelled)
    assert result["n"] == 5 and result["skipped"]["count"] == 3
    assert [s["file"] for s in result["skipped"]["files"]] == ["a/0.png", "a/2.png"]


def test_a_folder_of_only_unreadable_images_is_refused(image_run, labelled):
    run_dir, _ = image_run
    for image in labelled.glob("*/*.png"):
        _damage(image)
    with pytest.raises(DataError, match="no input image decodes"):
        evaluate_file(run_dir, labelled)


def test_a_run_that_refused_bad_files_refuses_them_in_evaluate_too(image_run, labelled, tmp_path, capsys):
    from knobs.cli import main

    run_dir, _ = image_run
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    record = json.loads((copy / "preprocess.json").read_text())
    record["loading"]["bad_files"] = "error"  # the schema's default
    (copy / "preprocess.json").write_text(json.dumps(record))
    _damage(labelled / "b" / "2.png")
    with pytest.raises(DataError, match=r"cannot decode image .*b.2.png"):
        evaluate_file(copy, labelled)
    assert main(["evaluate", "--run", str(copy), "--input", str(labelled)]) == 2
    assert "cannot decode image" in capsys.readouterr().err
