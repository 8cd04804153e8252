"""knobs.transfer (reuse of a pretrained model): layers, heads, freezing with BatchNorm pinned to
eval, per-layer LRs in torch param groups and in Trainer.fit, checkpoint sources, config, bad input."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from knobs.errors import ConfigError
from knobs.models import build_model
from knobs.train import Callback, CheckpointError, Trainer, save_checkpoint
from knobs.transfer import (
    ParamGroups, TransferConfig, apply_transfer, build_group_optimizer, find_head, freeze, is_pinned,
    layer_lr_mults, load_source, lr_groups, model_layers, optimizer_groups, parse_transfer, replace_head, unfreeze,
)

torch.set_num_threads(1)


def mlp(n_classes=5, bn=False, width=16, depth=2, seed=0):
    torch.manual_seed(seed)
    return build_model("mlp", input_shape=(8,), n_classes=n_classes, width=width, depth=depth, batch_norm=bn)


def data(n=48, d=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    return X, (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long() * (classes > 2)


class TorchvisionLike(nn.Module):
    """A ResNet-shaped toy: conv1, bn1, relu, layer1 (a block), pool, fc — head registered last."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        return self.fc(self.pool(self.layer1(self.relu(self.bn1(self.conv1(x))))).flatten(1))


# ---- layers ----------------------------------------------------------------------------------

def test_layers_by_module_join_norms_to_the_layer_before():
    names = [layer.name for layer in model_layers(mlp(bn=True))]
    assert names == ["body.1+body.2", "body.4+body.5", "head"]
    assert [layer.name for layer in model_layers(mlp(bn=False))] == ["body.1", "body.3", "head"]


def test_layers_by_child_and_root_parameters_and_tied_weights():
    assert [layer.name for layer in model_layers(TorchvisionLike(), by="child")] == ["conv1", "bn1", "layer1", "fc"]
    net = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    net[1].weight = net[0].weight  # tied: counted once, in its first layer
    net.scale = nn.Parameter(torch.ones(1))
    layers = model_layers(net)
    assert layers[0].name == "(root)" and sum(len(layer.params) for layer in layers) == len(list(net.parameters()))


def test_layers_bad_unit_and_parameterless_model():
    with pytest.raises(ConfigError, match="layers: unknown 'params'; expected one of module, child"):
        model_layers(mlp(), by="params")
    with pytest.raises(ConfigError, match="no parameters"):
        model_layers(nn.ReLU())


# ---- heads ---------------------------------------------------------------------------------------

def test_find_head_default_is_the_last_linear():
    assert find_head(mlp()) == "head"
    conv = build_model("convnet", input_shape=(1, 8, 8), n_classes=3, channels=4, depth=1, head_width=8)
    assert find_head(conv) == "head.3"
    assert find_head(TorchvisionLike()) == "fc"


def test_replace_head_zero_init_gives_initial_loss_ln_c():
    net = mlp(n_classes=5)
    assert replace_head(net, 7) == "head"
    X = torch.randn(20, 8)
    logits = net(X)
    assert logits.shape == (20, 7)
    loss = F.cross_entropy(logits, torch.randint(0, 7, (20,)))
    assert loss.item() == pytest.approx(math.log(7), abs=1e-6)


def test_named_sequential_head_keeps_hidden_layers_and_replaces_last_linear():
    conv = build_model("convnet", input_shape=(1, 8, 8), n_classes=3, channels=4, depth=1, head_width=8)
    hidden = conv.head[1]
    assert replace_head(conv, 6, head="head") == "head"
    assert conv.head[1] is hidden and conv.head[3].out_features == 6


def test_head_errors_name_the_layer_and_sizes():
    with pytest.raises(ConfigError, match=r"head: 'classifier' is not a submodule .* Linear layers are body.1, body.3, head"):
        replace_head(mlp(), 3, head="classifier")
    with pytest.raises(ConfigError, match=r"layer 'head' gives 5 outputs but the data has 3 classes"):
        replace_head(mlp(n_classes=5), 3, reset=False)
    with pytest.raises(ConfigError, match=r"new_head: its last Linear gives 4 outputs but the data has 3 classes"):
        replace_head(mlp(), 3, new_head=nn.Linear(16, 4))
    with pytest.raises(ConfigError, match=r"new_head: its first Linear takes 12 inputs but layer 'head' receives 16"):
        replace_head(mlp(), 3, new_head=nn.Linear(12, 3))
    with pytest.raises(ConfigError, match="n_classes: expected an integer >= 1"):
        replace_head(mlp(), 0)
    with pytest.raises(ConfigError, match="holds no nn.Linear"):
        replace_head(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), 2, head="1")


def test_a_matching_new_head_is_used():
    net = mlp()
    head = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    replace_head(net, 3, new_head=head)
    assert net.head is head and net(torch.randn(2, 8)).shape == (2, 3)


