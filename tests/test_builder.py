"""`model.builder`: your own model function, through the whole cycle and its rebuilds."""

from __future__ import annotations

import copy
import csv
import textwrap

import numpy as np
import pytest
import torch

from knobs.config import load_config
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.stages._inputs import load_inputs
from user_data import Pairs

pytestmark = pytest.mark.slow

MODELS = '''
import torch.nn as nn

def make(params, info):
    """A small MLP of our own; width comes from the search space."""
    width = params["width"]
    flat = 1
    for s in info.input_shape:
        flat *= s
    return nn.Sequential(nn.Flatten(), nn.Linear(flat, width), nn.ReLU(), nn.Linear(width, info.n_classes))
'''

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "checks.overfit_tiny": False, "ensemble.top_k": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": {"low": 8, "high": 16, "type": "int"},
                         "optimizer": "adam"}}


def _models(tmp_path, source=MODELS, name="models.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _cfg(tmp_path, builder, **more):
    return load_config(None, {**copy.deepcopy(FAST), "runs_dir": str(tmp_path / "runs"), "name": "b", "model.builder": builder,
                              **more})


def test_a_builder_from_a_file_trains_predicts_and_refuses_a_resume_after_the_file_changed(tmp_path):
    path = _models(tmp_path)
    original = path.read_text()
    run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True), final_test=False)  # `knobs tune`
    path.write_text(original + "\n# edited\n")
    with pytest.raises(ConfigError, match=r"models.py has changed since .*restore the file"):
        run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True))
    path.write_text(original)
    result = run(_cfg(tmp_path, f"{path}:make"), display=Display(quiet=True))  # the same file: it finishes
    assert result.summary["test"]["accuracy"] > 0.3  # digits, 10 classes: it learnt something
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert best["extra"]["builder"]["reference"] == f"{path.resolve()}:make"
    assert len(best["extra"]["builder"]["sha256"]) == 64
    np.save(tmp_path / "new.npy", np.random.default_rng(0).normal(size=(5, 64)).astype(np.float32))
    with open(predict_file(result.path, tmp_path / "new.npy"), newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 5
    path.write_text(original + "\n# edited\n")
    with pytest.raises(ConfigError, match="has changed since"):
        predict_file(result.path, tmp_path / "new.npy")

    path.write_text(original)  # [transfer] from the builder run's checkpoint: rebuilt by the builder
    source = result.path / "checkpoints" / "best.pt"
    transfer = {"name": "tl", "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "optimizer": "adam"},
                "transfer": {"source": str(source), "mode": "feature_extractor"}}
    with pytest.raises(ConfigError, match=r"search.space.width: a transfer run keeps the source model's architecture"):
        load_inputs(_cfg(tmp_path, f"{path}:make", **{**transfer, "search.space": FAST["search.space"]}))
    tl = run(_cfg(tmp_path, f"{path}:make", **transfer), display=Display(quiet=True))
    assert tl.summary["states"]["complete"] == 2
    assert set(tl.summary["best_trial"]["config"]) == {"lr"}
    assert tl.summary["test"]["accuracy"] > 0.3
    with open(predict_file(tl.path, tmp_path / "new.npy", tmp_path / "tl.csv"), newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 5


NOT_A_MODULE = '''
def make(params, info):
    return "a model"
'''
RAISES = '''
def make(params, info):
    raise ValueError("width must be even")
'''
UNKNOWN_KEY = '''
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, n_in, n_out, width):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x):
        return self.fc(x)

def make(params, info):
    return Net(info.input_shape[0], info.n_classes, **params)
'''
ACCEPTS = MODELS + '''
make.accepts = {"width"}
'''
MISSING_KEY = '''
def make(params, info):
    return params["depth"]
'''
WRONG_OUTPUT = '''
import torch.nn as nn

def make(params, info):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
'''
WRONG_INPUT = '''
import torch.nn as nn

def make(params, info):
    return nn.Linear(7, info.n_classes)
'''


@pytest.mark.parametrize("source, function, more, message", [
    (None, "make", {}, r"no such file .*models.py \(a path is relative to the working directory"),
    ("def make(params, info)\n    return 1\n", "make", {}, r"importing .*models.py failed \(line 1\): SyntaxError"),
    (MODELS, "build", {}, r"no function 'build' in .*models.py; it defines make"),
    (NOT_A_MODULE, "make", {}, r"returned str, not a torch.nn.Module \(called with params \{'width': 12\}\)"),
    (RAISES, "make", {}, r"raised ValueError: width must be even \(called with params \{'width': 12\}\)"),
    (UNKNOWN_KEY, "make", {"search.space.dropout": 0.1},
     r"raised TypeError: .*unexpected keyword argument 'dropout' \(called with params \{'dropout': 0.1, 'width': 12\}\)"),
    (ACCEPTS, "make", {"search.space.depht": 2},
     r"search.space.depht: model.builder .* accepts width \(its `accepts`\); remove depht"),
    (MISSING_KEY, "make", {}, r"raised KeyError: 'depth' \(called with params \{'width': 12\}\); params holds the "
                              r"model keys of \[search.space\]"),
    (WRONG_OUTPUT, "make", {}, r"returns shape \[2, 3\] for 2 examples; this classification task needs 10 outputs"),
    (WRONG_INPUT, "make", {}, r"fails on a batch of inputs of shape \[2, 1, 8, 8\] .*info.input_shape = \[1, 8, 8\]"),
    (MODELS, "make", {"model.family": "convnet"}, r"model.builder and model.family = 'convnet' are both set"),
    (MODELS, "make", {"search.executor": "population"}, r"population mode stacks models of the built-in families"),
])
def test_bad_builders_are_named_before_the_run(tmp_path, source, function, more, message):
    path = _models(tmp_path, source) if source is not None else tmp_path / "models.py"
    with pytest.raises(ConfigError, match=message):
        load_inputs(_cfg(tmp_path, f"{path}:{function}", **{"search.space.width": 12, **more}))


def test_a_bad_builder_exits_2_through_the_cli_and_leaves_no_run_directory(tmp_path, capsys):
    from knobs.cli import main

    path = _models(tmp_path, RAISES)
    config = tmp_path / "run.toml"
    config.write_text(f'runs_dir = "{tmp_path / "runs"}"\nname = "bad"\n[model]\nbuilder = "{path}:make"\n')
    assert main(["run", "--config", str(config)]) == 2
    assert "raised ValueError: width must be even" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "bad").exists()


def test_a_module_reference_imports_like_python(tmp_path, monkeypatch):
    _models(tmp_path, MODELS, name="my_models.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    inputs = load_inputs(_cfg(tmp_path, "my_models:make"))
    assert inputs.reference["width"] in range(8, 17)
    with pytest.raises(ConfigError, match="no module named 'no_such_models'"):
        load_inputs(_cfg(tmp_path, "no_such_models:make"))


def tiny_net(params, info):
    """A builder defined in this file: knobs.run records it by its file and name."""
    flat = int(np.prod(info.input_shape))
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(flat, params["width"]), torch.nn.ReLU(),
                               torch.nn.Linear(params["width"], info.n_classes))


def test_knobs_run_from_python_with_a_function_and_arrays(tmp_path):
    import sys

    import knobs

    space = {"lr": knobs.Float(1e-3, 1e-2, log=True), "width": knobs.Int(8, 16), "optimizer": "adam"}
    result = knobs.run(model=tiny_net, data="digits", space=space, quiet=True, n_trials=2, runs_dir=str(tmp_path),
                       name="py", train={"epochs": 2, "patience": 2}, **{"checks.overfit_tiny": False})
    assert result.path == tmp_path / "py"
    assert result.summary["states"]["complete"] == 2
    assert result.summary["test"]["accuracy"] > 0.3
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert best["extra"]["builder"]["reference"] == f"{__file__}:tiny_net"
    np.save(tmp_path / "rows.npy", np.zeros((3, 64), np.float32))
    assert predict_file(result.path, tmp_path / "rows.npy").exists()

    rng = np.random.default_rng(0)  # in-memory arrays: a table of two classes
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] > 0).astype(np.int64)
    arrays = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=1, epochs=2, runs_dir=str(tmp_path),
                       name="arrays", space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1, "optimizer": "adam"})
    assert arrays.summary["data"]["task"] == "classification"
    assert arrays.summary["states"]["complete"] == 1
    assert "torch" in sys.modules  # (the pipeline ran); `import knobs` alone stays torch-free: test_api


