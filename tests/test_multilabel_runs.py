"""`knobs run` on multi-label data: several 0 / 1 label columns of a table (or rows of labels given as arrays),
trained, searched, ensembled, tested, reported, predicted and evaluated as one target of K labels."""

import csv
import json

import numpy as np
import pytest
import torch
from sklearn import metrics as sk

import knobs
from knobs.balance import BalanceOptions, balance_training, label_weights
from knobs.config import load_config
from knobs.data import load_csv
from knobs.ensemble import average_labels
from knobs.errors import ConfigError, DataError
from knobs.metrics import multilabel_metrics, split_metrics, weighted_metrics
from knobs.pipeline import Display, run
from knobs.pipeline.autopilot._gain import per_row
from knobs.pipeline.commands._evaluate import evaluate_file
from knobs.pipeline.commands._predict import predict_file
from summary_schema import check_summary

LABELS = ["sports", "politics", "tech"]
FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 8, "checks.overfit_tiny": False,
        "ensemble.top_k": 2, "search.space": {"lr": {"low": 3e-3, "high": 1e-2, "log": True}, "width": 32, "depth": 1,
                                               "optimizer": "adam"}}


def _rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    Y = (X @ rng.normal(size=(5, 3)) + 0.3 * rng.normal(size=(n, 3)) > 0.2).astype(int)
    return X, Y


def _write(path, X, Y, names=LABELS, words=False):
    colour = np.random.default_rng(1).choice(["red", "blue"], len(X))
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "c", "d", "e", "colour", *names])
        for x, c, y in zip(X, colour, Y):
            w.writerow([*np.round(x, 4), c, *(("true" if v else "false") if words else int(v) for v in y)])
    return path


def _cfg(tmp_path, **more):
    source = _write(tmp_path / "tags.csv", *_rows())
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "m", "data.source": str(source),
                              "data.target": LABELS, **more})


# ---- metrics and combining ---------------------------------------------------------------------------

def test_multilabel_metrics_match_scikit_learn_and_hand_computed():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(60, 4))
    y[:, 3] = 0  # a label absent from the split: F1 0, left out of AUC and AP
    p = np.clip(y * 0.6 + rng.uniform(0, 0.5, size=y.shape), 0, 1)
    m = multilabel_metrics(y, p)
    pred = (p >= 0.5).astype(int)
    assert m["n"] == 60 and m["n_labels"] == 4 and m["support"] == y.sum(0).tolist()
    assert m["accuracy"] == pytest.approx(1 - sk.hamming_loss(y, pred))
    assert m["subset_accuracy"] == pytest.approx(sk.accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(sk.f1_score(y, pred, average="macro", zero_division=0))
    assert m["micro_f1"] == pytest.approx(sk.f1_score(y, pred, average="micro", zero_division=0))
    assert m["per_label_f1"][3] == 0.0
    q = np.clip(p, 1e-15, 1 - 1e-15)
    assert m["log_loss"] == pytest.approx(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
    assert m["roc_auc"] == pytest.approx(np.mean([sk.roc_auc_score(y[:, k], p[:, k]) for k in range(3)]))
    assert m["average_precision"] == pytest.approx(np.mean([sk.average_precision_score(y[:, k], p[:, k])
                                                            for k in range(3)]))
    assert multilabel_metrics(y, p, threshold=0.9)["threshold"] == 0.9
    with pytest.raises(DataError, match="one probability in \\[0, 1\\] per row and label"):
        multilabel_metrics(y, p * 3)


def test_multilabel_intervals_bootstrap_every_scalar_and_unit_weights_give_the_metrics():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, size=(80, 3))
    p = np.clip(y * 0.5 + rng.uniform(0, 0.6, size=y.shape), 0, 1)
    m = split_metrics("multilabel", y, p, intervals=True)
    for key in ("accuracy", "subset_accuracy", "macro_f1", "micro_f1", "log_loss", "roc_auc"):
        low, high = m["intervals"][key]
        assert low <= m[key] <= high, key
    same = weighted_metrics("multilabel", y, p, None, np.ones((1, len(y))))
    for key, values in same.items():
        assert values[0] == pytest.approx(m[key]), key


def test_average_labels_is_the_weighted_mean_and_refuses_logits():
    a, b = np.array([[0.9, 0.2]]), np.array([[0.5, 0.6]])
    assert np.allclose(average_labels([a, b], [3, 1]), [[0.8, 0.3]])
    with pytest.raises(DataError, match="outside \\[0, 1\\].*not logits"):
        average_labels([a, np.array([[2.0, -1.0]])])


# ---- reading the label columns -------------------------------------------------------------------------

def test_label_columns_read_as_one_multilabel_target(tmp_path):
    X, Y = _rows(50)
    ds = load_csv(_write(tmp_path / "t.csv", X, Y, words=True), target=LABELS)
    assert ds.task == "multilabel" and ds.n_classes == 3 and ds.class_names == LABELS
    assert ds.y.dtype == np.float32 and (ds.y == Y).all()
    assert ds.feature_names == ["a", "b", "c", "d", "e", "colour"] and ds.loading["target"] == LABELS


def test_bad_label_columns_are_named(tmp_path):
    X, Y = _rows(20)
    path = _write(tmp_path / "t.csv", X, Y)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 1)[0] + ",2"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="label column 'tech'.*0 or 1.*line 5 holds '2"):
        load_csv(path, target=LABELS, task="multilabel")
    assert load_csv(path, target=LABELS).task == "regression"  # not all 0 / 1, and no task said: values
    with pytest.raises(DataError, match="one 0 / 1 column per label"):
        load_csv(path, target="tech", task="multilabel")


