"""Data too big for the memory budget streams through a DataLoader: rows read lazily, test rows
first read after the vault opens, and the whole cycle (preflight, search, ensemble, report) runs."""

import json
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.config import load_config
from knobs.data import Vault, load_image_folder
from knobs.data._stream import MAX_READ, StreamedRows
from knobs.data._streamed_vault import StreamedVault
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.stages import _record_views
from summary_schema import check_summary

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

N = 240
FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "train.batch_size": 32, "checks.overfit_tiny": True, "ensemble.top_k": 2,
        "search.space": {"lr": 1e-2, "width": {"low": 8, "high": 16}, "depth": 1, "optimizer": "adam"}}


class Counted(torch.utils.data.Dataset):
    """Items (x, y) whose reads are counted per position; labels given up front as ``targets``.

    Each read is appended to ``reads`` with the phase the test is in (``phase[0]``), so the test
    can tell which rows were read before the vault opened."""

    def __init__(self, n=N, phase=None):
        rng = np.random.default_rng(0)
        self.targets = np.arange(n) % 3
        self.x = (rng.normal(size=(n, 6)) + self.targets[:, None]).astype(np.float32)
        self.reads: list[tuple[int, str]] = []
        self.phase = phase if phase is not None else ["load"]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        self.reads.append((int(i), self.phase[0]))
        return torch.from_numpy(self.x[i]), int(self.targets[i])


@pytest.fixture
def builder_module(monkeypatch):
    """``streamdata:build`` returning one shared ``Counted`` (its reads stay visible to the test)."""
    dataset = Counted()
    module = types.ModuleType("streamdata")
    module.build = lambda: dataset
    monkeypatch.setitem(sys.modules, "streamdata", module)
    return dataset


def _cfg(tmp_path, **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "s", "data.builder": "streamdata:build",
                              "data.memory": 0.001, "data.workers": 0, **more})


def test_a_dataset_over_the_budget_streams_and_its_test_rows_wait_for_the_vault(tmp_path, builder_module, monkeypatch):
    dataset = builder_module
    opened = []
    original_open = StreamedVault.open

    def open_and_mark(self, reason="final evaluation"):
        dataset.phase[0] = "after vault"
        opened.append(reason)
        return original_open(self, reason)

    monkeypatch.setattr(StreamedVault, "open", open_and_mark)
    # NOTE: no watch replay after the final stage: whether one is cheap enough depends on the
    # measured epoch times, and its (non-test) reads after the vault made this test flaky under load.
    monkeypatch.setattr(_record_views, "WATCH_SHARE", 0.0)
    result = run(_cfg(tmp_path), display=Display(quiet=True))

    splits = json.loads((result.path / "splits.json").read_text())
    test = set(splits["test"])
    before = [i for i, phase in dataset.reads if phase != "after vault"]
    after = [i for i, phase in dataset.reads if phase == "after vault"]
    assert opened and not test & set(before), "a test row was read before the vault opened"
    assert set(after) == test  # the final evaluation reads each test row
    counts = np.bincount(before, minlength=N)
    assert counts[sorted(splits["train"])].min() >= 2  # trained on (every trial, every epoch)
    memory = result.summary["data"]["loading"]["memory"]
    assert memory["path"] == "streamed" and memory["mib"] > memory["budget_mib"] == 0.001
    assert memory["num_workers"] == 0 and memory["pin_memory"] is False
    assert "seeded random sample" in memory["standardization"]
    assert result.summary["states"]["complete"] == 2 and result.summary["preflight"]
    assert {"initial_loss", "overfit_tiny"} <= {r["name"] for r in result.summary["preflight"]}
    assert result.summary["ensemble"] is not None and np.isfinite(result.summary["test"]["accuracy"])
    assert result.summary["test"]["n"] == len(test)
    assert (result.path / "report.html").is_file()
    assert check_summary(json.loads((result.path / "summary.json").read_text())) == []
    assert {"samples.json", "worst.json"} <= {p.name for p in (result.path / "views").iterdir()}
    record = json.loads((result.path / "vault" / "fingerprint.json").read_text())
    assert record["meta"]["streamed"]["n_source"] == N and record["X"]["shape"] == [len(test), 1]


