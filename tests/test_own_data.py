"""Your own data, without training: references to user code, builders' return forms, arrays files,
``data.rows``, split positions, unseen categories at prediction, the search's stop reason."""

import types
import warnings

import numpy as np
import pytest
import torch

from knobs._imports import load_reference, source_hash
from knobs.config import load_config
from knobs.data import Preprocessing, Standardizer, TabularPreprocessor, load_builtin, split
from knobs.data._arrays import build_data, from_built, load_arrays, subsample
from knobs.data._preprocess import UnseenCategoryWarning
from knobs.errors import ConfigError, DataError
from knobs.pipeline.inputs._source import load_source
from knobs.pipeline.stages._search import stop_reason
from user_data import Pairs

torch.set_num_threads(1)


def _xy(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.int64)


# --- load_reference -------------------------------------------------------------------------------

def test_a_module_reference_and_a_file_reference_give_the_function(tmp_path):
    assert load_reference("os.path:join")("a", "b") == "a/b"
    (tmp_path / "mine.py").write_text("def make():\n    return 7\n")
    assert load_reference("mine.py:make", tmp_path)() == 7
    assert load_reference(f"{tmp_path / 'mine.py'}:make")() == 7


@pytest.mark.parametrize("ref, source, message", [
    ("nosuchpkg_xyz.data:make", None, "no module named 'nosuchpkg_xyz'"),
    ("mine.py:missing", "def make():\n    pass\n", "no function 'missing' in"),
    ("mine.py:make", "import nosuchpkg_xyz\n", "importing"),
    ("mine.py:VALUE", "VALUE = 3\n", "'VALUE' is a int, not a function"),
    ("gone.py:make", None, "no such file"),
    ("just_a_name", None, "expected \"package.module:function\""),
])
def test_a_reference_that_cannot_be_used_is_one_config_error(tmp_path, ref, source, message):
    if source is not None:
        (tmp_path / "mine.py").write_text(source)
    with pytest.raises(ConfigError, match="data.builder") as info:
        load_reference(ref, tmp_path, key="data.builder")
    assert message in str(info.value)


def test_source_hash_follows_the_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def make():\n    return 1\n")
    before = source_hash("mine.py:make", tmp_path)
    path.write_text("def make():\n    return 2\n")
    assert source_hash("mine.py:make", tmp_path) != before
    assert len(source_hash("os.path:join")) == 64


# --- builders' return forms -----------------------------------------------------------------------

def test_tensors_become_a_dataset_with_classes_encoded_from_the_training_rows():
    X, y = _xy()
    given = from_built((torch.tensor(X), torch.tensor(y * 5 + 3)), name="b", source="builder:b")
    ds = given.dataset
    assert ds.X.dtype == np.float32 and ds.X.shape == (40, 3)
    assert ds.task == "classification" and ds.class_names == ["3", "8"] and set(ds.y.tolist()) == {0, 1}
    assert given.test is None and given.val is None


def test_float_targets_are_regression_and_images_keep_their_shape():
    rng = np.random.default_rng(0)
    given = from_built((rng.normal(size=(10, 1, 4, 4)), rng.normal(size=10)), name="b", source="b")
    assert given.dataset.task == "regression" and given.dataset.image_shape == (1, 4, 4)
    assert given.dataset.X.shape == (10, 16)


def test_a_dict_and_a_tuple_give_the_official_splits():
    X, y = _xy(60)
    given = from_built({"train": (X[:40], y[:40]), "test": (X[40:], y[40:])}, name="b", source="b")
    assert len(given.dataset) == 40 and len(given.test[1]) == 20 and given.val is None
    three = from_built(((X[:30], y[:30]), (X[30:45], y[30:45]), (X[45:], y[45:])), name="b", source="b")
    assert [len(three.dataset), len(three.val[1]), len(three.test[1])] == [30, 15, 15]


def test_a_torch_dataset_is_read_into_memory_and_says_so_with_its_size():
    X, y = _xy(50)
    given = from_built(Pairs(X, y), name="b", source="b")
    assert np.array_equal(given.dataset.X, X) and np.array_equal(given.dataset.y, y)
    assert "torch Dataset of 50 items read into memory" in given.dataset.loading["note"]
    assert "MB" in given.dataset.loading["note"]
    with pytest.raises(DataError, match="over 0.00 GiB"):
        from_built(Pairs(X, y), name="b", source="b", max_bytes=100)


