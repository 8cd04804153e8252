"""What a run holds in memory while it trains: its train / val rows, standardized where they lay — not the
loaded rows as well, nor an unstandardized copy, nor the test rows once the vault has them (CIFAR-10 at
full scale held all three copies through training: 1.8 GB of its 3.4 GB peak); and the data checks read
a split block by block, not as copies of it."""
import gc
import json
import tracemalloc

import numpy as np
import torch

from knobs.config import RunConfig
from knobs.data._dataset import RowsReleased
from knobs.pipeline import Display, run
from knobs.data import _standardize
from knobs.pipeline.inputs import _split_rows
from knobs.pipeline.stages import _inputs
from knobs.pipeline.stages._inputs import load_inputs

ROWS, WIDTH = 6000, 1024  # 24.6 MB of float32 rows: far above tracemalloc's other traffic


def _arrays(tmp_path, rows=ROWS, width=WIDTH):
    rng = np.random.default_rng(0)
    X = rng.normal(2.0, 3.0, size=(rows, width)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 4).astype(np.int64)
    path = tmp_path / "rows.npz"
    np.savez(path, X=X, y=y)
    return path, X


def _config(tmp_path, path, **extra):
    return RunConfig.model_validate({
        "name": "memory", "runs_dir": str(tmp_path / "runs"), "seed": 0,
        "data": {"source": str(path), "kind": "arrays", "test": 0.15, "val": 0.15},
        "model": {"family": "mlp"},
        "search": {"n_trials": 2, "sampler": "random", "pruner": "none",
                   "space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 8, "depth": 1}},
        "train": {"epochs": 2, "batch_size": 256, "threads": 1},
        "checks": {"overfit_tiny": False}, "ensemble": {"enabled": False}, **extra})


def _loaded(tmp_path):
    """The run's inputs loaded from a fresh arrays file, its test rows let go as sealing the vault
    does: (inputs, bytes of the rows, bytes held after, peak bytes while loading), numpy's allocations
    as tracemalloc sees them."""
    path, X = _arrays(tmp_path)
    size = X.nbytes
    del X
    cfg = _config(tmp_path, path)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        inputs = load_inputs(cfg)
        inputs.release_test()
        gc.collect()
        held, peak = (m - base for m in tracemalloc.get_traced_memory())
    finally:
        tracemalloc.stop()
    return inputs, size, held, peak


def test_the_inputs_hold_the_rows_once(tmp_path, monkeypatch):
    """Loaded rows reordered in place into their splits, train and val standardized where they lay: the
    rows once while the run trains (the test rows sealed in the vault stay in the same array), about
    once at the peak. Before: the loaded rows, their split and the standardized copy, 2.85x, and a peak
    over 2x while the split copied the loaded rows."""
    monkeypatch.setattr(_split_rows, "IN_PLACE_BYTES", 0)  # reorder these 25 MB as a large folder's
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 2**21)  # blocks of float64 working memory far below the rows
    inputs, size, held, peak = _loaded(tmp_path)
    assert held < 1.1 * size, f"the run's inputs hold {held / size:.2f}x the rows"
    assert peak < 1.5 * size, f"loading the run's inputs took {peak / size:.2f}x the rows at its peak"
    assert isinstance(inputs.dataset.X, RowsReleased) and len(inputs.dataset) == ROWS
    assert inputs.splits.test is None and inputs.test_rows == 900
    assert isinstance(inputs.splits.train[0], RowsReleased) and len(inputs.splits.train[1]) == 4199
    assert [r.name for r in inputs.data.data_checks][0] == "finite"  # answered before the rows changed


def test_small_rows_are_copied_into_their_splits_and_let_go(tmp_path):
    """Under ``IN_PLACE_BYTES`` the split copies (faster than reordering row by row), the loaded and
    test rows are let go: the standardized train and val rows, 0.85x."""
    _, size, held, _ = _loaded(tmp_path)
    assert held < 0.95 * size, f"the run's inputs hold {held / size:.2f}x the rows"