def test_nothing_is_read_while_the_data_is_loaded_and_split(tmp_path, builder_module):
    from knobs.pipeline.inputs._source import load_source
    from knobs.pipeline.inputs._split_rows import split_rows

    cfg = _cfg(tmp_path)
    given, _ = load_source(cfg)
    raw, _ = split_rows(cfg, given.dataset, 0.15, given)
    assert builder_module.reads == []
    assert isinstance(raw.train[0], StreamedRows) and len(raw.test[1]) == len(raw.test[0])


def test_the_same_dataset_within_the_budget_is_read_into_memory(tmp_path, builder_module):
    result = run(_cfg(tmp_path, **{"data.memory": 64}), display=Display(quiet=True))
    memory = result.summary["data"]["loading"]["memory"]
    assert memory["path"] == "cached" and memory["mib"] <= 64
    assert not isinstance(Vault(result.path / "vault").record["meta"].get("streamed"), dict)
    counts = np.bincount([i for i, _ in builder_module.reads], minlength=N)
    assert counts.min() == 1 and (counts == 2).sum() == 1  # each read once after the split (one, for its shape, twice)


def test_what_needs_every_row_in_memory_is_refused_with_streamed_data(tmp_path, builder_module):
    with pytest.raises(ConfigError, match=r"search.executor: .*population"):
        run(_cfg(tmp_path, **{"search.executor": "population"}), display=Display(quiet=True))
    with pytest.raises(DataError, match=r'smote.*read from disk.*"oversample"'):
        run(_cfg(tmp_path, **{"balance.sampler": "smote"}), display=Display(quiet=True))
    assert not (tmp_path / "runs" / "s").exists()


def test_k_folds_and_their_refit_stream_too_and_read_no_test_row_before_the_vault(tmp_path, builder_module,
                                                                                  monkeypatch):
    import knobs.data._stream as stream

    dataset = builder_module
    monkeypatch.setattr(stream, "MAX_READ", 48)  # a whole split read at once (over 48 rows) would raise
    monkeypatch.setattr(_record_views, "WATCH_SHARE", 0.0)
    original_open = StreamedVault.open

    def open_and_mark(self, reason="final evaluation"):
        dataset.phase[0] = "after vault"
        return original_open(self, reason)

    monkeypatch.setattr(StreamedVault, "open", open_and_mark)
    result = run(_cfg(tmp_path, **{"data.folds": 3, "ensemble.enabled": False, "checks.overfit_tiny": False}),
                 display=Display(quiet=True))
    summary = result.summary
    assert summary["data"]["loading"]["memory"]["path"] == "streamed" and summary["final_model"] == "refit"
    assert len(summary["cv"]["per_fold"]) == 3 and np.isfinite(summary["test"]["accuracy"])
    test = set(json.loads((result.path / "splits.json").read_text())["test"])
    assert not test & {i for i, phase in dataset.reads if phase != "after vault"}


def test_the_autopilot_walks_on_streamed_rows_diagnosing_on_their_samples(tmp_path, builder_module, monkeypatch):
    import knobs.data._stream as stream

    monkeypatch.setattr(stream, "MAX_READ", 48)  # a whole split read at once (over 48 rows) would raise
    monkeypatch.setattr(_record_views, "WATCH_SHARE", 0.0)
    result = run(_cfg(tmp_path, **{"autopilot.enabled": True, "autopilot.max_steps": 2, "checks.overfit_tiny": False}),
                 display=Display(quiet=True))
    autopilot = result.summary["autopilot"]
    assert result.summary["data"]["loading"]["memory"]["path"] == "streamed"
    assert autopilot["n_steps"] == 2 and autopilot["rounds"] and autopilot["steps"][0]["n"] == 36  # all val rows
    assert autopilot["steps"][0]["code"] == "still_improving"  # the diagnosis read the 2-epoch curve

    from knobs.pipeline.commands._diagnose import check_config, diagnose_config

    report = diagnose_config(_cfg(tmp_path, name="d"))  # `knobs diagnose --config`: on the samples too
    assert report.evidence["sizes"] == {"train": 168, "val": 36} and report.findings
    assert {"initial_loss", "gradient_check"} <= {c.name for c in check_config(_cfg(tmp_path, name="c"))}


class Imbalanced(Counted):
    """200 rows of class 0 and 40 of class 1, read on access and counted."""

    def __init__(self, phase=None):
        super().__init__(phase=phase)
        self.targets = (np.arange(N) >= 200).astype(np.int64)
        rng = np.random.default_rng(1)
        self.x = (rng.normal(size=(N, 6)) + 1.5 * self.targets[:, None]).astype(np.float32)