def test_knobs_run_keeps_in_memory_arrays_exactly_as_an_npz_of_kind_arrays(tmp_path):
    import knobs

    rng = np.random.default_rng(1)
    X = (rng.normal(size=(120, 4)) / 3).astype(np.float32)  # float32 values a decimal text would not keep as such
    X[:, 3] = rng.integers(0, 5, 120).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int16)
    result = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=1, epochs=1, runs_dir=str(tmp_path),
                       name="exact", space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1})
    written = list((tmp_path / "_arrays").iterdir())
    assert [p.suffix for p in written] == [".npz"]
    with np.load(written[0], allow_pickle=False) as stored:
        assert stored["X"].dtype == np.float32 and stored["y"].dtype == np.int16
        assert np.array_equal(stored["X"], X) and np.array_equal(stored["y"], y)
    loading = result.summary["data"]["loading"]
    assert loading["kind"] == "arrays" and loading["file"] == str(written[0])
    again = knobs.run(model="mlp", data=(torch.as_tensor(X), torch.as_tensor(y)), quiet=True, n_trials=1, epochs=1,
                      runs_dir=str(tmp_path), name="again", space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1})
    assert again.summary["data"]["loading"]["file"] == str(written[0])  # the same content, the same file
    with pytest.raises(ConfigError, match='data.kind = "arrays"'):
        knobs.run(data=(X, y), runs_dir=str(tmp_path), **{"data.kind": "tabular"})