def _preflight(result):
    events = [json.loads(line) for line in (result.path / "events.jsonl").read_text().splitlines()]
    [preflight] = [e["results"] for e in events if e["event"] == "preflight"]
    return preflight


def test_the_data_checks_read_a_split_block_by_block(monkeypatch):
    """Their transient was a standardized copy, a float32 copy and a mask of the split (2.6x the rows,
    the run's peak once the copies were gone); blocks of any size give the same answers."""
    from knobs.checks import check_data
    from knobs.data import Standardizer
    from knobs.data._standardize import moments

    rng = np.random.default_rng(0)
    X = rng.normal(0.5, 0.2, size=(3000, 3, 32, 32)).astype(np.float32)  # 37 MB
    X[2900:] = X[:100]  # val rows that repeat training rows
    y = rng.integers(0, 3, 3000)
    scaler = Standardizer("channel").fit(X[:2500])
    X[7, 1, 2, 3], X[9, 0, 0, 0] = np.nan, np.inf
    pairs = ((X[:2500], y[:2500]), (X[2500:], y[2500:]))
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 2**21)  # 85 rows a block: the blocks' own memory is small
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        blocks = check_data(pairs, n_classes=3, standardizer=scaler, inputs="pixels")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * X.nbytes, f"the data checks took {peak / X.nbytes:.2f}x the rows"
    found = {r.name: r for r in blocks}
    for name, (Xs, _) in zip(("train", "val"), pairs):  # the scale of the split standardized whole, as before
        mean, std = moments(scaler.transform(Xs).reshape(len(Xs), -1), "feature", ignore_nan=True)
        assert found["feature_scale"].measured[name]["max_abs_mean"] == float(np.nanmax(np.abs(mean)))
        assert found["feature_scale"].measured[name]["max_std"] == float(np.nanmax(std))
    monkeypatch.setattr(_standardize, "BLOCK_BYTES", 8 * 3072 * 7)  # 7 rows a block: the counts are exact
    small = {r.name: r.to_dict() for r in check_data(pairs, n_classes=3, standardizer=scaler, inputs="pixels")}
    assert all(small[name] == r.to_dict() for name, r in found.items() if name != "feature_scale")
    assert found["finite"].measured["train"] == {"nan": 1, "inf": 1, "rows": 2, "columns": [0, 1091]}
    assert found["duplicates"].measured["val_in_train"] == 98  # rows 7 and 9 changed after the copy


def _summary_and_weights(result):
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    return result.summary, best


def test_letting_the_rows_go_changes_no_split_and_no_result(tmp_path, monkeypatch):
    """The same seeded run with every copy kept (the old behaviour, patched back: the loaded rows, the
    test rows, the unstandardized train / val rows, the data checks run on them in the preflight) gives
    the same splits, test rows, preflight results, trials and best weights, bit for bit."""
    path, _ = _arrays(tmp_path, rows=800, width=16)
    monkeypatch.setattr(_split_rows, "IN_PLACE_BYTES", 0)  # the split reorders the loaded rows in place
    released = run(_config(tmp_path, path, name="released"), display=Display(quiet=True))
    monkeypatch.setattr(_split_rows, "IN_PLACE_BYTES", 2**62)  # the split copies
    monkeypatch.setattr(_inputs.Dataset, "without_rows", lambda self: self)
    monkeypatch.setattr(_inputs.RunInputs, "release_test", lambda self: None)
    monkeypatch.setattr(_inputs, "_own_rows", lambda raw, encoded: False)
    kept = run(_config(tmp_path, path, name="kept"), display=Display(quiet=True))
    assert _preflight(released) == _preflight(kept)
    assert json.loads((released.path / "splits.json").read_text()) == json.loads((kept.path / "splits.json").read_text())
    with np.load(released.path / "vault" / "test.npz") as a, np.load(kept.path / "vault" / "test.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    (a, a_best), (b, b_best) = _summary_and_weights(released), _summary_and_weights(kept)
    assert a["best_trial"] == b["best_trial"] and a["test"] == b["test"]
    weights_a, weights_b = a_best["model"], b_best["model"]
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
