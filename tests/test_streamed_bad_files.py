"""An image of a streamed folder that passed the header scan but does not decode when a batch reads
it (truncated after the scan) follows `data.bad_files`: under "skip" it is left out of its batch,
its label with it, and listed (events.jsonl, summary.json); under "error" the run stops with one
`DataError` naming the file and `data.bad_files = "skip"` — from DataLoader workers too."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.config import load_config
from knobs.data import load_image_folder
from knobs.errors import DataError
from knobs.pipeline import Display, run
from knobs.pipeline.trials._evaluate import outputs_on, predict
from summary_schema import check_summary

torch.set_num_threads(1)

PER_CLASS = 12
FAST = {"search.n_trials": 1, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "train.batch_size": 8, "checks.overfit_tiny": False, "ensemble.enabled": False, "data.memory": 0.001,
        "search.space": {"lr": 1e-2, "width": {"low": 8, "high": 16}, "depth": 1, "optimizer": "adam"}}


def _folder(root):
    """Two classes of 16x16 noise images (dark and light), PER_CLASS each."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["dark", "light"]):
        (root / name).mkdir(parents=True)
        for i in range(PER_CLASS):
            pixels = np.clip(rng.normal(80 + 90 * c, 30, size=(16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


def _truncate(path):
    """Keep the first half of the file: the header still reads, the pixel data does not decode."""
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _streamed(root, bad_files, workers):
    data = load_image_folder(root, max_bytes=100, stream=True, cache_dir=False, bad_files=bad_files)
    return data, data.X.with_loader_options({"num_workers": workers, "persistent_workers": False})


@pytest.mark.parametrize("workers", [0, 1])
def test_under_skip_a_file_that_fails_when_read_leaves_its_batch_with_its_label_and_is_listed(tmp_path, workers):
    root = _folder(tmp_path / "img")
    cached = load_image_folder(root, cache_dir=False)
    data, rows = _streamed(root, "skip", workers)
    bad = 5
    _truncate(root / "dark" / "05.png")  # after the scan: its header was read, its data is gone
    batches = list(rows.loader(batch_size=4, y=data.y))
    X = torch.cat([b[0] for b in batches]).numpy()
    y = torch.cat([b[1] for b in batches]).numpy()
    keep = np.arange(len(data.y)) != bad
    assert [len(b[1]) for b in batches[:2]] == [4, 3]  # left out of its batch, not replaced
    np.testing.assert_allclose(X, cached.X[keep], atol=1e-6)  # every other row, in order, with its own label
    np.testing.assert_array_equal(y, data.y[keep])
    [record] = rows.unreadable
    assert record["file"] == str(root / "dark" / "05.png") and record["position"] == bad
    assert "image file is truncated" in record["reason"] and "after the scan" in record["reason"]
    assert data.X.unreadable == rows.unreadable  # every view of the folder lists it


@pytest.mark.parametrize("workers", [0, 1])
def test_under_error_the_file_stops_the_read_with_one_message_from_workers_too(tmp_path, workers):
    root = _folder(tmp_path / "img")
    data, rows = _streamed(root, "error", workers)
    _truncate(root / "light" / "03.png")
    with pytest.raises(DataError) as caught:
        list(rows.loader(batch_size=4, y=data.y))
    message = str(caught.value)
    assert str(root / "light" / "03.png") in message and 'data.bad_files = "skip"' in message
    assert "Traceback" not in message and "worker" not in message and "\n" not in message
    assert rows.unreadable == []


def test_a_partly_unreadable_batch_and_a_wholly_unreadable_one_are_read_as_their_rows(tmp_path):
    root = _folder(tmp_path / "img")
    data, rows = _streamed(root, "skip", 0)
    for i in (0, 1):
        _truncate(root / "dark" / f"0{i}.png")
    sizes = [len(b[1]) for b in rows.loader(batch_size=2, y=data.y)]
    assert sizes == [2] * (len(data.y) // 2 - 1)  # the first batch held no readable row: not yielded
    kept, values = rows.read_kept(np.arange(4))
    assert kept.tolist() == [2, 3] and len(values) == 2
    chosen, sample = rows.sample(100, seed=0)
    assert 0 not in chosen and 1 not in chosen and len(sample) == len(chosen) == len(data.y) - 2
    with pytest.raises(DataError, match="row 0 cannot be read: .*truncated"):
        rows[0]


def test_outputs_of_several_models_leave_the_unreadable_rows_and_their_targets_out(tmp_path):
    root = _folder(tmp_path / "img")
    data, rows = _streamed(root, "skip", 0)
    _truncate(root / "light" / "00.png")  # position PER_CLASS
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 16 * 3, 2)) for _ in range(2)]
    with pytest.raises(DataError, match="left out.*outputs_on"):
        predict(models[0], rows)  # outputs that would not line up with the rows are refused
    outs, y, kept = outputs_on([models[0], None, models[1]], rows, data.y, "classification")
    assert outs[1] is None and len(outs[0]) == len(outs[2]) == len(y) == len(data.y) - 1
    assert kept.tolist() == [i != PER_CLASS for i in range(len(data.y))]
    np.testing.assert_array_equal(y, data.y[kept])
    whole = torch.as_tensor(load_image_folder(root, cache_dir=False, bad_files="skip").X)  # decoded: the bad one skipped
    assert np.allclose(outs[0], torch.softmax(models[0](whole).double(), 1).detach().numpy(), atol=1e-6)


@pytest.fixture
def truncated_after_loading(monkeypatch):
    """Truncate the first test image as the vault is sealed (the folder scanned, statistics drawn),
    and the first training image as the search starts (the preflight and the samples view read):
    found only when the trials' DataLoader and the final test read them."""
    from knobs.pipeline.stages import _cycle

    seal, search, chosen = _cycle.seal_vault, _cycle.search, {}

    def truncate(inputs, split):
        rows = getattr(inputs.splits, split)[0]
        chosen[split] = rows.source.files.files[int(rows.index[0])]
        _truncate(chosen[split])

    def truncate_then_seal(cfg, inputs, rundir):
        truncate(inputs, "test")
        return seal(cfg, inputs, rundir)

    def truncate_then_search(run, objective):
        truncate(run.inputs, "train")
        return search(run, objective)

    monkeypatch.setattr(_cycle, "seal_vault", truncate_then_seal)
    monkeypatch.setattr(_cycle, "search", truncate_then_search)
    return chosen


def _cfg(tmp_path, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "img",
                              "data.source": str(_folder(tmp_path / "images")), **more})


