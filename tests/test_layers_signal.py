"""Issue 18, the probes' blind spots: activations called as functions in ``forward`` (``F.relu``,
``torch.tanh``, ``x.sigmoid()``) are measured like activation modules, and a signal that fades
layer by layer at initialization (Glorot & Bengio 2010) is found and its layers named."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from knobs.diagnose._layers import SIGNAL_RATIO, activation_findings, fading_signal, gradient_findings
from knobs.train import Trainer
from knobs.watch import Watch

torch.set_num_threads(1)


def _watched(net: nn.Module, epochs: int = 1, lr: float = 0.01, optimizer: str = "sgd") -> dict:
    torch.manual_seed(0)
    X, y = torch.randn(96, 6), torch.randint(0, 3, (96,))
    watch = Watch(every=2)
    Trainer(optimizer=optimizer, lr=lr, epochs=epochs, batch_size=16, seed=0, callbacks=[watch]).fit(
        net, (X, y), (X, y))
    return {"run": {"watch": watch.to_dict(), "diverged": None}}


class FunctionalReLU(nn.Module):
    """Two hidden layers, their ReLUs called as functions (no nn.ReLU module to hook)."""

    def __init__(self, dead_bias: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2, self.head = nn.Linear(6, 16), nn.Linear(16, 16), nn.Linear(16, 3)
        if dead_bias is not None:
            with torch.no_grad():
                self.fc2.bias.fill_(dead_bias)  # every unit of fc2 is off on every input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_a_functional_relu_net_with_dead_units_gets_dead_relu_naming_its_layer():
    (dead,) = activation_findings(_watched(FunctionalReLU(dead_bias=-100.0)))
    assert dead.code == "dead_relu" and dead.evidence["layers"] == ["fc2"]
    assert dead.evidence["activations"] == ["relu()#1"] and dead.evidence["per_layer"]["fc2"] == pytest.approx(1.0)
    assert "layer 'fc2' (activation 'relu()#1')" in dead.message


def test_a_healthy_functional_relu_net_is_measured_and_not_flagged():
    ev = _watched(FunctionalReLU())
    assert activation_findings(ev) == []
    probe = ev["run"]["watch"]["probes"][0]
    assert list(probe["activations"]) == ["relu()", "relu()#1"]
    assert ev["run"]["watch"]["feeds"] == {"relu()": "fc1", "relu()#1": "fc2"}
    assert all(a["dead_fraction"] < 0.5 and a["signal_std"] > 0 for a in probe["activations"].values())


def test_functional_saturation_inside_a_submodule_is_named_by_its_caller():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(6, 16)

        def forward(self, x):
            return self.lin(x).mul(60.0).sigmoid()

    torch.manual_seed(0)
    net = nn.Sequential(Block(), nn.Linear(16, 3))
    (sat,) = activation_findings(_watched(net, lr=1e-4))
    assert sat.code == "saturation" and sat.evidence["activations"] == ["0.sigmoid()"]
    assert sat.evidence["layers"] == ["0.lin"]


def _deep_tanh(scale: float, depth: int = 8) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for d in [6] + [32] * (depth - 1):
        layer = nn.Linear(d, 32)
        nn.init.normal_(layer.weight, std=scale / d ** 0.5)
        layers += [layer, nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(32, 3))


def test_a_signal_fading_through_deep_tanh_layers_is_vanishing_gradients_naming_the_layers():
    ev = _watched(_deep_tanh(0.3), optimizer="adam", lr=1e-3)
    (f,) = gradient_findings(ev)
    signal = f.evidence["signal"]
    assert f.code == "vanishing_gradients" and signal["ratio"] < SIGNAL_RATIO
    assert signal["first"] == "0" and signal["last"] == "14"
    assert signal["layers"] == [str(i) for i in range(2, 15, 2)]               # every later layer shrinks it
    assert all(0.1 < g < 0.6 for g in signal["per_layer"].values())             # by about 0.3x each
    assert "at initialization the signal" in f.message and "'14'" in f.message


def test_tanh_layers_at_the_xavier_scale_keep_their_signal():
    ev = _watched(_deep_tanh(1.0), optimizer="adam", lr=1e-3)
    assert gradient_findings(ev) == []
    fading = fading_signal(ev["run"]["watch"]["probes"][0], ev["run"]["watch"]["feeds"])
    assert fading["ratio"] > 0.1


def test_fading_is_judged_on_live_layers_at_the_first_probe_and_the_last():
    def probe(step, stds, dead=None):
        return {"step": step, "epoch": 1, "nonfinite": [], "grad_norm": 1.0, "params": {},
                "activations": {f"a{i}": {"kind": "relu", "signal_std": s,
                                                        "dead_fraction": (dead or {}).get(i, 0.0)}
                                              for i, s in enumerate(stds)}}

    feeds = {f"a{i}": f"fc{i}" for i in range(4)}
    fading = fading_signal(probe(1, [1.0, 0.1, 0.01, 1e-4]), feeds)
    assert fading["ratio"] == pytest.approx(1e-4) and fading["layers"] == ["fc1", "fc2", "fc3"]
    assert fading["per_layer"]["fc3"] == pytest.approx(0.01)
    # a dead ReLU layer outputs nothing: dead_relu's to name, not a fading signal
    assert fading_signal(probe(1, [1.0, 0.5, 0.0], dead={2: 1.0}), feeds)["ratio"] == pytest.approx(0.5)
    assert fading_signal(probe(1, [1.0]), feeds) is None
    ev = {"run": {"watch": {"probes": [probe(1, [1.0, 0.1, 0.01, 1e-4]), probe(3, [1.0, 0.9, 0.8, 0.7])],
                            "layer_order": [], "shapes": {}, "feeds": feeds}}}
    (f,) = gradient_findings(ev)
    assert f.code == "vanishing_gradients" and f.evidence["recovered_at_step"] == 3
    assert f.evidence["probe"] == "first" and f.evidence["step"] == 1
    late = {"run": {"watch": {**ev["run"]["watch"], "probes": ev["run"]["watch"]["probes"][::-1]}}}
    (f,) = gradient_findings(late)                                              # healthy at init, faded at the end
    assert f.evidence["probe"] == "last" and f.evidence["ratio_at_initialization"] == pytest.approx(0.7)


SMOOTH = [("gelu", nn.GELU, F.gelu), ("silu", nn.SiLU, F.silu), ("elu", nn.ELU, F.elu),
          ("softplus", nn.Softplus, F.softplus)]


class FunctionalSmooth(nn.Module):
    """One hidden layer, its activation called as a function."""

    def __init__(self, function) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc, self.head, self.function = nn.Linear(6, 16), nn.Linear(16, 3), function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.function(self.fc(x)))


@pytest.mark.parametrize("kind, module, function", SMOOTH, ids=[k for k, _, _ in SMOOTH])
def test_gelu_silu_elu_softplus_modules_and_functions_get_the_signal_spread_and_no_dead_share(kind, module, function):
    torch.manual_seed(0)
    as_module = _watched(nn.Sequential(nn.Linear(6, 16), module(), nn.Linear(16, 3)))["run"]["watch"]
    as_function = _watched(FunctionalSmooth(function))["run"]["watch"]
    for watch, name, layer in ((as_module, "1", "0"), (as_function, f"{kind}()", "fc")):
        first = watch["probes"][0]["activations"]
        assert list(first) == [name] and watch["feeds"] == {name: layer}
        # a flat negative side (ELU, Softplus) or tail (GELU, SiLU), no dead share
        assert first[name]["kind"] == kind and set(first[name]) == {"kind", "signal_std", "saturated_fraction"}
        assert 0.05 < first[name]["signal_std"] < 5


def test_the_spread_of_a_smooth_activation_is_the_spread_of_its_output_across_the_batch():
    from knobs.watch._stats import signal_std, unit_stats

    out = F.gelu(torch.randn(64, 8) * 3 + 1)
    stats = unit_stats(out, "gelu")
    assert set(stats) == {"signal_std"} and float(stats["signal_std"]) == pytest.approx(signal_std(out), rel=1e-5)
    assert float(unit_stats(torch.full((64, 8), 0.7), "silu")["signal_std"]) == pytest.approx(0.0, abs=1e-6)