def test_knobs_run_takes_a_torch_dataset_and_an_official_test_set(tmp_path, monkeypatch):
    import knobs

    rng = np.random.default_rng(2)
    X = rng.normal(size=(160, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    settings = dict(model="mlp", quiet=True, n_trials=1, epochs=1, runs_dir=str(tmp_path),
                    space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1})
    whole = knobs.run(data=Pairs(X, y), name="dataset", **settings)
    with np.load(whole.summary["data"]["loading"]["file"], allow_pickle=False) as stored:
        assert np.array_equal(stored["X"], X) and np.array_equal(stored["y"], y) and "X_test" not in stored
    split = knobs.run(data={"train": Pairs(X[:120], y[:120]), "test": (X[120:], y[120:])}, name="split", **settings)
    loading = split.summary["data"]["loading"]
    assert loading["given"] == ["test", "train"] and loading["rows"] == 160
    assert split.summary["data"]["n"] == 120 and split.summary["test"] is not None
    import json

    splits = json.loads((split.path / "splits.json").read_text())
    assert splits["test"]["given"] and len(splits["test"]["rows"]) == 40  # the official test set, sealed as it is
    assert len(splits["train"]) + len(splits["val"]) == 120
    with np.load(loading["file"], allow_pickle=False) as stored:
        assert np.array_equal(stored["X_test"], X[120:]) and np.array_equal(stored["y_test"], y[120:])
    monkeypatch.setattr("knobs.data._arrays.MAX_BYTES", 1000)
    with pytest.raises(ConfigError, match=r"take 0.00 GiB in memory.*knobs.run reads a Dataset object into memory: "
                                          r"to stream one this large, return it .* data.builder"):
        knobs.run(data=Pairs(X, y), **settings)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"a dict of splits needs \"train\".*got the keys \['training'\]"):
        knobs.run(data={"training": Pairs(X, y)}, **settings)
    with pytest.raises(ConfigError, match=r"knobs.run\(data\['test'\]=...\): expected \(X, y\) arrays or a torch Dataset"):
        knobs.run(data={"train": (X, y), "test": "test.csv"}, **settings)

    class Records(torch.utils.data.Dataset):  # Hugging Face's item form: a dict with a label
        def __len__(self):
            return len(y)

        def __getitem__(self, i):
            return {"features": X[i], "label": y[i]}

    records = knobs.run(data=Records(), name="records", **settings)  # one input and a label: read by their keys
    with np.load(records.summary["data"]["loading"]["file"], allow_pickle=False) as stored:
        assert np.array_equal(stored["X"], X) and np.array_equal(stored["y"], y)

    class Inputs(Records):  # two inputs: which one the model reads is the user's to say
        def __getitem__(self, i):
            return {"features": X[i], "mask": X[i] > 0, "label": y[i]}

    with pytest.raises(ConfigError, match=r"item 0 is a dict with keys \['features', 'mask', 'label'\]; return "
                                          r"\(x, y\) from its __getitem__ \(knobs.run reads one input and a label"):
        knobs.run(data=Inputs(), **settings)