# ---- freezing and BatchNorm -------------------------------------------------------------------------

def test_frozen_batchnorm_stays_in_eval_mode_and_keeps_its_statistics():
    net = mlp(bn=True)
    bn = net.body[2]
    with torch.no_grad():
        bn.running_mean.fill_(0.3)
    freeze(net.body)
    net.train()
    assert not bn.training and net.head.training and is_pinned(bn)
    x = torch.randn(32, 8) * 3 + 1
    out_full = net.body(x)
    out_half = net.body(x[:16])
    # eval mode: each example's features do not depend on the rest of its batch
    assert torch.allclose(out_full[:16], out_half)
    assert torch.all(bn.running_mean == 0.3) and int(bn.num_batches_tracked) == 0
    unfreeze(net.body)
    net.train()
    assert bn.training and not is_pinned(bn)
    assert all(p.requires_grad for p in net.parameters())


def test_pinned_batchnorm_survives_deepcopy_and_state_dict():
    net = mlp(bn=True)
    freeze(net.body)
    clone = copy.deepcopy(net)
    clone.train()
    assert not clone.body[2].training and clone.head.training
    fresh = mlp(bn=True, seed=1)
    fresh.load_state_dict(net.state_dict())  # pinning leaves the state_dict untouched


def test_feature_extractor_in_trainer_changes_only_the_head_and_not_bn_stats():
    net = mlp(n_classes=5, bn=True)
    model, groups = apply_transfer(net, {"mode": "feature_extractor"}, n_classes=3)
    assert [g["name"] for g in groups] == ["head"]
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["head.weight", "head.bias"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(lr=1e-2, epochs=3, batch_size=16, callbacks=[ParamGroups(groups)]).fit(model, data(), data(seed=1))
    after = model.state_dict()
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["head.bias", "head.weight"]  # BN running stats and counters included


def test_freeze_first_counts_layers_and_errors_list_them():
    model, groups = apply_transfer(mlp(bn=True), {"mode": "freeze_first", "freeze_first_n": 1}, n_classes=3)
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen == ["body.1.weight", "body.2.bias", "body.2.weight"]
    assert [g["name"] for g in groups] == ["head", "body.4+body.5"]
    model.train()
    assert not model.body[2].training and model.body[5].training
    with pytest.raises(ConfigError) as err:
        apply_transfer(mlp(bn=True), {"mode": "freeze_first", "freeze_first_n": 3}, n_classes=3)
    msg = str(err.value)
    assert "freeze_first_n: 3 layers asked for" in msg and "has 2 layers below its head 'head'" in msg
    assert "1: body.1+body.2, 2: body.4+body.5" in msg


def test_freeze_first_by_child_on_a_torchvision_style_model():
    net = TorchvisionLike()
    model, groups = apply_transfer(net, {"mode": "freeze_first", "freeze_first_n": 2, "layers": "child"}, n_classes=4)
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.bn1.parameters())
    assert all(p.requires_grad for p in model.layer1.parameters())
    model.train()
    assert not model.bn1.training and model.layer1[1].training
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)
    assert [g["name"] for g in groups] == ["fc", "layer1"]


# ---- per-layer learning rates -------------------------------------------------------------------------

def test_layer_lr_mults_and_discriminative_groups():
    assert layer_lr_mults(3, 0.1, 0.5) == pytest.approx([0.025, 0.05, 0.1])
    model, groups = apply_transfer(mlp(), {"mode": "fine_tune", "body_lr_mult": 0.2, "layer_decay": 0.5}, n_classes=3)
    assert [(g["name"], g["lr_mult"]) for g in groups] == [("head", 1.0), ("body.3", 0.2), ("body.1", 0.1)]
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_optimizer_groups_absolute_lrs_and_weight_decay_on_weights_only():
    net = mlp()
    groups = lr_groups(model_layers(net), "head", body_lr_mult=0.1)
    torch_groups = optimizer_groups(groups, lr=0.5, weight_decay=1e-3)
    for g in torch_groups:
        assert g["lr"] == pytest.approx(0.5 * g["lr_mult"])
        assert all((p.ndim >= 2) == (g["weight_decay"] > 0) for p in g["params"])
    opt = build_group_optimizer("adamw", groups, lr=0.5, weight_decay=1e-3)
    assert [g["name"] for g in opt.param_groups][:2] == ["head", "head"]


def test_group_errors():
    net = mlp()
    with pytest.raises(ConfigError, match=r"param groups\[0\].lr_mult: expected a number > 0, got 0"):
        optimizer_groups([{"params": list(net.parameters()), "lr_mult": 0}], lr=0.1)
    with pytest.raises(ConfigError, match="already in an earlier group"):
        optimizer_groups([{"params": [net.head.weight]}, {"params": [net.head.weight]}], lr=0.1)
    with pytest.raises(ConfigError, match="optimizer: unknown 'lion'"):
        build_group_optimizer("lion", [{"params": [net.head.weight]}], lr=0.1)