@pytest.mark.slow
def test_a_run_under_skip_trains_and_tests_without_the_files_and_lists_them(tmp_path, truncated_after_loading):
    result = run(_cfg(tmp_path, **{"data.bad_files": "skip", "data.workers": 1}), display=Display(quiet=True))
    chosen = {split: str(path) for split, path in truncated_after_loading.items()}
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    logged = {e["file"]: e["reason"] for e in events if e["event"] == "file_skipped"}
    assert set(logged) == set(chosen.values()) and all("truncated" in r for r in logged.values())
    loading = result.summary["data"]["loading"]
    assert {s["file"] for s in loading["skipped"]} == set(chosen.values()) and loading["skipped_count"] == 2
    assert result.summary["states"]["complete"] == 1
    sealed = json.loads((result.path / "splits.json").read_text())["test"]
    assert result.summary["test"]["n"] == len(sealed) - 1  # measured on the test rows that were read
    assert check_summary(json.loads((result.path / "summary.json").read_text())) == []


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_a_run_under_error_stops_with_one_message_naming_the_file(tmp_path, truncated_after_loading, workers):
    with pytest.raises(DataError) as caught:
        run(_cfg(tmp_path, **{"data.workers": workers}), display=Display(quiet=True))
    message = str(caught.value)
    assert str(truncated_after_loading["train"]) in message and 'data.bad_files = "skip"' in message
    assert "Traceback" not in message and "\n" not in message


def test_the_summary_lists_files_an_earlier_process_of_the_run_left_out(tmp_path):
    from knobs.pipeline.inputs._streamed import loading_record

    root = _folder(tmp_path / "img")
    data, rows = _streamed(root, "skip", 0)
    _truncate(root / "dark" / "01.png")
    rows.read(np.arange(3))  # this process finds dark/01.png
    earlier = {"time": 1.0, "event": "file_skipped", "file": str(root / "light" / "02.png"), "reason": "truncated",
               "position": 14}
    found_again = {**earlier, "file": str(root / "dark" / "01.png"), "position": 1}
    (tmp_path / "events.jsonl").write_text(json.dumps(earlier) + "\n" + json.dumps(found_again) + "\n")
    loading = loading_record(data, tmp_path / "events.jsonl")
    assert [s["file"] for s in loading["skipped"]] == [earlier["file"], found_again["file"]]
    assert loading["skipped_count"] == 2 and "event" not in loading["skipped"][0]
    fresh = load_image_folder(root, max_bytes=100, stream=True, cache_dir=False)
    assert loading_record(fresh, tmp_path / "none.jsonl") == fresh.loading  # nothing found, nothing logged