@pytest.mark.parametrize("labels", [("bird", "cat", "dog"), (3, 5, 7)])
def test_class_labels_as_given_come_back_in_predict_and_are_read_by_evaluate(tmp_path, labels):
    import knobs
    from knobs.pipeline.commands._evaluate import evaluate_file

    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 4)).astype(np.float32)
    y = np.array(labels)[np.digitize(X[:, 0], [-0.4, 0.4])]  # strings, or ids that are not 0..C-1
    result = knobs.run(model="mlp", data=(X, list(y) if isinstance(labels[0], str) else y), quiet=True, n_trials=1,
                       epochs=2, runs_dir=str(tmp_path), name="labels",
                       space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1})
    names = [str(v) for v in labels]
    assert result.summary["data"]["class_names"] == names
    np.save(tmp_path / "new.npy", X[:20])
    with open(predict_file(result.path, tmp_path / "new.npy"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["prediction"] for row in rows} <= set(names) and f"proba_{names[0]}" in rows[0]
    np.savez(tmp_path / "labelled.npz", X=X[:40], y=y[:40])
    assert evaluate_file(result.path, tmp_path / "labelled.npz")["n"] == 40
    np.savez(tmp_path / "unknown.npz", X=X[:3], y=np.array(["cow", "cat", "dog"] if isinstance(labels[0], str)
                                                              else [4, 5, 7]))
    with pytest.raises(DataError, match=r"holds the class\(es\) \['cow'\] that the run's training data lacks|"
                                        r"labels \[4, 5, 7\] are not classes of the run \(its classes are \['3', '5', "
                                        r"'7'\], or their indices 0..2\)"):
        evaluate_file(result.path, tmp_path / "unknown.npz")
    if isinstance(labels[0], str):
        with pytest.raises(DataError, match="class names .* which a regression cannot fit"):
            knobs.run(model="mlp", data=(X, y), quiet=True, runs_dir=str(tmp_path), name="r",
                      **{"data.task": "regression"})


def test_knobs_run_refuses_what_worker_processes_cannot_import(tmp_path):
    import knobs

    with pytest.raises(ConfigError, match=r"model='.*<lambda>'.*search.workers = 2.*top level of a .py file"):
        knobs.run(model=lambda params, info: tiny_net(params, info), workers=2, runs_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=r"unknown setting 'n_trails' \(did you mean 'n_trials'\?\)"):
        knobs.run(model=tiny_net, n_trails=2, runs_dir=str(tmp_path))
    # an unknown setting is told where it goes: a section's key, a trial hyperparameter's place in space
    for name, hint in [("batch_size", r"\(did you mean 'train.batch_size'\?\)"),
                       ("max_epochs", r"\(did you mean 'train.epochs'\?\)"),
                       ("sampler", r"\(did you mean 'search.sampler' or 'balance.sampler'\?\)"),
                       ("learning_rate", r"\(lr is a trial hyperparameter: put it in space=\{...\}")]:
        with pytest.raises(ConfigError, match=f"unknown setting '{name}' {hint}"):
            knobs.run(model=tiny_net, runs_dir=str(tmp_path), **{name: 1})
    from knobs.pipeline.commands._python_run import run_config

    assert run_config(data="houses.csv", target="price").data.target == "price"  # a CSV's target column, a shortcut
    assert run_config(metric="val_macro_f1").search.metric == "val_macro_f1"
    with pytest.raises(ConfigError, match=r"space=\{'act': \['relu', 'tanh'\]\}\): a list is neither .* knobs.Choice"):
        run_config(space={"act": ["relu", "tanh"]})
    with pytest.raises(ConfigError, match=r"expected X of shape \(rows, features...\)"):
        knobs.run(data=(np.zeros(4), np.zeros(4)), runs_dir=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_knobs_run_reads_a_label_column_one_hot_rows_and_label_rows_and_points_per_position_targets_to_the_trainer():
    # the first two were refused ("expected y of shape (rows,)"), though the Trainer reads them as their classes
    from knobs.pipeline.commands._python_run import _split_arrays

    X, y = np.zeros((6, 2)), np.array([0, 2, 1, 1, 0, 2])
    assert _split_arrays((X, y[:, None]), "data")[1].tolist() == y.tolist()
    assert _split_arrays((X, np.eye(3)[y]), "data")[1].tolist() == y.tolist()
    several = np.array([[1, 0, 1], [0, 1, 1]] * 3)
    assert _split_arrays((X, several), "data")[1].shape == (6, 3)  # rows of several labels: a multi-label target
    with pytest.raises(ConfigError, match=r"got \(6, 2\) and \(6, 3, 2\); knobs run trains one class or value per "
                                          r"row, .* a class per token trains with knobs.train.Trainer"):
        _split_arrays((X, np.ones((6, 3, 2))), "data")


def test_the_autopilot_turns_training_knobs_only_for_a_builder(tmp_path):
    from knobs.pipeline.autopilot._knobs import knob_defaults

    path = _models(tmp_path)
    inputs = load_inputs(_cfg(tmp_path, f"{path}:make"))
    assert set(knob_defaults(_cfg(tmp_path, f"{path}:make"), inputs.data)) == {
        "lr", "weight_decay", "batch_size", "epochs", "clip_grad_norm", "augment"}  # digits are 8x8 images
    with pytest.raises(ConfigError, match="autopilot.keys: 'dropout' cannot change: .*not of a model.builder"):
        load_inputs(_cfg(tmp_path, f"{path}:make", **{"autopilot.enabled": True, "autopilot.keys": ["dropout"]}))


def test_model_info_and_knobs_run_load_no_torch_on_import():
    import subprocess
    import sys

    code = "import knobs, sys; knobs.ModelInfo; knobs.run; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_worker_processes_rebuild_a_builder_from_a_relative_path(tmp_path, monkeypatch):
    _models(tmp_path)
    monkeypatch.chdir(tmp_path)  # the path is relative to the working directory, which workers share
    result = run(_cfg(tmp_path, "models.py:make", **{"search.workers": 2}), display=Display(quiet=True))
    assert result.summary["states"] == {"complete": 2, "pruned": 0, "failed": 0, "running": 0}
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert best["extra"]["builder"]["reference"] == f"{tmp_path.resolve() / 'models.py'}:make"


def test_fold_mode_trains_a_builder_on_every_fold_and_refits_it(tmp_path):
    path = _models(tmp_path)
    result = run(_cfg(tmp_path, f"{path}:make", **{"data.folds": 2, "search.n_trials": 1, "ensemble.enabled": False}), display=Display(quiet=True))
    assert result.summary["final_model"] == "refit"
    assert len(result.summary["cv"]["per_fold"]) == 2
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    assert best["extra"]["builder"]["reference"] == f"{path.resolve()}:make"


def test_a_builder_with_pretrained_weights_is_refused_by_name():
    from knobs.config import parse_config

    with pytest.raises(ConfigError, match=r"model.weights is for the pretrained families"):
        parse_config({"model": {"builder": "models.py:make", "weights": "w.pth"}})


def one_logit(params, info):
    """A binary classifier written as PyTorch users write it: one logit per row."""
    return torch.nn.Sequential(torch.nn.Linear(info.input_shape[0], params["width"]), torch.nn.ReLU(),
                               torch.nn.Linear(params["width"], 1))


def test_knobs_run_trains_a_one_logit_binary_classifier_to_probabilities(tmp_path):
    import knobs

    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 5)).astype(np.float32)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(np.int64)
    result = knobs.run(model=one_logit, data=(X, y), quiet=True, n_trials=2, epochs=15, runs_dir=str(tmp_path),
                       name="logit", space={"lr": knobs.Float(3e-3, 3e-2, log=True), "width": 16})
    test = result.summary["test"]
    assert test["accuracy"] > 0.85 and test["roc_auc"] > 0.9 and test["log_loss"] < 0.5
    with pytest.raises(ConfigError, match=r"its model returns shape \[\d+, 1\].*needs 3 outputs per example"):
        knobs.run(model=one_logit, data=(X, y + (X[:, 2] > 1)), quiet=True, n_trials=1, epochs=1,
                  runs_dir=str(tmp_path), name="three", space={"width": 4, "lr": knobs.Float(1e-3, 1e-2)})


