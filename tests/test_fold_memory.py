"""Fold mode (data.folds = k) holds its rows a small number of times whatever k: each fold's data is prepared
when a fit trains on it and let go after, the refit's rows when it trains — not all k folds' encoded rows and
standardized tensors at once beside the refit's (2k + 2 copies of the non-test rows) — and a fold prepared when
used is the fold that was prepared up front, to the bit."""
import csv
import gc
import tracemalloc

import numpy as np
import pytest
import torch

from knobs.config import RunConfig
from knobs.data import Splits, _standardize, encode_splits, kfold
from knobs.errors import DataError
from knobs.pipeline import Display, run
from knobs.pipeline.inputs._data_checks import data_check_results
from knobs.pipeline.inputs._folds import release_refit_rows, restore_refit_rows
from knobs.pipeline.inputs._practices import balance_training_rows
from knobs.pipeline.inputs._prepared import prepare
from knobs.pipeline.inputs._source import load_source
from knobs.pipeline.stages._inputs import load_inputs
from knobs.train import _trainer

ROWS, WIDTH = 6000, 1024  # 24.6 MB of float32 rows: far above tracemalloc's other traffic
LR = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}}
SPACE = {**LR, "width": 8, "depth": 1}


def _arrays(path, rows=ROWS, shape=(WIDTH,), classes=2):
    rng = np.random.default_rng(0)
    X = rng.normal(2.0, 3.0, size=(rows, *shape)).astype(np.float32)
    flat = X.reshape(rows, -1)
    y = np.digitize(flat[:, 0] + flat[:, 1], [4.0, 7.0][:classes - 1]).astype(np.int64)
    np.savez(path, X=X, y=y)
    return path, X.nbytes


def _config(tmp_path, source, folds, **extra):
    data = {"source": str(source), "test": 0.15, "folds": folds, **extra.pop("data", {})}
    if str(source).endswith(".npz"):
        data["kind"] = "arrays"
    return RunConfig.model_validate({
        "name": f"k{folds}", "runs_dir": str(tmp_path / "runs"), "seed": 0, "data": data,
        "model": {"family": "mlp"},
        "search": {"n_trials": 1, "sampler": "random", "pruner": "none", "space": SPACE},
        "train": {"epochs": 1, "batch_size": 256, "threads": 1},
        "checks": {"overfit_tiny": False}, "ensemble": {"enabled": False}, **extra})


def _traced_run(cfg, monkeypatch):
    """(the most numpy memory held when a training epoch starts — every fold's, the refit's —, the
    peak over the run, epochs trained), as tracemalloc sees numpy's allocations."""
    at_epochs: list[int] = []
    run_epoch = _trainer.Trainer._run_epoch

    def each_epoch(self, epoch):
        at_epochs.append(tracemalloc.get_traced_memory()[0])
        return run_epoch(self, epoch)

    monkeypatch.setattr(_trainer.Trainer, "_run_epoch", each_epoch)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run(cfg, display=Display(quiet=True))
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return max(at_epochs) - base, peak, len(at_epochs)


def test_a_fold_run_holds_the_rows_a_few_times_whatever_k(tmp_path, monkeypatch):
    """k = 2 and k = 6 hold the same while they train: the raw non-test rows (each fold is dealt from
    them) and the one fold that trains, or the refit's rows as it trains — 1.7x the rows; the peak, 2.2x,
    is the refit's test. Before: the refit's rows and every fold's encoded rows and tensors beside those,
    5.1x at k = 2 and 12.0x at k = 6, peaks of 5.6x and 12.4x."""
    torch.set_num_threads(1)
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 2**21)  # blocks of float64 working memory far below the rows
    warm, _ = _arrays(tmp_path / "warm.npz", rows=200, shape=(8,))
    run(_config(tmp_path, warm, 2, name="warm"), display=Display(quiet=True))  # NOTE: imports not counted below
    path, size = _arrays(tmp_path / "rows.npz")
    held = {}
    for k in (2, 6):
        held[k], peak, epochs = _traced_run(_config(tmp_path, path, k), monkeypatch)
        assert epochs == k + 1  # every fold trained, then the refit
        assert held[k] < 2.0 * size, f"k = {k}: the run held {held[k] / size:.2f}x the rows while it trained"
        assert peak < 2.5 * size, f"k = {k}: the run's peak was {peak / size:.2f}x the rows"
    assert abs(held[6] - held[2]) < 0.1 * size, f"k = 6 held {(held[6] - held[2]) / size:+.2f}x the rows more than k = 2"


