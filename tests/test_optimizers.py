"""knobs.train optimizers: names → torch.optim classes, options validated, L2 coupled vs decoupled."""

import pytest
import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.train import OPTIMIZERS, build_optimizer

CLASSES = {
    "sgd": torch.optim.SGD, "momentum": torch.optim.SGD, "nesterov": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta, "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
}


def test_every_name_is_the_torch_class():
    assert set(OPTIMIZERS) == set(CLASSES)
    for name, cls in CLASSES.items():
        opt = build_optimizer(name, nn.Linear(3, 2), lr=0.01)
        assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.01


def test_momentum_and_nesterov_defaults():
    g = build_optimizer("momentum", nn.Linear(2, 1), lr=0.1).param_groups[0]
    assert g["momentum"] == 0.9 and not g["nesterov"]
    g = build_optimizer("nesterov", nn.Linear(2, 1), lr=0.1, options={"momentum": 0.8}).param_groups[0]
    assert g["momentum"] == 0.8 and g["nesterov"]
    assert build_optimizer("sgd", nn.Linear(2, 1), lr=0.1).param_groups[0]["momentum"] == 0


def test_options_reach_torch():
    g = build_optimizer("adam", nn.Linear(2, 1), lr=0.1, options={"betas": [0.8, 0.99], "eps": 1e-6}).param_groups[0]
    assert g["betas"] == (0.8, 0.99) and g["eps"] == 1e-6
    assert build_optimizer("adadelta", nn.Linear(2, 1), lr=1.0, options={"rho": 0.5}).param_groups[0]["rho"] == 0.5
    g = build_optimizer("rmsprop", nn.Linear(2, 1), lr=0.1, options={"alpha": 0.9, "centered": True}).param_groups[0]
    assert g["alpha"] == 0.9 and g["centered"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ConfigError, match="sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam, adamw"):
        build_optimizer("lion", nn.Linear(2, 1), lr=0.1)


def test_unknown_option_lists_the_optimizers_options():
    with pytest.raises(ConfigError, match=r"'rho' is not an option of 'adam'; expected one of betas, eps, amsgrad"):
        build_optimizer("adam", nn.Linear(2, 1), lr=0.1, options={"rho": 0.9})


@pytest.mark.parametrize("name, options, key", [
    ("momentum", {"momentum": 1.0}, "momentum"), ("adam", {"betas": (0.9,)}, "betas"),
    ("adam", {"betas": (0.9, 1.0)}, "betas"), ("adam", {"eps": 0}, "eps"),
    ("rmsprop", {"alpha": -0.1}, "alpha"), ("sgd", {"nesterov": "yes"}, "nesterov"),
    ("adadelta", {"rho": 1.5}, "rho"),
])
def test_bad_option_values_name_the_key(name, options, key):
    with pytest.raises(ConfigError, match=key):
        build_optimizer(name, nn.Linear(2, 1), lr=0.1, options=options)


def test_nesterov_needs_momentum():
    with pytest.raises(ConfigError, match="nesterov needs momentum"):
        build_optimizer("sgd", nn.Linear(2, 1), lr=0.1, options={"nesterov": True})


@pytest.mark.parametrize("lr", [0, -1, float("nan"), "0.1", None])
def test_bad_lr(lr):
    with pytest.raises(ConfigError, match="lr"):
        build_optimizer("sgd", nn.Linear(2, 1), lr=lr)


def test_bad_weight_decay():
    with pytest.raises(ConfigError, match="weight_decay"):
        build_optimizer("sgd", nn.Linear(2, 1), lr=0.1, weight_decay=-1)


