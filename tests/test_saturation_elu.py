"""Saturation beyond tanh/sigmoid: an ELU, SELU, CELU or Softplus unit is saturated where its
local gradient is below the cut a tanh's is (1 - 0.99², of its slope) — their flat negative side —
so a net of ELUs driven deep into the negative region gets the saturation finding, with evidence,
and a healthy ELU net does not."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from knobs.diagnose import diagnose
from knobs.watch import ActivationProbe
from knobs.watch._stats import FLAT, SATURATION, saturated_fraction

torch.set_num_threads(1)

X = torch.linspace(-30, 5, 3501)

ACTIVATIONS = [  # kind, the function, its parameter as the probe reads it, the slope of its linear side
    ("elu", lambda x: F.elu(x), None, 1.0), ("elu", lambda x: F.elu(x, alpha=2.5), 2.5, 1.0),
    ("celu", lambda x: F.celu(x, alpha=3.0), 3.0, 1.0), ("selu", F.selu, None, 1.0507009873554805),
    ("softplus", F.softplus, None, 1.0), ("softplus", lambda x: F.softplus(x, beta=0.5), 0.5, 1.0),
    ("tanh", torch.tanh, None, 1.0), ("sigmoid", torch.sigmoid, None, 0.25),
]


@pytest.mark.parametrize("kind, fn, param, slope", ACTIVATIONS, ids=lambda v: v if isinstance(v, str) else "")
def test_the_saturated_share_is_the_share_whose_gradient_is_under_the_cut(kind, fn, param, slope):
    x = X.clone().requires_grad_(True)
    out = fn(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    flat = (grad < FLAT * slope).float().mean().item()  # autograd's gradient, the cut of |tanh| > 0.99
    assert 0.05 < flat < 0.95
    assert saturated_fraction(out.detach(), kind, param) == pytest.approx(flat, abs=2 / len(X))


def test_the_cut_is_the_tanhs():
    assert FLAT == pytest.approx(1 - SATURATION ** 2) and FLAT == pytest.approx(1 - 0.99 ** 2)
    assert saturated_fraction(F.elu(torch.tensor([-5.0, -3.0, 1.0])), "elu") == pytest.approx(1 / 3)  # e^-5 < 0.0199 < e^-3


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(1, 1), nn.Linear(1, 1)

    def forward(self, x):
        return self.b(F.softplus(F.elu(self.a(x), alpha=2.5) * 4, 0.5))  # alpha by name, beta by position


def test_modules_and_functions_are_probed_with_their_own_parameters():
    net = nn.Sequential(nn.Linear(1, 1), nn.ELU(alpha=2.5), nn.Linear(1, 1), nn.CELU(alpha=3.0), nn.Linear(1, 1),
                        nn.SELU(), nn.Linear(1, 1), nn.Softplus(beta=0.5))
    functional = Functional()
    for model in (net, functional):
        for layer in (m for m in model.modules() if isinstance(m, nn.Linear)):
            nn.init.ones_(layer.weight), nn.init.zeros_(layer.bias)
    x = X[:, None]
    elu = F.elu(x, alpha=2.5)
    celu = F.celu(elu, alpha=3.0)
    selu = F.selu(celu)
    expected = {"1": ("elu", elu, 2.5), "3": ("celu", celu, 3.0), "5": ("selu", selu, None),
                "7": ("softplus", F.softplus(selu, beta=0.5), 0.5)}
    seen = _probed(net, x)
    for name, (kind, out, param) in expected.items():
        assert seen[name]["kind"] == kind
        assert seen[name]["saturated_fraction"] == pytest.approx(saturated_fraction(out, kind, param))
    assert abs(saturated_fraction(elu, "elu", 2.5) - saturated_fraction(elu, "elu")) > 0.1  # alpha matters
    seen = _probed(functional, x)
    assert {name: stats["kind"] for name, stats in seen.items()} == {"elu()": "elu", "softplus()": "softplus"}
    assert seen["elu()"]["saturated_fraction"] == pytest.approx(saturated_fraction(elu, "elu", 2.5))
    softplus = F.softplus(elu * 4, beta=0.5)
    assert seen["softplus()"]["saturated_fraction"] == pytest.approx(saturated_fraction(softplus, "softplus", 0.5))
    assert abs(saturated_fraction(softplus, "softplus", 0.5) - saturated_fraction(softplus, "softplus")) > 0.01


def _probed(model, x):
    probe = ActivationProbe(model).arm()
    model(x)
    return probe.collect()["activations"]


def _elu_net(bias: float) -> nn.Module:
    """Three ELU layers on 30 standardized features; ``bias`` on every hidden layer."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for d in (30, 32, 32):
        layer = nn.Linear(d, 32)
        nn.init.constant_(layer.bias, bias)
        layers += [layer, nn.ELU()]
    return nn.Sequential(*layers, nn.Linear(32, 2))


SETTINGS = {"optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 4}


def test_an_elu_net_pushed_negative_is_flagged_with_evidence_and_a_healthy_one_is_not():
    train, val = zoo.cancer()
    pushed = diagnose(_elu_net(-8.0), train, val, **SETTINGS)
    [sat] = [f for f in pushed.findings if f.code == "saturation"]
    assert "negative side of its ELU" in sat.message
    assert sat.evidence["layers"] and all(v > 0.5 for v in sat.evidence["per_layer"].values())
    assert sat.evidence["threshold"] == 0.5 and sat.evidence["saturated_fraction"]
    healthy = diagnose(_elu_net(0.0), train, val, **SETTINGS)
    assert "saturation" not in healthy.codes
    shares = [a["saturated_fraction"] for a in healthy.evidence["run"]["watch"]["probes"][-1]["activations"].values()]
    assert len(shares) == 3 and all(share < 0.1 for share in shares)
