"""Where: every layer finding of knobs.diagnose names its layers as ``model.named_modules()`` does,
with the value measured in each (issue 18, item 4)."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from knobs.diagnose._layers import DEAD, activation_findings, gradient_findings
from knobs.train import Trainer
from knobs.watch import ActivationProbe, Watch


def _watched(net: nn.Module, epochs: int = 1, lr: float = 0.01) -> dict:
    torch.manual_seed(0)
    X, y = torch.randn(96, 6), torch.randint(0, 3, (96,))
    watch = Watch(every=2)
    Trainer(optimizer="sgd", lr=lr, epochs=epochs, batch_size=16, seed=0, callbacks=[watch]).fit(net, (X, y), (X, y))
    return {"run": {"watch": watch.to_dict(), "diverged": None}}


def _net(act: type[nn.Module]) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        [("fc1", nn.Linear(6, 16)), ("act1", act()), ("fc2", nn.Linear(16, 16)), ("act2", act()),
         ("head", nn.Linear(16, 3))]))


def test_the_probe_records_which_layer_fed_each_activation_even_a_reused_one():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = nn.Linear(3, 4), nn.Linear(4, 4), nn.ReLU()

        def forward(self, x):
            return self.act(self.b(self.act(self.a(x))))

    net = Shared()
    probe = ActivationProbe(net).arm()
    net(torch.randn(5, 3))
    assert probe.collect()["feeds"] == {"act": "a", "act#1": "b"}


def test_a_dead_relu_layer_is_named_by_its_module_with_its_dead_fraction():
    net = _net(nn.ReLU)
    with torch.no_grad():
        net.fc2.bias.fill_(-100.0)  # every unit of fc2 is off on every input: its ReLU is dead
    ev = _watched(net)
    (dead,) = activation_findings(ev)
    assert dead.code == "dead_relu"
    assert dead.evidence["layers"] == ["fc2"] and dead.evidence["activations"] == ["act2"]
    assert dead.evidence["per_layer"]["fc2"] == pytest.approx(1.0)
    assert dead.evidence["dead_fraction"]["act1"] < DEAD  # the healthy layer is measured, not named
    assert set(dead.evidence["layers"]) <= dict(net.named_modules()).keys()
    assert "layer 'fc2' (activation 'act2')" in dead.message and "'fc2' 100%" in dead.message


def test_saturated_layers_are_named_worst_first():
    net = _net(nn.Sigmoid)
    with torch.no_grad():
        net.fc1.weight.mul_(60.0)   # far into the tails
        net.fc2.weight.mul_(30.0)
    (sat,) = activation_findings(_watched(net, lr=1e-4))
    assert sat.code == "saturation"
    assert set(sat.evidence["layers"]) == {"fc1", "fc2"}
    values = [sat.evidence["per_layer"][m] for m in sat.evidence["layers"]]
    assert values == sorted(values, reverse=True) and min(values) > 0.5
    assert sat.evidence["layer"] == sat.evidence["activations"][0]


# ---- gradients, on hand-made probes ---------------------------------------------------------------

def _grad_ev(norms_per_probe: list[dict[str, float]], nonfinite=(), global_norms=None) -> dict:
    names = list(norms_per_probe[0])
    probes = [{"step": i + 1, "epoch": 1, "nonfinite": list(nonfinite) if i == 1 else [],
               "grad_norm": (global_norms or [1.0] * len(norms_per_probe))[i],
               "params": {n: {"grad_norm": v} for n, v in norms.items()}, "activations": {}}
              for i, norms in enumerate(norms_per_probe)]
    return {"run": {"diverged": None, "watch": {"probes": probes, "layer_order": names,
                                                 "shapes": {n: [4, 4] for n in names}}}}


def test_vanishing_gradients_name_every_layer_under_the_ratio_input_side_first():
    norms = {"body.0.weight": 1e-5, "body.2.weight": 5e-4, "body.4.weight": 0.1, "head.weight": 1.0}
    (f,) = gradient_findings(_grad_ev([norms, norms]))
    assert f.code == "vanishing_gradients"
    assert f.evidence["layers"] == ["body.0", "body.2"]
    assert f.evidence["per_layer"] == pytest.approx({"body.0": 1e-5, "body.2": 5e-4})
    assert f.evidence["grad_norm"]["body.4"] == pytest.approx(0.1)
    assert "'body.0', 'body.2'" in f.message


def test_exploding_gradients_name_the_layers_that_grew_or_went_non_finite():
    early = {"a.weight": 1.0, "b.weight": 1.0, "c.weight": 1.0}
    late = {"a.weight": 500.0, "b.weight": 2.0, "c.weight": 1.0}
    (grew,) = gradient_findings(_grad_ev([early, late], global_norms=[1.0, 300.0]))
    assert grew.code == "exploding_gradients" and grew.evidence["layers"] == ["a"]
    assert grew.evidence["per_layer"] == {"a": pytest.approx(500.0)}
    (bad,) = gradient_findings(_grad_ev([early, early], nonfinite=["b.weight", "b.bias"]))
    assert bad.severity == "error" and bad.evidence["layers"] == ["b"]
    ratio = {"a.weight": 200.0, "b.weight": 90.0, "c.weight": 1.0}
    (steep,) = gradient_findings(_grad_ev([ratio, ratio]))
    assert steep.evidence["layers"] == ["a", "b"] and steep.evidence["per_layer"]["b"] == pytest.approx(90.0)