@pytest.mark.parametrize("returned, message", [
    ("a string", "returned a str; accepted: (X, y) of numpy arrays"),
    (np.zeros((4, 2)), "returned a ndarray of shape (4, 2); accepted"),
    ({"training": 1}, "a dict with keys ['training']; a dict needs \"train\""),
    ((np.zeros((5, 2)), np.zeros(4)), "X has shape (5, 2) and y (4,)"),
    ((np.array([["a"]] * 4), np.zeros(4)), "X is a ndarray of shape (4, 1); expected a numeric"),
    ((np.full((4, 2), np.nan), np.zeros(4)), "NaN"),
])
def test_an_unusable_return_names_what_it_was_and_the_forms_accepted(returned, message):
    with pytest.raises(DataError) as info:
        build_data(lambda: returned, "mine.py:make")
    assert message in str(info.value) and "mine.py:make" in str(info.value)


def test_a_builder_that_raises_is_one_data_error():
    def broken():
        raise RuntimeError("disk on fire")

    with pytest.raises(DataError, match=r"data.builder = 'm:f' raised RuntimeError: disk on fire"):
        build_data(broken, "m:f")


def test_a_test_split_with_classes_the_training_rows_lack_is_refused():
    X, y = _xy(40)
    with pytest.raises(DataError, match=r"the test split has classes \['7'\] that the training rows lack"):
        from_built({"train": (X[:30], y[:30]), "test": (X[30:], np.full(10, 7))}, name="b", source="b")


# --- arrays files ---------------------------------------------------------------------------------

def test_npz_files_take_x_and_y_or_a_named_target_and_given_splits(tmp_path):
    X, y = _xy(30)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    assert len(load_arrays(tmp_path / "a.npz").dataset) == 30
    np.savez(tmp_path / "b.npz", x=X, outcome=y, x_test=X[:5], outcome_test=y[:5])
    given = load_arrays(tmp_path / "b.npz", target="outcome")
    assert len(given.test[1]) == 5
    with pytest.raises(DataError, match=r"holds the arrays \['X', 'y'\]; expected X \(or x\) and 'label'"):
        load_arrays(tmp_path / "a.npz", target="label")
    with pytest.raises(ConfigError, match="reads .npz"):
        np.save(tmp_path / "c.npy", X)
        load_arrays(tmp_path / "c.npy")


def test_parquet_without_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)
    with pytest.raises(ConfigError, match="needs pyarrow: pip install pyarrow"):
        load_arrays(tmp_path / "t.parquet")


