"""What a run holds in memory while it trains: the split rows and their standardized copies — not the
loaded rows as well, nor the test rows once the vault has them (CIFAR-10 at full scale held all three
copies through training: 1.8 GB of its 3.4 GB peak)."""
import gc
import json
import tracemalloc

import numpy as np
import torch

from knobs.config import RunConfig
from knobs.data._dataset import RowsReleased
from knobs.pipeline import Display, run
from knobs.pipeline.stages import _inputs, _open
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


def test_the_inputs_hold_the_split_and_its_standardized_copy_only(tmp_path):
    """Train and val rows twice (as given, for the data checks, and standardized, for training): 1.7x the
    rows. Before, the loaded rows and the test split stayed too: 2.85x."""
    path, X = _arrays(tmp_path)
    size = X.nbytes
    del X
    cfg = _config(tmp_path, path)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        inputs = load_inputs(cfg)
        inputs.release_test()  # what sealing the vault does
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held < 2.0 * size, f"the run's inputs hold {held / size:.2f}x the rows"
    assert isinstance(inputs.dataset.X, RowsReleased) and len(inputs.dataset) == ROWS
    assert inputs.splits.test is None and inputs.test_rows == 900


def _summary_and_weights(result):
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    return result.summary, best


def test_letting_the_rows_go_changes_no_split_and_no_result(tmp_path, monkeypatch):
    """The same seeded run with the rows kept (the old behaviour, patched back) gives the same splits,
    the same test rows in the vault, the same trials and the same best weights, bit for bit."""
    path, _ = _arrays(tmp_path, rows=800, width=16)
    released = run(_config(tmp_path, path, name="released"), display=Display(quiet=True))
    monkeypatch.setattr(_inputs.Dataset, "without_rows", lambda self: self)
    monkeypatch.setattr(_inputs.RunInputs, "release_test", lambda self: None)
    kept = run(_config(tmp_path, path, name="kept"), display=Display(quiet=True))
    assert json.loads((released.path / "splits.json").read_text()) == json.loads((kept.path / "splits.json").read_text())
    with np.load(released.path / "vault" / "test.npz") as a, np.load(kept.path / "vault" / "test.npz") as b:
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    (a, a_best), (b, b_best) = _summary_and_weights(released), _summary_and_weights(kept)
    assert a["best_trial"] == b["best_trial"] and a["test"] == b["test"]
    weights_a, weights_b = a_best["model"], b_best["model"]
    assert weights_a.keys() == weights_b.keys()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