def _write_table(path, n=150):
    """x (numeric, one missing cell), site (categorical: rare sites make the per-fold fit observable), kind."""
    rng = np.random.default_rng(1)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["x", "z", "site", "kind"])
        for i in range(n):
            c = i % 3
            site = f"rare{i}" if i < 9 else ["north", "south", "east"][int(rng.integers(3))]
            x = "" if i == 20 else f"{rng.normal(2.0 * c, 0.5):.4f}"
            w.writerow([x, f"{rng.normal(50, 10):.3f}", site, "abc"[c]])
    return path


def _write_texts(path, n=90):
    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "plot", "actor", "great", "awful", "the", "a", "story"]
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["text", "label"])
        for i in range(n):
            w.writerow([" ".join(rng.choice(words, 6)), "pos" if i % 2 else "neg"])
    return path


def _case(tmp_path, kind):
    if kind == "images":  # float32 rows standardized in place per channel, SMOTE on the fold's training rows
        path, _ = _arrays(tmp_path / "img.npz", rows=300, shape=(3, 4, 4), classes=3)
        return _config(tmp_path, path, 3, data={"standardize": "channel"}, model={"family": "convnet"},
                       balance={"sampler": "smote"},
                       search={"n_trials": 1, "space": {**LR, "channels": 4, "depth": 1}})
    if kind == "table":  # fill values, categories and feature statistics fitted per fold; oversampled
        return _config(tmp_path, _write_table(tmp_path / "t.csv"), 4, data={"target": "kind", "missing": "median"},
                       balance={"sampler": "oversample"})
    return _config(tmp_path, _write_texts(tmp_path / "s.csv"), 3,  # a vocabulary per fold
                   data={"text_column": "text", "min_freq": 1}, model={"family": "text_bag"},
                   search={"n_trials": 1, "space": {**SPACE, "embed_dim": 8}})


def _positions(dataset, ids):
    """Where the rows named in splits.json lie in ``dataset``."""
    where = {row_id: i for i, row_id in enumerate(np.asarray(dataset.ids()).tolist())}
    return np.array([where[row_id] for row_id in ids])


def _eager_folds(cfg, inputs):
    """The folds as prepare_folds made them up front before: the non-test rows read afresh from the source,
    dealt by ``kfold`` (every fold's rows at once), encoded, standardized into a copy, balanced."""
    dataset = load_source(cfg)[0].dataset
    rest = _positions(dataset, inputs.split_record["train"])
    X, y = np.asarray(dataset.X)[rest], np.asarray(dataset.y)[rest]
    for fold in kfold(X, y, k=cfg.data.folds, seed=cfg.seed):
        preprocessor, encoded, report = encode_splits(inputs.dataset, Splits(train=fold.train, val=fold.val, test=None))
        texts = fold.train[0] if inputs.dataset.loading.get("kind") == "text" else None
        data = prepare(inputs.dataset, encoded, cfg.model.family, cfg.data.standardize, preprocessor, report, texts=texts)
        balance_training_rows(cfg, data)
        checks = data_check_results(data, (encoded.train, encoded.val), images=inputs.dataset.image_shape is not None)
        yield fold, data, checks


def _json(preprocessing):
    return None if preprocessing is None else preprocessing.to_json()  # arrays files keep none