def test_parquet_reads_the_features_and_the_target(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    X, y = _xy(20)
    pq.write_table(pa.table({"a": X[:, 0], "b": X[:, 1], "label": y}), tmp_path / "t.parquet")
    ds = load_arrays(tmp_path / "t.parquet").dataset
    assert ds.X.shape == (20, 2) and ds.n_classes == 2


def test_the_config_routes_builders_and_refuses_keys_that_do_not_apply(tmp_path):
    X, y = _xy(30)
    (tmp_path / "mine.py").write_text("import numpy as np\ndef make():\n    return np.load('"
                                      + str(tmp_path / "d.npz") + "')['X'], np.load('" + str(tmp_path / "d.npz") + "')['y']\n")
    np.savez(tmp_path / "d.npz", X=X, y=y)
    given, _ = load_source(load_config(None, {"data.builder": f"{tmp_path / 'mine.py'}:make"}))
    assert given.dataset.source.startswith("builder:") and len(given.dataset) == 30
    with pytest.raises(ConfigError, match="data.missing does not apply to data.builder"):
        load_source(load_config(None, {"data.builder": f"{tmp_path / 'mine.py'}:make", "data.missing": "drop"}))
    with pytest.raises(ConfigError, match="remove one of them"):
        load_source(load_config(None, {"data.builder": f"{tmp_path / 'mine.py'}:make", "data.source": "iris"}))
    given, _ = load_source(load_config(None, {"data.kind": "arrays", "data.source": str(tmp_path / "d.npz")}))
    assert given.dataset.loading["kind"] == "arrays"


def test_data_test_is_a_fraction_or_a_path():
    assert load_config(None, {"data.test": 0.2}).data.test_fraction == 0.2
    cfg = load_config(None, {"data.test": "test.csv"})
    assert cfg.data.test_path == "test.csv" and cfg.data.test_fraction == 0.0
    with pytest.raises(ConfigError):
        load_config(None, {"data.test": 1.5})


# --- data.rows and split positions ----------------------------------------------------------------

def test_rows_are_a_seeded_random_subset_drawn_before_the_split():
    ds = load_builtin("iris")
    a, b, c = subsample(ds, 50, 0), subsample(ds, 50, 0), subsample(ds, 50, 1)
    assert len(a) == 50 and np.array_equal(a.row_ids, b.row_ids) and not np.array_equal(a.row_ids, c.row_ids)
    assert not np.array_equal(a.row_ids, np.arange(50))  # random, not the first 50
    assert np.array_equal(a.X, ds.X[a.row_ids]) and a.loading["rows_sampled"] == 50
    given, _ = load_source(load_config(None, {"data.source": "iris", "data.rows": 60}))
    assert len(given.dataset) == 60


def test_split_records_the_positions_of_its_rows():
    ds = load_builtin("iris")
    splits = split(ds, seed=3)
    for name in ("train", "val", "test"):
        X, y = getattr(splits, name)
        assert np.array_equal(ds.X[splits.index[name]], X) and np.array_equal(ds.y[splits.index[name]], y)
    assert sorted(np.concatenate(list(splits.index.values())).tolist()) == list(range(len(ds)))


# --- unseen categories at prediction --------------------------------------------------------------

def test_unseen_categories_at_prediction_warn_with_the_column_and_count():
    pre = TabularPreprocessor(["x", "color"], ["color"]).fit(np.array([["1", "red"], ["2", "blue"]], dtype=object))
    prep = Preprocessing(pre, Standardizer("none").fit(np.zeros((2, 3), np.float32)), (3,))
    rows = np.array([["1", "green"], ["2", "red"], ["3", "green"]], dtype=object)
    with pytest.warns(UnseenCategoryWarning, match=r"2 of 3 rows hold categories unseen in training — 'color': 2 rows \(\['green'\]\)"):
        X = prep.transform(rows)
    assert X[0, 1:].tolist() == [0.0, 0.0]  # still all zeros: warned, counted, not refused
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prep.transform(rows[1:2])  # known categories: silent


# --- why the search stopped -----------------------------------------------------------------------

def _study(n_done):
    trial = types.SimpleNamespace(state=types.SimpleNamespace(finished=True), attrs={})
    return types.SimpleNamespace(trials=[trial] * n_done)


def test_a_search_cut_by_its_timeout_says_so():
    search = load_config(None, {"search.n_trials": 8, "search.timeout": 30}).search
    assert stop_reason(search, _study(6), 31.0) == "timeout after 30 s (search.timeout): 6 of 8 trials finished"
    assert stop_reason(search, _study(8), 31.0) is None
    grid = load_config(None, {"search.n_trials": 8, "search.sampler": "grid"}).search
    assert "no new configuration to try (grid): 4 of 8" in stop_reason(grid, _study(4), 1.0)


# --- knobs evaluate's intervals -------------------------------------------------------------------

@pytest.mark.parametrize("task, k, threshold", [("classification", 2, None), ("classification", 2, 0.3),
                                                ("classification", 4, None), ("regression", 0, None)])
def test_bootstrap_statistics_match_split_metrics(task, k, threshold):
    """A resample as row weights gives exactly split_metrics of the resampled rows (ties included)."""
    from knobs.metrics import split_metrics
    from knobs.pipeline.commands._evaluate import weighted_metrics

    rng = np.random.default_rng(k)
    n = 90
    if task == "classification":
        y = rng.integers(0, k, n)
        out = np.round(rng.random((n, k)), 1) + 0.01  # ties in the scores
        out /= out.sum(axis=1, keepdims=True)
    else:
        y = rng.normal(size=n)
        out = y + rng.normal(size=n) * 0.5
    for _ in range(3):
        index = rng.integers(0, n, n)
        weights = np.bincount(index, minlength=n)[None, :].astype(float)
        expected = split_metrics(task, y[index], out[index], threshold=threshold)
        got = weighted_metrics(task, y, out, threshold, weights)
        for key, values in got.items():
            assert values[0] == pytest.approx(expected[key], abs=1e-9), key


def test_wilson_interval_and_bootstrap_intervals_hold_the_estimate():
    from knobs.metrics import split_metrics
    from knobs.pipeline.commands._evaluate import intervals, wilson

    low, high = wilson(45, 50)
    assert low == pytest.approx(0.7864, abs=1e-4) and high == pytest.approx(0.9565, abs=1e-4)
    assert wilson(50, 50)[1] == pytest.approx(1.0) and wilson(50, 50)[0] < 1.0  # no zero-width interval at 100%
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    proba = np.eye(2)[y] * 0.3 + rng.random((300, 2)) * 0.7 + 0.01
    proba /= proba.sum(axis=1, keepdims=True)
    metrics = split_metrics("classification", y, proba)
    found = intervals("classification", y, proba, metrics, None, seed=0)
    assert found == intervals("classification", y, proba, metrics, None, seed=0)  # seeded
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc"):
        assert found[key][0] <= metrics[key] <= found[key][1], key


def test_max_per_class_draws_its_images_with_the_runs_seed(tmp_path):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(np.full((4, 4), 20 * i, np.uint8)).save(tmp_path / "imgs" / name / f"{i:02d}.png")

    def files(seed):
        cfg = load_config(None, {"data.source": str(tmp_path / "imgs"), "data.max_per_class": 4, "seed": seed})
        return sorted(load_source(cfg)[0].dataset.row_ids.tolist())

    assert len(files(0)) == 8 and files(0) == files(0)
    assert files(0) != files(1)  # the seed reaches the draw
