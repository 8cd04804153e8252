"""`knobs predict`: a finished run's preprocessing and final model applied to new data."""

import csv

import numpy as np
import pytest

from knobs.config import load_config
from knobs.data import Vault, VaultWarning
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._predict import predict_file

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 3, "search.sampler": "random", "train.epochs": 4, "train.patience": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 16, "high": 32},
                         "depth": 1, "optimizer": "adam"}}


def _run(tmp_path, **more):
    cfg = load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": "p", **more})
    return run(cfg, display=Display(quiet=True))


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_predictions_on_the_sealed_test_rows_reproduce_the_reported_test_accuracy(tmp_path):
    result = _run(tmp_path)
    with pytest.warns(VaultWarning, match="opened 2 times"):  # the run opened it once already
        X_test, y_test = Vault(result.path / "vault").open(reason="test of knobs predict")
    np.save(tmp_path / "test.npy", X_test)
    out = predict_file(result.path, tmp_path / "test.npy")
    rows = _rows(out)
    assert len(rows) == len(y_test)
    probs = np.array([[float(r[f"proba_{k}"]) for k in range(10)] for r in rows])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    accuracy = float(np.mean(np.array([int(r["prediction"]) for r in rows]) == y_test))
    assert accuracy == pytest.approx(result.summary["test"]["accuracy"], abs=1e-9)


def _write_csv(path, n=240, seed=0):
    rng = np.random.default_rng(seed)
    colours = np.array(["red", "green", "blue"])
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["size", "colour", "weight", "kind"])
        for _ in range(n):
            c = rng.integers(3)
            size = rng.normal(c, 0.3)
            weight = "" if rng.random() < 0.05 else f"{rng.normal(2 * c, 0.5):.3f}"
            w.writerow([f"{size:.3f}", colours[c], weight, ["small", "medium", "large"][c]])


def test_csv_with_categories_and_missing_values_predicts_class_names(tmp_path):
    _write_csv(tmp_path / "train.csv")
    result = _run(tmp_path, **{"data.source": str(tmp_path / "train.csv"), "data.target": "kind",
                               "data.missing": "median"})
    _write_csv(tmp_path / "new.csv", n=30, seed=1)
    rows = _rows(predict_file(result.path, tmp_path / "new.csv", tmp_path / "out.csv"))
    assert len(rows) == 30
    assert {r["prediction"] for r in rows} <= {"small", "medium", "large"}
    assert set(rows[0]) == {"row", "prediction", "proba_large", "proba_medium", "proba_small"}


def test_bad_input_names_what_is_wrong(tmp_path):
    with pytest.raises(ConfigError, match="no such run directory"):
        predict_file(tmp_path / "nope", tmp_path / "x.csv")
    result = _run(tmp_path)
    np.save(tmp_path / "narrow.npy", np.zeros((3, 10)))
    with pytest.raises(DataError, match="10 features per row, but the run's model takes 64"):
        predict_file(result.path, tmp_path / "narrow.npy")
    with pytest.raises(DataError, match="no such file"):
        predict_file(result.path, tmp_path / "missing.csv")


def test_predict_command_writes_the_csv_and_bad_input_exits_2(tmp_path, capsys):
    from knobs.cli import main

    result = _run(tmp_path)
    X_test = np.zeros((4, 64))
    np.save(tmp_path / "rows.npy", X_test)
    assert main(["predict", "--run", str(result.path), "--input", str(tmp_path / "rows.npy"),
                 "-o", str(tmp_path / "p.csv")]) == 0
    assert len(_rows(tmp_path / "p.csv")) == 4
    assert main(["predict", "--run", str(tmp_path / "nope"), "--input", str(tmp_path / "rows.npy")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def _numeric_run(tmp_path):
    rng = np.random.default_rng(0)
    rows = "".join(f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}\n" for i in range(120))
    (tmp_path / "train.csv").write_text("a,b,label\n" + rows)
    return _run(tmp_path, **{"data.source": str(tmp_path / "train.csv"), "data.target": "label"})


@pytest.mark.parametrize("case, message", [
    ("not_a_run", "is not a run directory (no summary.json, study.db or events.jsonl)"),
    ("folder_input", "is a folder, not a table; give a .csv, .tsv or .txt file"),
    ("wrong_columns", "lacks the column(s) ['b'] this run was trained on; its columns are ['a', 'c']"),
    ("text_cell", "line 3 has 'x' in a numeric feature column"),
    ("nan_cell", "line 2 has 'nan' (missing or infinite) in a feature column"),
    ("output_folder_missing", "does not exist; create it or write elsewhere"),
    ("output_is_a_folder", "is a folder; give a file name"),
    ("output_is_the_input", "is the input file; predictions would overwrite it"),
    ("damaged_summary", "summary.json cannot be read"),
    ("foreign_checkpoint", "is not a knobs trial checkpoint (no 'input_shape')"),
])
def test_predict_bad_input_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys, case, message):
    import torch

    from knobs.cli import main

    run_dir = _numeric_run(tmp_path).path
    new = tmp_path / "new.csv"
    new.write_text("a,b\n0.1,0.2\n0.3,0.4\n")
    args = {"not_a_run": ["--run", str(tmp_path), "--input", str(new)],
            "folder_input": ["--input", str(tmp_path)],
            "output_folder_missing": ["--input", str(new), "-o", str(tmp_path / "no" / "p.csv")],
            "output_is_a_folder": ["--input", str(new), "-o", str(tmp_path)],
            "output_is_the_input": ["--input", str(new), "-o", str(new)]}.get(case, ["--input", str(new)])
    if case == "wrong_columns":
        new.write_text("a,c\n0.1,0.2\n")
    elif case == "text_cell":
        new.write_text("a,b\n0.1,0.2\n0.3,x\n")
    elif case == "nan_cell":
        new.write_text("a,b\nnan,0.2\n")
    elif case == "damaged_summary":
        (run_dir / "summary.json").write_text("{")
    elif case == "foreign_checkpoint":
        for ckpt in (run_dir / "checkpoints").glob("*.pt"):
            torch.save({"weights": torch.zeros(2)}, ckpt)
    before = new.read_bytes()
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    code = main(["predict", *(["--run", str(run_dir)] if "--run" not in args else []), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert new.read_bytes() == before  # the input is never overwritten
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files  # no predictions file, nothing new


def test_a_npy_that_is_not_numbers_is_refused_without_numpys_pickle_advice(tmp_path):
    result = _run(tmp_path)
    (tmp_path / "junk.npy").write_text("not an array")
    with pytest.raises(DataError, match=r"is not a .npy array of numbers; save the features with numpy.save") as e:
        predict_file(result.path, tmp_path / "junk.npy")
    assert "allow_pickle" not in str(e.value)
