"""data.groups: a group column that is never a feature, and no group on two sides of a split or fold."""

import csv

import numpy as np
import pytest

from knobs.config import load_config
from knobs.data import load_csv, load_text_csv
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.stages._inputs import load_inputs

FAST = {"search.n_trials": 1, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": {"low": 3e-3, "high": 3e-2, "log": True}, "width": 8, "depth": 1, "optimizer": "adam"}}
ROWS, PER_GROUP = 120, 4


def _write_csv(path, missing_group_at=None):
    """rid (row id, a feature so rows can be recognised), x, patient (group of 4 rows), label."""
    rng = np.random.default_rng(0)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["rid", "x", "patient", "label"])
        for rid in range(ROWS):
            group = rid // PER_GROUP
            label = group % 2  # a patient's rows share a class, as they would
            patient = "" if rid == missing_group_at else f"p{group}"
            w.writerow([rid, f"{rng.normal(label, 1.0):.4f}", patient, label])
    return path


def _cfg(tmp_path, **more):
    source = _write_csv(tmp_path / "d.csv")
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "g", "data.source": str(source),
                              "data.groups": "patient", **more})


def _groups(X):
    return {int(rid) // PER_GROUP for rid in X[:, 0]}


def test_the_group_column_is_read_beside_the_features(tmp_path):
    ds = load_csv(_write_csv(tmp_path / "d.csv"), target="label", groups="patient")
    assert ds.feature_names == ["rid", "x"] and ds.X.shape == (ROWS, 2)
    assert ds.groups.tolist()[:5] == ["p0", "p0", "p0", "p0", "p1"]
    assert ds.loading["groups"] == "patient" and ds.loading["n_groups"] == ROWS // PER_GROUP


def test_a_single_split_by_groups_never_shares_a_group(tmp_path):
    inputs = load_inputs(_cfg(tmp_path))
    splits, data = inputs.splits, inputs.data
    # NOTE: by position (a row's rid is its line): the train / val rows are standardized where they lay
    parts = [{int(p) // PER_GROUP for p in splits.index[name]} for name in ("train", "val", "test")]
    assert parts[2] == _groups(splits.test[0])
    assert all(parts) and not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert data.input_shape == (2,)  # rid and x: the group is not a feature


def test_group_k_fold_keeps_every_group_in_one_fold_and_out_of_the_test_split(tmp_path):
    inputs = load_inputs(_cfg(tmp_path, **{"data.folds": 4}))
    splits, data = inputs.splits, inputs.data
    test = _groups(splits.test[0])
    seen = set()
    for fold in data.folds:
        train, val = _groups(splits.train[0][fold.train_index]), _groups(splits.train[0][fold.val_index])
        assert not train & val and not (train | val) & test
        assert not val & seen  # each group validates in exactly one fold
        seen |= val
        assert set(fold.groups["val"].tolist()) == {f"p{g}" for g in val}
    assert seen == set(range(ROWS // PER_GROUP)) - test


@pytest.mark.slow
def test_grouped_fold_run_records_the_groups(tmp_path):
    result = run(_cfg(tmp_path, **{"data.folds": 3}), display=Display(quiet=True))
    assert result.summary["cv"]["groups"] == "patient" and result.summary["vault"]["openings"] == 1
    assert "groups of <code>patient</code> whole" in (result.path / "report.html").read_text()


def test_text_data_takes_a_group_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label,author\na fine film,1,ann\na dull film,0,bob\nfine again,1,ann\n")
    ds = load_text_csv(path, text_column="text", groups="author")
    assert ds.groups.tolist() == ["ann", "bob", "ann"] and ds.X.shape == (3, 1)


@pytest.mark.parametrize("more, error, match", [
    ({"data.groups": "nope"}, DataError, r"no column 'nope'.*Set groups \(data.groups\)"),
    ({"data.groups": "label"}, DataError, r"data.groups and target are both 'label'"),
    ({"data.features": ["x", "patient"]}, DataError, r"'patient' is also listed in data.features"),
    ({"data.folds": 40}, ConfigError, r"data.folds = 40: each group stays in one fold, and only \d+ groups"),
    ({"data.test": 0.02}, DataError, r"data.groups = 'patient': group_split: a test fraction"),
    ({"data.source": "iris"}, ConfigError, r"data option 'groups' does not apply to builtin data"),
])
def test_bad_group_settings_are_named(tmp_path, more, error, match):
    with pytest.raises(error, match=match):
        load_inputs(_cfg(tmp_path, **more))


def test_a_row_without_a_group_is_refused_or_dropped(tmp_path):
    path = _write_csv(tmp_path / "d.csv", missing_group_at=7)
    with pytest.raises(DataError, match=r"missing values in 1 column\(s\): 'patient'"):
        load_csv(path, target="label", groups="patient")
    with pytest.raises(DataError, match=r"group column 'patient' has 1 missing values \(lines \[9\]\)"):
        load_csv(path, target="label", groups="patient", missing="median")
    assert len(load_csv(path, target="label", groups="patient", missing="drop")) == ROWS - 1