def _one_step(name, lr=0.1, wd=0.5):
    """One step on a zero loss: any change is weight decay alone."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    before = [p.detach().clone() for p in net.parameters()]
    opt = build_optimizer(name, net, lr=lr, weight_decay=wd)
    opt.zero_grad()
    (0 * sum(p.sum() for p in net.parameters())).backward()
    opt.step()
    return net, before


def test_sgd_weight_decay_is_coupled_l2_on_weights_only():
    net, (w0, b0, g0, beta0) = _one_step("sgd")
    assert torch.allclose(net[0].weight, w0 - 0.1 * 0.5 * w0)
    assert torch.equal(net[0].bias, b0) and torch.equal(net[1].weight, g0) and torch.equal(net[1].bias, beta0)


def test_adamw_decay_is_decoupled_adam_decay_is_coupled():
    net, (w0, *_) = _one_step("adamw", lr=0.01)
    assert torch.allclose(net[0].weight, w0 * (1 - 0.01 * 0.5))
    # Adam treats the decay as a gradient, so its normalized step is ≈ lr·sign(w).
    net, (w0, *_) = _one_step("adam", lr=0.01)
    assert torch.allclose(net[0].weight, w0 - 0.01 * torch.sign(w0), atol=1e-6)


def test_no_decay_means_one_group():
    opt = build_optimizer("adam", nn.Linear(2, 1), lr=0.1)
    assert len(opt.param_groups) == 1


def test_an_optimizer_and_a_scheduler_built_first_train_as_they_are_and_others_are_one_message():
    # plain PyTorch builds them first; both were refused (the optimizer as an unknown name, its repr printed)
    from knobs.train import Trainer

    X, y = torch.randn(120, 6), torch.randint(0, 3, (120,))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = Trainer(epochs=3, optimizer=optimizer, schedule=schedule)
    history = trainer.fit(model, (X, y), (X, y))
    assert trainer.optimizer_ is optimizer and [r["lr"] for r in history.records] == [0.1, 0.05, 0.025]
    with pytest.raises(ConfigError, match=r"the SGD given was built on parameters that are not this model's .* "
                                          r"optimizer=torch.optim.SGD"):
        Trainer(epochs=1, optimizer=optimizer).fit(nn.Linear(6, 3), (X, y))
    with pytest.raises(ConfigError, match=r"set weight_decay and options when building it"):
        Trainer(epochs=1, optimizer=optimizer, weight_decay=0.1).fit(model, (X, y))
    with pytest.raises(ConfigError, match=r"the StepLR given steps an optimizer the Trainer does not train with"):
        Trainer(epochs=1, schedule=schedule).fit(model, (X, y))


def test_diagnose_builds_the_kind_of_optimizer_given_for_each_of_its_runs():
    import knobs
    from knobs.train import Trainer

    X, y = torch.randn(120, 6), torch.randint(0, 3, (120,))
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    built = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.02, betas=(0.8, 0.99))
    report = knobs.diagnose(model, (X, y), (X, y), trainer=Trainer(optimizer=built), epochs=2)
    settings = report.evidence["settings"]
    assert settings["lr"] == 3e-3 and settings["weight_decay"] == 0.02 and "AdamW" in settings["optimizer"]
    assert "betas=(0.8, 0.99)" in settings["optimizer"]
    schedule = torch.optim.lr_scheduler.StepLR(built, step_size=1)
    with pytest.raises(ConfigError, match=r"diagnose: the schedule is a StepLR built on one optimizer"):
        knobs.diagnose(model, (X, y), (X, y), trainer=Trainer(optimizer=built, schedule=schedule), epochs=2)


def test_a_device_torch_cannot_use_and_float16_parameters_are_one_message():
    from knobs.train import Trainer
    from knobs.train._device import resolve_device

    X, y = torch.randn(60, 6), torch.randint(0, 3, (60,))
    if not torch.backends.mps.is_available():
        with pytest.raises(ConfigError, match=r"device: 'mps' is not available here"):
            resolve_device("mps")
    with pytest.raises(ConfigError, match=r"trainable parameters are float16, .* keep them float32"):
        Trainer(epochs=1).fit(nn.Linear(6, 3).half(), (X, y))  # it diverged at step 2, blamed on the lr
    assert Trainer(epochs=1).fit(nn.Linear(6, 3).bfloat16(), (X, y)).records[-1]["train_loss"] > 0


def test_optimizer_options_from_numpy_are_numbers():
    # np.float32(0.9) from a grid was refused: "optimizer_options.momentum: expected a number in [0, 1)"
    import numpy as np

    optimizer = build_optimizer("sgd", nn.Linear(2, 1), lr=np.float32(0.1), options={"momentum": np.float32(0.9)})
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.9)
    with pytest.raises(ConfigError, match=r"optimizer_options.nesterov: expected true or false"):
        build_optimizer("sgd", nn.Linear(2, 1), lr=0.1, options={"momentum": 0.9, "nesterov": np.float64(1.0)})
