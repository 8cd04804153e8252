"""knobs.models: shapes, validation, init schemes checked against their variance formulas."""

import math

import pytest
import torch
from torch import nn

from knobs.errors import ConfigError
from knobs.models import ACTIVATIONS, INIT_SCHEMES, ConvNet, MLP, build_model, hyperparameters


def test_mlp_shapes_and_structure():
    net = build_model("mlp", input_shape=(64,), n_classes=10, width=32, depth=3)
    assert net(torch.zeros(5, 64)).shape == (5, 10)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 32), (32, 32), (32, 10)]


def test_mlp_depth_zero_is_linear_and_flattens_images():
    net = build_model("mlp", input_shape=(1, 8, 8), n_classes=3, depth=0)
    assert [type(m) for m in net.modules() if not isinstance(m, (nn.Sequential, MLP))] == [nn.Flatten, nn.Linear]
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


def test_mlp_batch_norm_and_dropout_layers():
    net = build_model("mlp", input_shape=(4,), n_classes=2, width=8, depth=2, batch_norm=True, dropout=0.3)
    kinds = [type(m) for m in net.body]
    assert kinds.count(nn.BatchNorm1d) == 2 and kinds.count(nn.Dropout) == 2
    hidden = [m for m in net.body if isinstance(m, nn.Linear)]
    assert all(m.bias is None for m in hidden)  # the bias before batch norm is redundant


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_activation_builds_and_runs(activation):
    net = build_model("mlp", input_shape=(4,), n_classes=2, width=8, depth=1, activation=activation)
    assert any(isinstance(m, ACTIVATIONS[activation]) for m in net.modules())
    assert torch.isfinite(net(torch.randn(3, 4))).all()


def test_convnet_shapes_channels_double():
    net = build_model("convnet", input_shape=(1, 8, 8), n_classes=10, channels=4, depth=3, head_width=16)
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in convs] == [4, 8, 16]


def test_convnet_options():
    net = build_model("convnet", input_shape=(3, 6, 10), n_classes=4, channels=2, depth=4, pooling="none",
                      kernel_size=5, batch_norm=True, dropout=0.2, head_width=0)
    assert net(torch.zeros(2, 3, 6, 10)).shape == (2, 4)
    assert all(m.kernel_size == (5, 5) for m in net.modules() if isinstance(m, nn.Conv2d))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 4
    avg = build_model("convnet", input_shape=(1, 8, 8), n_classes=2, pooling="avg", depth=1)
    assert any(isinstance(m, nn.AvgPool2d) for m in avg.modules())


def test_convnet_too_deep_for_image_names_depth():
    with pytest.raises(ConfigError, match=r"depth: 4 .*depth <= 3"):
        build_model("convnet", input_shape=(1, 8, 8), n_classes=10, depth=4)


@pytest.mark.parametrize("shape", [(64,), (8, 8), (1, 0, 8), "1x8x8", (1.0, 8, 8)])
def test_convnet_rejects_bad_input_shape(shape):
    with pytest.raises(ConfigError, match="input_shape"):
        build_model("convnet", input_shape=shape, n_classes=10)


@pytest.mark.parametrize("kwargs, key", [
    ({"width": 0}, "width"), ({"depth": -1}, "depth"), ({"dropout": 1.0}, "dropout"),
    ({"width": 2.5}, "width"), ({"activation": "swish"}, "activation"), ({"init": "lecun"}, "init"),
])
def test_mlp_bad_values_name_the_key(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        build_model("mlp", input_shape=(4,), n_classes=2, **kwargs)


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(ConfigError, match="relu, leaky_relu, tanh, sigmoid, gelu, selu, elu"):
        build_model("mlp", input_shape=(4,), n_classes=2, activation="swish")


def test_unknown_family_and_hyperparameter_list_valid_ones():
    with pytest.raises(ConfigError, match="mlp, convnet"):
        build_model("resnet", input_shape=(4,), n_classes=2)
    with pytest.raises(ConfigError, match=r"'widht'.*width, depth"):
        build_model("mlp", input_shape=(4,), n_classes=2, widht=3)
    with pytest.raises(ConfigError, match="kernel_size"):
        build_model("mlp", input_shape=(4,), n_classes=2, kernel_size=3)


def test_even_kernel_and_bad_pooling_rejected():
    with pytest.raises(ConfigError, match="kernel_size"):
        build_model("convnet", input_shape=(1, 8, 8), n_classes=2, kernel_size=4)
    with pytest.raises(ConfigError, match="max, avg, none"):
        build_model("convnet", input_shape=(1, 8, 8), n_classes=2, pooling="lp")


def test_hyperparameters_lists_defaults():
    assert hyperparameters("mlp")["width"] == 128
    assert "head_width" in hyperparameters("convnet")


def _hidden(fan_in=400, width=400, **kw):
    torch.manual_seed(0)
    return build_model("mlp", input_shape=(fan_in,), n_classes=10, width=width, depth=1, **kw)


def test_kaiming_normal_std_matches_he_formula():
    w = _hidden(init="kaiming", activation="relu").body[1].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.03)


def test_selu_gets_lecun_variance_and_tanh_gets_its_gain():
    w = _hidden(init="he_normal", activation="selu").body[1].weight
    assert w.std().item() == pytest.approx(math.sqrt(1 / 400), rel=0.03)
    w = _hidden(init="kaiming_normal", activation="tanh").body[1].weight
    assert w.std().item() == pytest.approx((5 / 3) / math.sqrt(400), rel=0.03)


def test_xavier_uniform_bound_and_normal_std():
    w = _hidden(fan_in=300, width=500, init="glorot", activation="tanh").body[1].weight
    bound = (5 / 3) * math.sqrt(6 / (300 + 500))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.98 * bound
    w = _hidden(fan_in=300, width=500, init="xavier_normal", activation="sigmoid").body[1].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / 800), rel=0.03)


def test_kaiming_uniform_bound():
    w = _hidden(init="he_uniform", activation="relu").body[1].weight
    bound = math.sqrt(2) * math.sqrt(3 / 400)
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.98 * bound


def test_orthogonal_rows_are_orthonormal_times_gain():
    w = _hidden(fan_in=64, width=32, init="orthogonal", activation="relu").body[1].weight
    assert torch.allclose(w @ w.T, 2 * torch.eye(32), atol=1e-4)


def test_biases_zero_and_output_layer_uses_linear_gain():
    net = _hidden(fan_in=64, width=1000, init="kaiming", activation="relu")
    assert all((m.bias == 0).all() for m in net.modules() if isinstance(m, nn.Linear))
    assert net.head.weight.std().item() == pytest.approx(math.sqrt(1 / 1000), rel=0.05)


def test_default_init_keeps_torch_init():
    torch.manual_seed(0)
    a = build_model("mlp", input_shape=(8,), n_classes=2, width=4, depth=1, init="default")
    torch.manual_seed(0)
    b = nn.Linear(8, 4)
    assert torch.equal(a.body[1].weight, b.weight) and torch.equal(a.body[1].bias, b.bias)


def test_every_init_name_builds_a_convnet():
    for name in INIT_SCHEMES:
        net = ConvNet((1, 8, 8), 3, channels=2, depth=1, head_width=4, init=name)
        assert torch.isfinite(net(torch.randn(2, 1, 8, 8))).all()