def test_label_weights_weigh_each_label_in_the_loss():
    X, Y = _rows(100)
    balanced = balance_training(BalanceOptions(class_weight="balanced"), (X, Y.astype(np.float32)), 3,
                                task="multilabel")
    assert np.allclose(balanced.weights, label_weights(Y))
    assert np.allclose(balanced.loss.pos_weight.numpy(), label_weights(Y))
    assert balanced.counts_before == Y.sum(0).tolist()
    with pytest.raises(DataError, match="balance.sampler = 'oversample'.*class_weight = \"balanced\""):
        BalanceOptions(sampler="oversample").check(3, "multilabel")
    with pytest.raises(ConfigError, match="one positive weight per label \\(3"):
        balance_training(BalanceOptions(class_weight=[1.0, 2.0]), (X, Y.astype(np.float32)), 3, task="multilabel")


def test_autopilot_rows_average_to_the_validation_metrics():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, size=(30, 3)).astype(np.float32)
    p = rng.uniform(size=(30, 3))
    assert per_row(p, y, "val_accuracy", "multilabel").mean() == pytest.approx(multilabel_metrics(y, p)["accuracy"])
    assert per_row(p, y, "val_loss", "multilabel").mean() == pytest.approx(multilabel_metrics(y, p)["log_loss"])


# ---- the whole cycle --------------------------------------------------------------------------------

def test_a_table_of_label_columns_runs_the_whole_cycle(tmp_path):
    result = run(_cfg(tmp_path), display=Display(quiet=True))
    summary = result.summary
    assert summary["data"]["task"] == "multilabel" and summary["data"]["class_names"] == LABELS
    assert check_summary(summary) == []
    test = summary["test"]
    assert test["n_labels"] == 3 and test["macro_f1"] > 0.7 and test["roc_auc"] > 0.85
    assert set(test["intervals"]) >= {"accuracy", "subset_accuracy", "macro_f1", "log_loss"}
    assert summary["ensemble"]["diversity"]["over"] == "row-and-label entries"
    page = (result.path / "report.html").read_text()
    assert "test macro-F1" in page and "test rows with it" in page and "true labels" in page
    worst = json.loads((result.path / "views" / "worst.json").read_text())
    assert worst["ranked_by"] == "binary cross-entropy" and len(worst["items"]) > 0

    new = tmp_path / "new.csv"
    X, Y = _rows(30, seed=5)
    _write(new, X, Y)
    rows = list(csv.DictReader(predict_file(result.path, new).open()))
    assert list(rows[0]) == ["row", "prediction", *(f"proba_{name}" for name in LABELS)]
    for row in rows:
        on = [name for name in LABELS if float(row[f"proba_{name}"]) >= 0.5]
        assert row["prediction"] == ";".join(on)
    scored = evaluate_file(result.path, new)
    assert scored["metrics"]["n_labels"] == 3 and "subset_accuracy" in scored["intervals"]
    assert "bootstrap" in scored["interval_method"] and "Wilson" not in scored["interval_method"]


def test_an_official_test_file_names_its_label_columns_its_own_way(tmp_path):
    X, Y = _rows(100, seed=3)
    test = _write(tmp_path / "official.csv", X, Y, names=["S", "politics", "tech"])
    cfg = _cfg(tmp_path, **{"data.test": str(test), "data.test_columns": {"sports": "S"}, "search.n_trials": 1})
    summary = run(cfg, display=Display(quiet=True)).summary
    assert summary["test"]["n"] == 100 and summary["test"]["support"] == Y.sum(0).tolist()