def test_param_groups_in_trainer_step_each_layer_at_its_own_lr():
    model, groups = apply_transfer(mlp(), {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=3)
    with torch.no_grad():
        model.head.weight.normal_()  # a non-zero head, so the body receives gradient at step one
    X, y = data(n=16)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    Trainer(optimizer="sgd", lr=0.5, epochs=1, batch_size=16, seed=0, callbacks=[ParamGroups(groups)]).fit(model, (X, y))
    for n, p in model.named_parameters():
        lr = 0.5 if n.startswith("head") else 0.05
        assert torch.allclose(start[n] - p.detach(), lr * grads[n], atol=1e-6), n


class SaveAt(Callback):
    def __init__(self, epoch, path):
        self.epoch, self.path = epoch, path

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            trainer.save(self.path)
            self.lrs = {g["name"]: g["lr"] for g in trainer.optimizer_.param_groups}


def test_param_groups_keep_their_ratio_under_a_schedule_and_resume_exactly(tmp_path):
    def run(extra=(), resume=None):
        model, groups = apply_transfer(mlp(bn=True), {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=3)
        trainer = Trainer(optimizer="momentum", lr=0.1, epochs=4, batch_size=16, seed=0, schedule="cosine",
                          callbacks=[ParamGroups(groups), *extra])
        trainer.fit(model, data(), data(seed=1), resume_from=resume)
        return model, trainer

    saver = SaveAt(2, tmp_path / "epoch2.pt")
    full, _ = run([saver])
    lrs = saver.lrs
    assert lrs["body.1+body.2"] == pytest.approx(0.1 * lrs["head"]) and 0 < lrs["head"] < 0.1
    resumed, _ = run(resume=tmp_path / "epoch2.pt")
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_param_groups_errors():
    model, groups = apply_transfer(mlp(), {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=3)
    with pytest.raises(ConfigError, match="holds parameters of another model"):
        Trainer(epochs=1, callbacks=[ParamGroups(groups)]).fit(mlp(n_classes=3), data())
    with pytest.raises(ConfigError, match="schedule 'onecycle': sets one LR for every parameter group"):
        Trainer(epochs=1, schedule="onecycle", callbacks=[ParamGroups(groups)]).fit(model, data())


# ---- checkpoints as sources -----------------------------------------------------------------------------

def knobs_checkpoint(path, model, width=16, depth=2, n_classes=5):
    extra = {"params": {"width": width, "depth": depth, "lr": 1e-3, "batch_norm": False}, "family": "mlp",
             "input_shape": [8], "n_classes": n_classes, "trial": 0}
    return save_checkpoint(path, model=model, extra=extra)


def test_load_source_rebuilds_the_recorded_model(tmp_path):
    net = mlp()
    path = knobs_checkpoint(tmp_path / "best.pt", net)
    source = load_source(path)
    assert source.family == "mlp" and source.hparams == {"width": 16, "depth": 2, "batch_norm": False}
    X = torch.randn(4, 8)
    assert torch.equal(source.model(X), net(X))
    model, groups = apply_transfer(path, {"mode": "feature_extractor"}, n_classes=3)
    assert model(X).shape == (4, 3) and [g["name"] for g in groups] == ["head"]
    cfg_model, _ = apply_transfer(None, {"source": str(path), "mode": "fine_tune"}, n_classes=3)
    assert torch.equal(cfg_model.body[1].weight, net.body[1].weight)


def test_checkpoint_of_another_architecture_names_the_parameters(tmp_path):
    path = knobs_checkpoint(tmp_path / "best.pt", mlp(width=32), width=32)
    with pytest.raises(CheckpointError, match=r"shape mismatch: body.1.weight \(32, 8\) vs model \(16, 8\)"):
        apply_transfer(mlp(width=16), {"source": str(path)}, n_classes=3)
    with pytest.raises(CheckpointError, match=r"missing: body.5.weight, body.5.bias"):
        apply_transfer(mlp(width=32, depth=3), {"source": str(path)}, n_classes=3)
    lying = tmp_path / "lying.pt"
    knobs_checkpoint(lying, mlp(width=32), width=16)  # records width 16 but holds width-32 weights
    with pytest.raises(CheckpointError, match="different model"):
        load_source(lying)


def test_checkpoint_without_a_recorded_model_says_what_is_missing(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", model=mlp())
    with pytest.raises(CheckpointError, match="records no family, input_shape, n_classes, params"):
        load_source(path)
    with pytest.raises(CheckpointError, match="no file at"):
        apply_transfer(tmp_path / "nope.pt", {}, n_classes=3)
    # the weights still load into a model the user builds
    model, _ = apply_transfer(mlp(), {"source": str(path)}, n_classes=3)
    assert model(torch.randn(2, 8)).shape == (2, 3)


# ---- config -------------------------------------------------------------------------------------------

def test_config_defaults_and_errors():
    cfg = parse_transfer(None)
    assert cfg == TransferConfig() and cfg.mode == "fine_tune" and cfg.body_lr_mult == 0.1
    with pytest.raises(ConfigError, match=r"unknown key 'transfer.freez_first_n' \(did you mean 'freeze_first_n'\?\); valid keys in transfer: source, mode"):
        parse_transfer({"freez_first_n": 2})
    with pytest.raises(ConfigError, match="^transfer: mode = 'freeze_first' needs freeze_first_n") as error:
        parse_transfer({"mode": "freeze_first"})
    assert "Value error" not in str(error.value) and "{" not in str(error.value)  # one sentence, not pydantic's
    with pytest.raises(ConfigError, match="freeze_first_n is only used with mode = 'freeze_first'.*remove freeze_first_n"):
        parse_transfer({"mode": "fine_tune", "freeze_first_n": 1})
    with pytest.raises(ConfigError, match="transfer.body_lr_mult: expected a number > 0"):
        parse_transfer({"body_lr_mult": 0})
    with pytest.raises(ConfigError, match="transfer.mode"):
        parse_transfer({"mode": "linear_probe"})
    with pytest.raises(ConfigError, match="transfer.source: give a checkpoint path"):
        apply_transfer(None, {}, n_classes=3)


@pytest.mark.parametrize("options", [{"mode": "fine_tune", "body_lr_mult": 0.2, "layer_decay": 0.5},
                                     {"mode": "freeze_first", "freeze_first_n": 1, "body_lr_mult": 0.3},
                                     {"mode": "feature_extractor"}])
def test_a_runs_pretrained_model_gets_the_lr_groups_apply_transfer_gives(tmp_path, options):
    """A run builds its model through one factory (pipeline.model.build_model) and reads the LR
    groups from the model made: they are apply_transfer's, layer by layer and parameter by parameter."""
    from knobs.config import load_config
    from knobs.pipeline.inputs._practices import pretrained_model, transfer_groups

    path = knobs_checkpoint(tmp_path / "best.pt", mlp(depth=3), depth=3)
    transfer = {"source": str(path), **options}
    torch.manual_seed(0)
    expected_model, expected = apply_transfer(None, transfer, n_classes=3)
    torch.manual_seed(0)
    model = pretrained_model(load_config(None, {"transfer": transfer}), 3)
    groups = transfer_groups(load_config(None, {"transfer": transfer}), model)
    assert [(g["name"], g["lr_mult"]) for g in groups] == [(g["name"], g["lr_mult"]) for g in expected]
    by_name = dict(model.named_parameters())
    names = {id(p): n for n, p in expected_model.named_parameters()}
    assert [[names[id(p)] for p in g["params"]] for g in expected] == \
        [[n for p in g["params"] for n, q in by_name.items() if q is p] for g in groups]


def test_a_hugging_face_classifier_fine_tunes_with_a_new_head_and_frozen_first_layers():
    # a model of the user's from outside knobs: its head is found by name, replaced for 3 classes, and the body's
    # layers take a lower LR or stay frozen; the config names the key a Keras / HF user reaches for
    transformers = pytest.importorskip("transformers")
    from knobs.train import Trainer
    from knobs.transfer import ParamGroups, apply_transfer, find_head

    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=16, num_labels=2)
    torch.manual_seed(0)
    bert = transformers.BertForSequenceClassification(config)
    assert find_head(bert) == "classifier"
    model, groups = apply_transfer(bert, {"mode": "fine_tune", "body_lr_mult": 0.1}, n_classes=3)
    assert groups[0]["name"] == "classifier" and all(g["lr_mult"] == 0.1 for g in groups[1:])
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (120, 10), generator=g)
    record = Trainer(epochs=2, lr=3e-3, callbacks=[ParamGroups(groups)]).fit(model, (ids, ids[:, 0] % 3),
                                                                              (ids, ids[:, 0] % 3)).records[-1]
    assert record["val_loss"] is not None and model(ids[:2]).logits.shape == (2, 3)
    frozen, _ = apply_transfer(transformers.BertForSequenceClassification(config),
                               {"mode": "freeze_first", "freeze_first_n": 3}, n_classes=3)
    assert not frozen.bert.embeddings.word_embeddings.weight.requires_grad and frozen.classifier.weight.requires_grad
    with pytest.raises(ConfigError, match=r"unknown key 'transfer.n_frozen' \(did you mean 'freeze_first_n'\?\)"):
        apply_transfer(transformers.BertForSequenceClassification(config), {"mode": "freeze_first", "n_frozen": 3},
                       n_classes=3)