def test_class_imbalance_is_treated_on_rows_read_from_disk(tmp_path, monkeypatch):
    dataset = Imbalanced()
    module = types.ModuleType("rare")
    module.build = lambda: dataset
    monkeypatch.setitem(sys.modules, "rare", module)
    monkeypatch.setattr(_record_views, "WATCH_SHARE", 0.0)
    cfg = _cfg(tmp_path, **{"data.builder": "rare:build", "balance.sampler": "oversample",
                            "balance.threshold": "balanced_accuracy", "checks.overfit_tiny": False})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["data"]["loading"]["memory"]["path"] == "streamed"
    balance = result.summary["practices"]["balance"]
    assert balance["sampler"] == "oversample"
    imbalance = [a for a in result.summary["advice"] if a.get("evidence", {}).get("check") == "class_balance"]
    assert [a["severity"] for a in imbalance] == ["info"]  # treated: no warning advising what the run does
    assert "treated by [balance] (sampler = 'oversample')" in imbalance[0]["message"]
    train = np.asarray(json.loads((result.path / "splits.json").read_text())["train"])
    reads = np.bincount([i for i, phase in dataset.reads if phase == "load"], minlength=N)[train]
    rare = dataset.targets[train] == 1
    assert reads[rare].mean() > 2 * reads[~rare].mean()  # each epoch draws the rare class as often as the common
    assert 0.0 < result.summary["threshold"]["threshold"] < 1.0
    assert np.isfinite(result.summary["threshold"]["test"]["balanced_accuracy"])

    dataset.reads.clear()
    cfg = _cfg(tmp_path, **{"data.builder": "rare:build", "balance.sampler": "undersample",
                            "balance.loss": "focal", "name": "under", "checks.overfit_tiny": False})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["practices"]["balance"]["loss"] == "focal"
    train = np.asarray(json.loads((result.path / "splits.json").read_text())["train"])
    trained = np.bincount([i for i, phase in dataset.reads if phase == "load"], minlength=N)[train]
    rare = dataset.targets[train] == 1
    assert (trained[~rare] <= 1).sum() > 90 and (trained[rare] >= 2).all()  # most common rows never trained on


def test_a_dataset_without_targets_over_the_budget_is_refused_naming_targets(tmp_path, monkeypatch):
    class NoTargets(Counted):
        def __getattribute__(self, name):
            if name == "targets":
                raise AttributeError(name)
            return super().__getattribute__(name)

    module = types.ModuleType("notargets")
    module.build = lambda: NoTargets()
    monkeypatch.setitem(sys.modules, "notargets", module)
    with pytest.raises(DataError, match="targets"):
        run(_cfg(tmp_path, **{"data.builder": "notargets:build"}), display=Display(quiet=True))


def test_streamed_rows_are_views_until_read_and_refuse_a_whole_split_at_once():
    dataset = Counted(n=MAX_READ + 10)
    rows = StreamedRows(dataset)
    view = rows[np.arange(0, len(rows), 2)]
    assert dataset.reads == [] and len(view) == (MAX_READ + 10) // 2
    view = view.reshape(-1, 2, 3)
    assert view.shape == (len(view), 2, 3) and len(dataset.reads) == 1  # one item read for the shape
    np.testing.assert_array_equal(view.read(slice(1, 3)), dataset.x[[2, 4]].reshape(2, 2, 3))
    with pytest.raises(DataError, match="batch by batch"):
        np.asarray(rows)
    batches = list(view.loader(batch_size=1000))
    assert sum(len(b) for b in batches) == len(view)


def test_an_image_folder_over_the_budget_is_read_on_access_not_decoded(tmp_path):
    for c, name in enumerate(["a", "b"]):
        (tmp_path / name).mkdir()
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 60 * c + i, np.uint8)).save(tmp_path / name / f"{i}.png")
    streamed = load_image_folder(tmp_path, max_bytes=100, stream=True, cache_dir=False)
    assert isinstance(streamed.X, StreamedRows) and streamed.image_shape == (3, 8, 8)
    assert streamed.loading["streamed"] and "cache" not in streamed.loading
    cached = load_image_folder(tmp_path, cache_dir=False)
    np.testing.assert_allclose(streamed.X.read(), cached.X, atol=1e-6)
    with pytest.raises(DataError, match="max_bytes"):
        load_image_folder(tmp_path, max_bytes=100, cache_dir=False)