def test_knobs_run_ranks_trials_by_balanced_accuracy_when_asked(tmp_path):
    import knobs
    from knobs.study import Study

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 1.2).astype(np.int64)  # about 1 in 7 positive
    result = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=3, epochs=4, runs_dir=str(tmp_path), name="bal",
                       space={"lr": knobs.Float(1e-3, 1e-2, log=True), "width": 8, "depth": 1},
                       **{"search.metric": "val_balanced_accuracy"})
    summary = result.summary
    assert summary["search"]["direction"] == "maximize" and summary["best_trial"]["metric"] == "val_balanced_accuracy"
    study = Study.load(f"sqlite:///{result.path / 'study.db'}", "search")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert all(t.value == t.attrs["val_balanced_accuracy"] and 0 <= t.value <= 1 for t in done)
    assert max(t.value for t in done) == summary["best_trial"]["value"]
    assert "val_balanced_accuracy" in done[0].attrs["curve"]
    folds = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=1, epochs=2, runs_dir=str(tmp_path), name="balf",
                      space={"lr": knobs.Float(1e-3, 1e-2, log=True), "width": 8, "depth": 1},
                      **{"search.metric": "val_balanced_accuracy", "data.folds": 2})
    cv = folds.summary["cv"]
    assert cv["metric"] == "val_balanced_accuracy"
    assert cv["mean"]["val_balanced_accuracy"] == pytest.approx(folds.summary["best_trial"]["value"])
    f1 = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=2, epochs=2, runs_dir=str(tmp_path), name="f1",
                   space={"lr": knobs.Float(1e-3, 1e-2, log=True), "width": 8, "depth": 1},
                   **{"search.metric": "val_macro_f1"})
    assert f1.summary["best_trial"]["metric"] == "val_macro_f1" and f1.summary["search"]["direction"] == "maximize"
    with pytest.raises(ConfigError, match=r"search.metric = \"val_macro_f1\": the autopilot .* no per-row share"):
        knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=1, epochs=1, runs_dir=str(tmp_path), name="f1ap",
                  space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1}, autopilot={"enabled": True},
                  **{"search.metric": "val_macro_f1"})
    auc = knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=2, epochs=2, runs_dir=str(tmp_path), name="auc",
                    space={"lr": knobs.Float(1e-3, 1e-2, log=True), "width": 8, "depth": 1}, metric="val_roc_auc")
    assert auc.summary["best_trial"]["metric"] == "val_roc_auc" and auc.summary["search"]["direction"] == "maximize"
    done = [t for t in Study.load(f"sqlite:///{auc.path / 'study.db'}", "search").trials if t.state.name == "COMPLETE"]
    assert all(t.value == t.attrs["val_roc_auc"] and 0 <= t.value <= 1 for t in done)
    with pytest.raises(ConfigError, match=r"search.metric = \"val_roc_auc\": the autopilot .* ROC AUC has no per-row"):
        knobs.run(model="mlp", data=(X, y), quiet=True, n_trials=1, epochs=1, runs_dir=str(tmp_path), name="aucap",
                  space={"lr": knobs.Float(1e-3, 1e-2), "width": 8, "depth": 1}, autopilot={"enabled": True},
                  metric="val_roc_auc")
