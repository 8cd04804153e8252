"""Your own data, end to end: builders, official test sets (tables, text, images), splits.json,
``knobs evaluate``, and bad input refused before anything is written."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.cli import main
from knobs.config import load_config
from knobs.data import Vault, VaultWarning
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._evaluate import evaluate_file, wilson

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "checks.overfit_tiny": False,
        "search.space": {"lr": 1e-2, "width": {"low": 16, "high": 32}, "depth": 1, "optimizer": "adam"}}


def _cfg(tmp_path, name="r", **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, **more})


def _run(tmp_path, name="r", **more):
    return run(_cfg(tmp_path, name, **more), display=Display(quiet=True))


def _table(path, n, seed, header="a,b,color,label", extra_class=None):
    rng = np.random.default_rng(seed)
    rows = [header]
    for i in range(n):
        a, b = rng.normal(), rng.normal()
        label = extra_class if (extra_class and i == 0) else ("yes" if a + b > 0 else "no")
        rows.append(f"{a:.3f},{b:.3f},{rng.choice(['red', 'blue'])},{label}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A CSV run whose vault holds an official test file."""
    tmp = tmp_path_factory.mktemp("table")
    _table(tmp / "train.csv", 200, 0)
    _table(tmp / "test.csv", 60, 1)
    result = _run(tmp, **{"data.source": str(tmp / "train.csv"), "data.test": str(tmp / "test.csv")})
    return tmp, result


def test_an_official_test_file_is_what_the_vault_seals(table_run):
    tmp, result = table_run
    assert result.summary["test"]["n"] == 60
    with pytest.warns(VaultWarning):
        _, y = Vault(result.path / "vault").open(reason="test")
    assert len(y) == 60
    splits = json.loads((result.path / "splits.json").read_text())
    assert splits["ids"] == "line" and len(splits["train"]) + len(splits["val"]) == 200
    assert splits["test"]["given"] == str(tmp / "test.csv") and splits["test"]["rows"][:2] == [2, 3]
    assert not set(splits["train"]) & set(splits["val"])
    record = json.loads((result.path / "vault" / "fingerprint.json").read_text())
    assert record["meta"]["test_rows_sha256"] == splits["test_sha256"]


def test_evaluate_on_the_test_file_reproduces_the_runs_test_metrics_with_intervals(table_run, tmp_path, capsys):
    tmp, result = table_run
    evaluated = evaluate_file(result.path, tmp / "test.csv")
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "log_loss", "roc_auc"):
        assert evaluated["metrics"][key] == pytest.approx(result.summary["test"][key], abs=1e-6), key
    low, high = evaluated["intervals"]["accuracy"]
    assert low < evaluated["metrics"]["accuracy"] < high
    assert [low, high] == wilson(round(evaluated["metrics"]["accuracy"] * 60), 60)
    assert evaluated["intervals"]["log_loss"][0] < evaluated["metrics"]["log_loss"] < evaluated["intervals"]["log_loss"][1]
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp / "test.csv"),
                 "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "95% interval" in out and "Wilson" in out
    assert json.loads((tmp_path / "e.json").read_text())["n"] == 60


def test_evaluate_maps_a_renamed_target_and_warns_on_unseen_categories(table_run, tmp_path, capsys):
    tmp, result = table_run
    text = (tmp / "test.csv").read_text().replace("a,b,color,label", "a,b,color,outcome").replace(",red,", ",green,", 2)
    (tmp_path / "renamed.csv").write_text(text)
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp_path / "renamed.csv")]) == 2
    assert "has no column 'label' (the run's 'label'); its columns are ['a', 'b', 'color', 'outcome']: name it " \
           "with --target" in capsys.readouterr().err
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp_path / "renamed.csv"),
                 "--target", "outcome"]) == 0
    assert "2 of 60 rows hold categories unseen in training — 'color': 2 rows (['green'])" in capsys.readouterr().err


def test_evaluate_refuses_classes_the_run_never_saw(table_run, tmp_path, capsys):
    tmp, result = table_run
    _table(tmp_path / "other.csv", 20, 2, extra_class="maybe")
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp_path / "other.csv")]) == 2
    assert "holds the class(es) ['maybe'] that the run's training data lacks" in capsys.readouterr().err