def test_search_metrics_of_a_multilabel_run(tmp_path):
    with pytest.raises(ConfigError, match="balanced accuracy is undefined.*val_macro_f1"):
        run(_cfg(tmp_path, **{"search.metric": "val_balanced_accuracy"}), display=Display(quiet=True))
    result = run(_cfg(tmp_path, **{"search.metric": "val_macro_f1", "search.n_trials": 1, "name": "f1",
                                   "balance.class_weight": "balanced"}), display=Display(quiet=True))
    assert result.summary["best_trial"]["metric"] == "val_macro_f1"
    assert 0.5 < result.summary["best_trial"]["value"] <= 1.0


def test_arrays_of_label_rows_run_from_python(tmp_path):
    X, Y = _rows(300, seed=4)
    result = knobs.run(data=(X.astype(np.float32), Y), quiet=True, runs_dir=str(tmp_path / "runs"),
                       **{**{k: v for k, v in FAST.items() if k != "search.space"}, "search.n_trials": 1})
    assert result.summary["data"]["task"] == "multilabel" and result.summary["test"]["n_labels"] == 3
    np.savez(tmp_path / "off.npz", X=X[:50], y=Y[:50])
    assert evaluate_file(result.path, tmp_path / "off.npz")["metrics"]["n"] == 50
    np.savez(tmp_path / "bad.npz", X=X[:50], y=Y[:50, :2])
    with pytest.raises(DataError, match="rows of 3 0 / 1 values"):
        evaluate_file(result.path, tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="\\(rows, labels\\) of 0 / 1"):
        knobs.run(data=(X, np.stack([Y, Y], axis=2)), quiet=True, runs_dir=str(tmp_path / "runs"))


def test_a_threshold_per_label_is_tuned_on_validation_and_applied_everywhere(tmp_path):
    from knobs.balance import LabelThresholds

    y = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1]])
    p = np.array([[0.3, 0.3, 0.6], [0.1, 0.9, 0.7], [0.2, 0.4, 0.9], [0.35, 0.7, 0.8]])
    tuned = LabelThresholds("f1", min_rows=1).fit(y, p)
    assert tuned.untuned_ == [2] and tuned.thresholds_[2] == 0.5 and tuned.scores_[0] == 1.0
    assert LabelThresholds("f1").fit(y, p).untuned_ == [0, 1, 2]  # by default 10 rows either side: none here
    assert (tuned.predict(p)[:, :2] == y[:, :2]).all()
    m = multilabel_metrics(y, p, threshold=tuned.thresholds_)
    assert m["label_thresholds"] == tuned.thresholds_.tolist() and "threshold" not in m and m["macro_f1"] == 1.0

    result = run(_cfg(tmp_path, **{"balance.threshold": "f1"}), display=Display(quiet=True))
    summary = result.summary
    assert check_summary(summary) == []
    cuts = summary["threshold"]["thresholds"]
    assert len(cuts) == 3 and summary["threshold"]["test"]["label_thresholds"] == cuts
    assert "threshold tuned for f1" in (result.path / "report.html").read_text()
    new = tmp_path / "new.csv"
    _write(new, *_rows(30, seed=6))
    for row in csv.DictReader(predict_file(result.path, new).open()):
        on = [name for name, cut in zip(LABELS, cuts) if float(row[f"proba_{name}"]) >= cut]
        assert row["prediction"] == ";".join(on)
    assert evaluate_file(result.path, new)["metrics"]["label_thresholds"] == cuts


def _write_sets(path, X, Y, sep="; ", names=LABELS):
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "c", "d", "e", "topics"])
        for x, y in zip(X, Y):
            w.writerow([*np.round(x, 4), sep.join(name for name, on in zip(names, y) if on)])
    return path


def test_one_column_of_label_names_is_a_multilabel_target(tmp_path):
    from knobs.data._target import label_sets
    from knobs.data._table import read_table

    X, Y = _rows(40)
    ds = load_csv(_write_sets(tmp_path / "s.csv", X, Y), target="topics", task="multilabel")
    order = sorted(LABELS)
    assert ds.task == "multilabel" and ds.class_names == order
    assert (ds.y == Y[:, [LABELS.index(name) for name in order]]).all()  # an empty cell: a row with no label
    assert ds.feature_names == ["a", "b", "c", "d", "e"]
    path = tmp_path / "mixed.csv"
    path.write_text("a,topics\n1,x;y\n2,x|z\n")
    with pytest.raises(DataError, match=r"separates its labels with ';' \(line 2: 'x;y'\), '\|' \(line 3"):
        load_csv(path, target="topics", task="multilabel")
    (tmp_path / "unknown.csv").write_text("a,topics\n1,x;y\n2,x;z\n")
    with pytest.raises(DataError, match=r"label\(s\) \['z'\] that the run's training data lacks"):
        label_sets(read_table(tmp_path / "unknown.csv"), "topics", ["x", "y"])


