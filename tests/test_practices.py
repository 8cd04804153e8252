"""[balance], [augment] and [transfer] in `knobs run`: checked before anything is written, applied per trial."""

import csv

import numpy as np
import pytest

from knobs.config import load_config
from knobs.errors import ConfigError, DataError
from knobs.pipeline import Display, run
from knobs.pipeline.stages._inputs import load_inputs

pytestmark = pytest.mark.slow

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 3, "train.patience": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "width": 16, "depth": 1,
                         "optimizer": "adam"}}


def _cfg(tmp_path, name="p", **more):
    return load_config(None, {**FAST, "runs_dir": str(tmp_path / "runs"), "name": name, **more})


def _imbalanced_csv(path, n_major=300, n_minor=30, seed=0):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["a", "b", "label"])
        for label, n in (("common", n_major), ("rare", n_minor)):
            centre = 0.0 if label == "common" else 1.2
            for _ in range(n):
                w.writerow([f"{rng.normal(centre):.4f}", f"{rng.normal(centre):.4f}", label])


def test_balance_weights_the_loss_and_tunes_the_threshold_on_validation(tmp_path):
    _imbalanced_csv(tmp_path / "d.csv")
    cfg = _cfg(tmp_path, **{"data.source": str(tmp_path / "d.csv"), "balance.class_weight": "balanced",
                            "balance.threshold": "balanced_accuracy"})
    inputs = load_inputs(cfg)
    data = inputs.data
    assert data.balanced.weights[1] > 5 * data.balanced.weights[0]  # the rare class weighs ~10x
    result = run(cfg, display=Display(quiet=True))
    summary = result.summary
    t = summary["threshold"]
    assert t["metric"] == "balanced_accuracy" and 0.0 < t["threshold"] < 1.0
    assert 0.0 <= t["test"]["balanced_accuracy"] <= 1.0
    assert summary["practices"]["balance"]["class_weight"] == "balanced"
    applied = summary["practices"]["balance_applied"]  # what the weights were, on which counts
    assert applied["class_weights"][1] > 5 * applied["class_weights"][0] and applied["counts_before"][1] < 30
    page = (result.path / "report.html").read_text()  # the report shows the tuned cut and its test metrics too
    assert "Decision threshold tuned on validation for balanced_accuracy" in page
    assert "Class imbalance and its treatment" in page


def test_smote_adds_training_rows_only(tmp_path):
    _imbalanced_csv(tmp_path / "d.csv")
    cfg = _cfg(tmp_path, **{"data.source": str(tmp_path / "d.csv"), "balance.sampler": "smote"})
    inputs = load_inputs(cfg)
    splits, data = inputs.splits, inputs.data
    counts = np.bincount(data.balanced.y.numpy() if hasattr(data.balanced.y, "numpy") else data.balanced.y)
    assert counts[0] == counts[1] and len(data.val[1]) == len(splits.val[1])


def test_augmentation_is_searched_and_recorded(tmp_path):
    space = {**FAST["search.space"], "channels": 4, "augment.rotation": {"low": 0.0, "high": 20.0}}
    space.pop("width")
    cfg = _cfg(tmp_path, **{"model.family": "convnet", "search.space": space,
                            "augment": {"hflip": 0.5, "noise": 0.05, "mixup_alpha": 0.2}})
    result = run(cfg, display=Display(quiet=True))
    assert "augment.rotation" in result.summary["best_trial"]["config"]
    assert result.summary["practices"]["augment"]["mixup_alpha"] == 0.2
    assert 0.0 <= result.summary["test"]["accuracy"] <= 1.0


def test_transfer_starts_from_a_finished_run_and_reloads_its_trials(tmp_path):
    source = run(_cfg(tmp_path, name="src"), display=Display(quiet=True)).path / "checkpoints" / "best.pt"
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "optimizer": "adam"}
    cfg = _cfg(tmp_path, name="tl", **{"search.space": space,
                                       "transfer": {"source": str(source), "mode": "feature_extractor"}})
    result = run(cfg, display=Display(quiet=True))
    assert result.summary["test"]["accuracy"] > 0.5  # the frozen features carry over
    assert set(result.summary["best_trial"]["config"]) == {"lr"}
    assert result.summary["states"]["complete"] == 2


@pytest.mark.parametrize("more, error, message", [
    ({"augment": {"spin": 1.0}, "model.family": "convnet", "search.space": {"lr": {"low": 1e-3, "high": 1e-2}, "channels": 4}},
     ConfigError, "spin"),
    ({"augment": {"hflip": 0.5}}, ConfigError, "needs image data"),
    ({"augment": {"brightness": 0.2}, "model.family": "convnet", "search.space": {"lr": {"low": 1e-3, "high": 1e-2}}},
     ConfigError, r"augment.brightness: colour jitter .* data.standardize = 'feature'.* set data.standardize = \"none\""),
    ({"augment": {}, "data.standardize": "channel", "model.family": "convnet",
      "search.space": {"lr": {"low": 1e-3, "high": 1e-2}, "augment.contrast": {"low": 0.0, "high": 0.1}}},
     ConfigError, "search.space.augment.contrast: colour jitter"),
    ({"augment": {"hue": 0.05}, "data.standardize": "none", "model.family": "convnet",
      "search.space": {"lr": {"low": 1e-3, "high": 1e-2}}}, ConfigError, r"augment.hue: saturation and hue need RGB"),
    ({"data.source": "diabetes", "balance.class_weight": "balanced"}, DataError, "regression"),
    ({"transfer": {"mode": "feature_extractor"}}, ConfigError, "transfer.source"),
])
def test_bad_practice_options_stop_before_the_run(tmp_path, more, error, message):
    with pytest.raises(error, match=message):
        load_inputs(_cfg(tmp_path, **more))
    assert not (tmp_path / "runs").exists()


def test_colour_jitter_on_unstandardized_images_is_accepted(tmp_path):
    cfg = _cfg(tmp_path, **{"augment": {"brightness": 0.2, "contrast": 0.2}, "data.standardize": "none",
                            "model.family": "convnet", "search.space": {"lr": {"low": 1e-3, "high": 1e-2}}})
    assert load_inputs(cfg).data.input_shape == (1, 8, 8)


def test_transfer_refuses_architecture_keys_in_the_space(tmp_path):
    source = run(_cfg(tmp_path, name="src"), display=Display(quiet=True)).path / "checkpoints" / "best.pt"
    cfg = _cfg(tmp_path, name="tl", **{"transfer": {"source": str(source)}})
    with pytest.raises(ConfigError, match="search.space.(width|depth).*architecture"):
        load_inputs(cfg)