def test_a_streamed_vault_refuses_test_images_changed_after_sealing(tmp_path):
    from knobs.data._vault import VaultMismatch

    for c, name in enumerate(["a", "b"]):
        (tmp_path / "img" / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((8, 8, 3), 60 * c + i, np.uint8)).save(tmp_path / "img" / name / f"{i}.png")
    data = load_image_folder(tmp_path / "img", max_bytes=100, stream=True, cache_dir=False)
    test = data.X.take(np.array([1, 6]))
    vault = StreamedVault.seal_rows(tmp_path / "vault", test, data.y[[1, 6]])
    assert vault.record["meta"]["streamed"]["files"]["n"] == 2
    StreamedVault.seal_rows(tmp_path / "vault", test, data.y[[1, 6]])  # a resume with the same files
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(tmp_path / "img" / "b" / "2.png")  # row 6
    with pytest.raises(VaultMismatch, match=r"test files of the vault .* changed since it was sealed \(2 files.*resumed"):
        StreamedVault.seal_rows(tmp_path / "vault", test, data.y[[1, 6]])
    with pytest.raises(DataError, match=r"a test image was edited, replaced or removed.*another --name"):
        vault.open()
    assert vault.n_openings == 0  # refused before the opening is logged
    Image.fromarray(np.full((8, 8, 3), 62, np.uint8)).save(tmp_path / "img" / "b" / "2.png")  # restored
    rows, y = vault.open()
    assert len(rows) == 2 and vault.n_openings == 1


def dark_and_light(root):
    """A folder of two classes of 20 noisy 8 x 8 images each, dark and light."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["dark", "light"]):
        (root / name).mkdir(parents=True)
        for i in range(20):
            pixels = np.clip(rng.normal(80 + 90 * c, 20, size=(8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_an_image_folder_over_the_budget_runs_streamed_through_dataloader_workers(tmp_path, capsys):
    dark_and_light(tmp_path / "images")
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "img", "data.memory": 0.001,
                             "data.source": str(tmp_path / "images"), "data.workers": 1})
    result = run(cfg, display=Display())
    assert "data streamed: " in capsys.readouterr().out.replace("\n", " ")
    memory = result.summary["data"]["loading"]["memory"]
    assert memory["path"] == "streamed" and memory["num_workers"] == 1 and memory["persistent_workers"]
    assert result.summary["data"]["loading"]["streamed"] and np.isfinite(result.summary["test"]["log_loss"])
    assert (result.path / "report.html").is_file()


def test_an_official_test_folder_over_the_budget_streams_into_its_vault(tmp_path, capsys):
    dark_and_light(tmp_path / "images")  # 40 training images: they fit 0.1 MiB
    rng = np.random.default_rng(1)
    for c, name in enumerate(["dark", "light"]):  # 400 test images: they do not
        (tmp_path / "test" / name).mkdir(parents=True)
        for i in range(200):
            pixels = np.clip(rng.normal(80 + 90 * c, 20, size=(8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "test" / name / f"{i}.png")
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "img", "data.memory": 0.1,
                             "data.source": str(tmp_path / "images"), "data.test": str(tmp_path / "test"),
                             "data.workers": 0})
    result = run(cfg, display=Display())
    assert "data streamed (test split): " in capsys.readouterr().out.replace("\n", " ")
    assert result.summary["data"]["loading"]["memory"]["splits"] == ["test"] and result.summary["test"]["n"] == 400
    sealed = json.loads((result.path / "vault" / "fingerprint.json").read_text())["meta"]["streamed"]
    assert sealed["n_source"] == 400 and sealed["files"]["n"] == 400  # positions and file signatures, not pixels
    assert check_summary(result.summary) == []


def test_worker_processes_stream_an_image_folder_each(tmp_path):
    import os

    from knobs.pipeline.inputs._streamed import loader_cores

    dark_and_light(tmp_path / "images")
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "img", "data.memory": 0.001,
                             "data.source": str(tmp_path / "images"), "search.workers": 2, "search.n_trials": 3})
    assert loader_cores(cfg.search) == max(1, (os.cpu_count() or 1) // 2)
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["states"] == {"complete": 3, "pruned": 0, "failed": 0, "running": 0}
    memory = result.summary["data"]["loading"]["memory"]
    assert memory["path"] == "streamed" and memory["num_workers"] == min(8, max(0, loader_cores(cfg.search) - 1))
    assert np.isfinite(result.summary["test"]["log_loss"])