def test_a_label_set_column_runs_tests_on_an_official_file_and_is_evaluated(tmp_path):
    X, Y = _rows(400)
    train = _write_sets(tmp_path / "train.csv", X[:300], Y[:300])
    Y_test = Y[300:].copy()
    Y_test[:, 2] = 0  # the official file never names "tech": its column is zeros, matched by name
    test = _write_sets(tmp_path / "test.csv", X[300:], Y_test, sep="|")
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "s", "data.source": str(train),
                             "data.target": "topics", "data.task": "multilabel", "data.test": str(test)})
    result = run(cfg, display=Display(quiet=True))
    summary = result.summary
    order = sorted(LABELS)
    assert summary["data"]["class_names"] == order and check_summary(summary) == []
    assert summary["test"]["support"] == Y_test[:, [LABELS.index(name) for name in order]].sum(0).tolist()
    assert evaluate_file(result.path, test)["metrics"]["support"] == summary["test"]["support"]



def test_splits_and_folds_keep_each_labels_share():
    from knobs.data import Dataset, kfold_indices, split

    rng = np.random.default_rng(0)
    Y = (rng.uniform(size=(1000, 4)) < [0.5, 0.2, 0.04, 0.02]).astype(np.float32)
    ds = Dataset(rng.normal(size=(1000, 3)).astype(np.float32), Y, "multilabel", 4, "rare")
    parts = split(ds, val=0.15, test=0.15, seed=0)
    for name in ("val", "test"):
        positives = parts.index[name].size * Y.mean(0)
        assert np.all(np.abs(Y[parts.index[name]].sum(0) - positives) <= 1.5), name  # the rare labels kept too
    assert sorted(np.concatenate(list(parts.index.values())).tolist()) == list(range(1000))
    folds = kfold_indices(Y, k=5, seed=0)
    assert all(np.abs(Y[val].sum(0) - Y.sum(0) / 5).max() <= 1.5 for _, val in folds)
    assert np.array_equal(np.sort(np.concatenate([val for _, val in folds])), np.arange(1000))
    plain = kfold_indices(Y, k=5, seed=0, stratify=False)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, plain))


def test_rare_labels_that_lag_are_told_to_weigh_their_positives():
    from types import SimpleNamespace

    from knobs.report._findings import rare_labels

    def record(f1, class_weight="none"):
        return SimpleNamespace(summary={
            "data": {"task": "multilabel", "class_names": ["a", "b", "rare"]},
            "practices": {"balance": None if class_weight == "none" else {"class_weight": class_weight}},
            "preflight": [{"name": "label_frequency", "measured": {"positives": [400, 300, 12], "rows": 1000}}],
            "test": {"per_label_f1": f1}})

    found = rare_labels(record([0.9, 0.92, 0.5]))
    assert [f.code for f in found] == ["rare_labels"] and found[0].evidence["rare"] == ["rare"]
    assert "rare (1.2%)" in found[0].message and 'class_weight = "balanced"' in found[0].action
    assert rare_labels(record([0.9, 0.92, 0.89])) == []  # the rare label does as well: nothing to fix
    assert rare_labels(record([0.9, 0.92, 0.5], class_weight="balanced")) == []  # already weighed


def test_a_users_builder_is_told_the_labels_and_their_task(tmp_path):
    seen = []

    def make(params, info):
        seen.append((info.task, info.n_classes))
        return torch.nn.Sequential(torch.nn.Linear(info.input_shape[0], 32), torch.nn.ReLU(),
                                   torch.nn.Linear(32, info.n_classes))

    X, Y = _rows(300, seed=7)
    result = knobs.run(model=make, data=(X.astype(np.float32), Y), quiet=True, runs_dir=str(tmp_path / "runs"),
                       n_trials=1, space={"lr": knobs.Float(3e-3, 1e-2, log=True)})
    assert seen[0] == ("multilabel", 3) and result.summary["test"]["macro_f1"] > 0.6