@pytest.mark.parametrize("case, message", [
    ("missing_column", "has no column 'b' (the run's 'b'); its columns are ['a', 'B', 'color', 'label']. Name the "
                       "test file's column with data.test_columns = {b = \"<its name>\"}"),
    ("unknown_class", "has the class(es) ['maybe'] that the training data"),
    ("builder_import", "data.builder = 'nosuchpkg_xyz.data:make': no module named 'nosuchpkg_xyz'"),
    ("builder_returns", "returned a str; accepted: (X, y)"),
    ("xy_lengths", "X has shape (10, 2) and y (9,)"),
])
def test_bad_own_data_is_one_message_exit_2_and_no_run_directory(tmp_path, capsys, case, message):
    _table(tmp_path / "train.csv", 80, 0)
    (tmp_path / "mine.py").write_text("import numpy as np\ndef text():\n    return 'a string'\n"
                                      "def uneven():\n    return np.zeros((10, 2)), np.zeros(9)\n")
    config = {
        "missing_column": {"source": "train.csv", "test": "test.csv"},
        "unknown_class": {"source": "train.csv", "test": "bad.csv"},
        "builder_import": {"builder": "nosuchpkg_xyz.data:make"},
        "builder_returns": {"builder": f"{tmp_path / 'mine.py'}:text"},
        "xy_lengths": {"builder": f"{tmp_path / 'mine.py'}:uneven"},
    }[case]
    _table(tmp_path / "test.csv", 20, 1, header="a,B,color,label")
    _table(tmp_path / "bad.csv", 20, 1, extra_class="maybe")
    lines = [f'{k} = "{tmp_path / v if k != "builder" else v}"' for k, v in config.items()]
    (tmp_path / "c.toml").write_text(f'runs_dir = "{tmp_path / "runs"}"\nname = "x"\n[data]\n' + "\n".join(lines) + "\n")
    assert main(["run", "--config", str(tmp_path / "c.toml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs" / "x").exists()


def test_a_text_test_file_with_another_column_name_maps_through_test_columns(tmp_path, capsys):
    words = {1: ["great", "superb", "fun"], 0: ["dull", "awful", "slow"]}
    rng = np.random.default_rng(0)

    def write(path, column, n):
        rows = [f"{column}\tlabel"] + [f"it was {rng.choice(words[i % 2])} and {rng.choice(words[i % 2])}\t{i % 2}"
                                       for i in range(n)]
        path.write_text("\n".join(rows) + "\n")

    write(tmp_path / "train.tsv", "sentence", 120)
    write(tmp_path / "test.tsv", "content", 30)
    base = {"data.source": str(tmp_path / "train.tsv"), "data.text_column": "sentence", "data.test": str(tmp_path / "test.tsv"),
            "model.family": "text_bag", "search.space": {"lr": {"low": 3e-3, "high": 3e-2, "log": True}}}
    with pytest.raises(DataError, match=r"has no column 'sentence' \(the run's 'sentence'\); its columns are "
                                        r"\['content', 'label'\]. Name the test file's column with "
                                        r"data.test_columns = \{text = \"<its name>\"\}"):
        _run(tmp_path, **base)
    result = _run(tmp_path, **base, **{"data.test_columns": {"text": "content"}})
    assert result.summary["test"]["n"] == 30
    evaluated = evaluate_file(result.path, tmp_path / "test.tsv", text_column="content")
    assert evaluated["metrics"]["accuracy"] == pytest.approx(result.summary["test"]["accuracy"])
    with pytest.raises(ConfigError, match="data.test_columns.words: not a column of the run"):
        _run(tmp_path, "y", **base, **{"data.test_columns": {"words": "content"}})


def _images(root, classes, n, seed):
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 40, (8, 8)).astype(np.uint8)
            pixels[:4] += np.uint8(60 + 120 * k)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def test_an_image_test_folder_is_sealed_and_evaluated_by_class_folders(tmp_path, capsys):
    _images(tmp_path / "train", ("cat", "dog"), 20, 0)
    _images(tmp_path / "test", ("cat", "dog"), 6, 1)
    result = _run(tmp_path, **{"data.source": str(tmp_path / "train"), "data.test": str(tmp_path / "test")})
    assert result.summary["test"]["n"] == 12
    splits = json.loads((result.path / "splits.json").read_text())
    assert splits["ids"] == "file" and all(p.endswith(".png") for p in splits["train"])
    assert splits["test"]["rows"][0].endswith("test/cat/000.png")
    assert len(splits["train"]) + len(splits["val"]) == 40
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp_path / "test")]) == 0
    evaluated = evaluate_file(result.path, tmp_path / "test")
    assert evaluated["metrics"]["accuracy"] == pytest.approx(result.summary["test"]["accuracy"])
    from knobs.pipeline.commands._predict import predict_file

    with pytest.raises(DataError, match="a folder of class folders is labelled data: score it with `knobs evaluate`"):
        predict_file(result.path, tmp_path / "test")
    _images(tmp_path / "other", ("cat", "bird"), 2, 2)
    assert main(["evaluate", "--run", str(result.path), "--input", str(tmp_path / "other")]) == 2
    assert "class folder(s) ['bird'] that the run's training data lacks" in capsys.readouterr().err


def test_a_builder_run_with_a_torch_dataset_and_fold_mode_records_the_folds(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import numpy as np, torch\n"
        "class D(torch.utils.data.Dataset):\n"
        "    def __init__(self):\n"
        "        rng = np.random.default_rng(0); self.X = rng.normal(size=(90, 4)).astype(np.float32)\n"
        "    def __len__(self): return 90\n"
        "    def __getitem__(self, i): return torch.tensor(self.X[i]), int(self.X[i, 0] > 0)\n"
        "def make(): return D()\n")
    result = _run(tmp_path, **{"data.builder": f"{tmp_path / 'mine.py'}:make", "data.folds": 3, "ensemble.enabled": False})
    assert "torch Dataset of 90 items read into memory" in result.summary["data"]["loading"]["note"]
    splits = json.loads((result.path / "splits.json").read_text())
    assert splits["ids"] == "position" and len(splits["folds"]) == len(splits["train"])
    assert sorted(set(splits["folds"])) == [0, 1, 2] and splits["val"] == []
    assert result.summary["data"]["source"] == f"builder:{tmp_path / 'mine.py'}:make"
    assert len(result.summary["data"]["loading"]["builder_sha256"]) == 64


def test_rows_subsample_a_table_before_the_split(tmp_path):
    _table(tmp_path / "train.csv", 200, 0)
    result = _run(tmp_path, **{"data.source": str(tmp_path / "train.csv"), "data.rows": 80})
    splits = json.loads((result.path / "splits.json").read_text())
    lines = splits["train"] + splits["val"] + splits["test"]
    assert len(lines) == 80 and result.summary["data"]["n"] == 80 and max(lines) > 81  # drawn from the whole file


def test_a_search_cut_by_its_timeout_records_why_in_the_summary(tmp_path):
    result = run(_cfg(tmp_path, **{"search.n_trials": 50, "search.timeout": 0.5, "train.epochs": 20}),
                 display=Display(quiet=True))
    assert result.summary["n_trials"] < 50
    assert result.summary["search"]["stopped"].startswith("timeout after 0.5 s (search.timeout): ")