@pytest.mark.parametrize("kind", ["images", "table", "text"])
def test_a_fold_prepared_when_used_is_the_fold_prepared_up_front(tmp_path, kind):
    cfg = _case(tmp_path, kind)
    inputs = load_inputs(cfg)
    folds = inputs.data.folds
    assert len(folds) == cfg.data.folds
    for fold, (dealt, old, checks) in zip(folds, _eager_folds(cfg, inputs), strict=True):
        assert np.array_equal(fold.train_index, dealt.train_index) and np.array_equal(fold.val_index, dealt.val_index)
        prepared = fold.prepare(data_checks=True)
        new = prepared.data
        for a, b in zip((*new.train, *new.val), (*old.train, *old.val), strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)
        assert new.scaler.state_dict() == old.scaler.state_dict()
        assert _json(new.preprocessing) == _json(old.preprocessing)  # fill values, categories, vocabulary
        assert new.model_args == old.model_args and new.target == old.target and new.input_shape == old.input_shape
        if kind == "text":
            assert np.array_equal(new.texts, old.texts)
        assert [c.to_dict() for c in new.data_checks] == [c.to_dict() for c in checks]  # of the rows before standardizing
        assert (new.balanced is None) == (old.balanced is None) == (kind == "text")
        if new.balanced is not None:
            assert np.array_equal(np.asarray(new.balanced.X), np.asarray(old.balanced.X))
            assert np.array_equal(np.asarray(new.balanced.y), np.asarray(old.balanced.y))
            assert new.balanced.summary() == old.balanced.summary()
        assert [len(part[1]) for part in (prepared.splits.train, prepared.splits.val)] == \
            [len(dealt.train_index), len(dealt.val_index)]
        with pytest.raises(RuntimeError, match="standardized these rows in place"):
            prepared.splits.train[0][0]  # the raw ones are gone: nothing reads them as raw
    assert folds[0].prepare().data is not folds[0].prepare().data  # made afresh for each fit, kept by none


def test_a_fold_that_cannot_be_balanced_stops_the_run_before_its_directory_exists(tmp_path):
    """SMOTE needs 6 training rows of a class; the refit's rows have 7 of the rare class, a fold's 4 or 5."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = np.zeros(120, dtype=np.int64)
    y[:9] = 1
    np.savez(tmp_path / "rare.npz", X=X, y=y)
    cfg = _config(tmp_path, tmp_path / "rare.npz", 3, data={"test": 0.2}, balance={"sampler": "smote"})
    with pytest.raises(DataError, match=r"data.folds = 3: fold 1, prepared from its own rows: SMOTE with "
                                        r"k_neighbors=5 needs at least 6 training rows .* class 1 has [45]"):
        load_inputs(cfg)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("kind", ["images", "table"])
def test_the_refit_rows_let_go_at_load_are_made_again_as_before(tmp_path, kind):
    """Only the refit (and lr-find) train on every non-test row: let go once loaded, made again as
    ``prepare`` made them before — the same tensors and balanced rows, to the bit."""
    cfg = _case(tmp_path, kind)
    inputs = load_inputs(cfg)
    data = inputs.data
    with pytest.raises(RuntimeError, match="restore_refit_rows makes them again"):
        data.train[0][0]
    assert data.balanced is None and len(data.train[0]) == len(data.train[1]) == len(inputs.splits.train[1])
    made = inputs.mode.training_data(cfg, inputs)
    dataset = load_source(cfg)[0].dataset  # the non-test rows read afresh, encoded and standardized whole
    X, y = (np.asarray(part)[_positions(dataset, inputs.split_record["train"])] for part in (dataset.X, dataset.y))
    preprocessor, encoded, report = encode_splits(inputs.dataset, Splits(train=(X, y), val=(X[:0], y[:0]), test=None))
    old = prepare(inputs.dataset, encoded, cfg.model.family, cfg.data.standardize, preprocessor, report)
    balance_training_rows(cfg, old)
    assert made is data and data.train[0].dtype == old.train[0].dtype
    assert torch.equal(data.train[0], old.train[0]) and torch.equal(data.train[1], old.train[1])
    assert np.array_equal(np.asarray(data.balanced.X), np.asarray(old.balanced.X))
    assert np.array_equal(np.asarray(data.balanced.y), np.asarray(old.balanced.y))
    assert data.balanced.summary() == old.balanced.summary()
    release_refit_rows(data)
    restore_refit_rows(cfg, data, inputs.dataset, inputs.splits.train)  # as often as asked
    assert torch.equal(data.train[0], old.train[0])
