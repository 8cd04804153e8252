"""Saturation of GELU and SiLU: a unit is saturated in their far negative tail, where the gradient
stays under the cut a tanh's is (1 - 0.99², of the slope of their linear side) — read from the
input, as their output (not monotonic) does not tell it. A net whose GELU/SiLU inputs are pushed far
negative gets the saturation finding and the report's unit views; a healthy one does not."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo
from knobs.diagnose import diagnose
from knobs.pipeline.trials._watched import watch_record
from knobs.watch import ActivationProbe
from knobs.watch._stats import FLAT, saturated_fraction, tail_below, tail_fraction

torch.set_num_threads(1)

X = torch.linspace(-30, 5, 3501)
ACTIVATIONS = [("gelu", F.gelu), ("gelu", lambda x: F.gelu(x, approximate="tanh")), ("silu", F.silu)]


@pytest.mark.parametrize("kind, fn", ACTIVATIONS, ids=["gelu", "gelu-tanh", "silu"])
def test_the_saturated_share_is_the_tail_whose_gradient_stays_under_the_cut(kind, fn):
    x = X.clone().requires_grad_(True)
    out = fn(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    flat = grad.abs() < FLAT
    tail = flat.int().cumprod(0).float().mean().item()     # flat from -30 on, unbroken
    assert 0.05 < tail < 0.95
    assert tail_fraction(X, kind) == pytest.approx(tail, abs=2 / len(X))
    bottom = X[out.detach().argmin()]                       # the minimum: the gradient is 0 there too,
    near = X > bottom - 0.5                                 # but it is a curved bottom, not a flat region
    assert flat[near].any() and tail_fraction(X[near], kind) == 0
    with pytest.raises(ValueError, match="tail_fraction"):
        saturated_fraction(out.detach(), kind)                # the output cannot tell it


def test_the_cuts():
    assert tail_below("gelu") == pytest.approx(-2.7937, abs=1e-3)
    assert tail_below("silu") == pytest.approx(-5.385, abs=1e-3)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(1, 1), nn.Linear(1, 1)

    def forward(self, x):
        return self.b(F.gelu(input=F.silu(self.a(x) - 3.0, inplace=True)))


def test_modules_and_functions_are_measured_on_their_input_even_in_place():
    net = nn.Sequential(nn.Linear(1, 1), nn.GELU(), nn.Linear(1, 1), nn.SiLU(inplace=True))
    functional = Functional()
    for model in (net, functional):
        for layer in (m for m in model.modules() if isinstance(m, nn.Linear)):
            nn.init.ones_(layer.weight), nn.init.zeros_(layer.bias)
    x = X[:, None]
    seen = _probed(net, x)
    assert seen["1"]["kind"] == "gelu" and seen["1"]["saturated_fraction"] == pytest.approx(tail_fraction(x, "gelu"))
    silu_input = F.gelu(x)                                  # all above GELU's minimum, -0.17: none in SiLU's tail
    assert seen["3"]["saturated_fraction"] == pytest.approx(tail_fraction(silu_input, "silu")) == 0
    seen = _probed(functional, x)
    assert seen["silu()"]["saturated_fraction"] == pytest.approx(tail_fraction(x - 3.0, "silu"))
    assert seen["silu()"]["saturated_fraction"] > 0.5      # read before the in-place call overwrote it
    assert seen["gelu()"]["saturated_fraction"] == pytest.approx(tail_fraction(F.silu(x - 3.0), "gelu")) == 0


def _probed(model, x):
    probe = ActivationProbe(model).arm()
    model(x)
    return probe.collect()["activations"]


def _net(activation, bias: float) -> nn.Module:
    """Two hidden layers on 30 standardized features; ``bias`` on every hidden layer."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for d in (30, 32):
        layer = nn.Linear(d, 32)
        nn.init.constant_(layer.bias, bias)
        layers += [layer, activation()]
    return nn.Sequential(*layers, nn.Linear(32, 2))


SETTINGS = {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "epochs": 2}


@pytest.mark.parametrize("activation, named, bias", [(nn.GELU, "GELU", -8.0), (nn.SiLU, "SiLU", -12.0)],
                         ids=["gelu", "silu"])
def test_a_net_pushed_far_negative_is_flagged_and_reported_and_a_healthy_one_is_not(activation, named, bias):
    train, val = zoo.cancer()
    pushed = diagnose(_net(activation, bias), train, val, **SETTINGS)
    [sat] = [f for f in pushed.findings if f.code == "saturation"]
    assert f"negative tail of its {named}" in sat.message
    assert sat.evidence["layers"] == ["0", "2"] and all(v > 0.5 for v in sat.evidence["per_layer"].values())
    record = watch_record(pushed.evidence["run"]["watch"], 0, "diagnosis")
    assert [a["stat"] for a in record["activations"]] == ["saturated_fraction"] * 2  # the report's unit views
    assert all(v > 0.5 for a in record["activations"] for v in a["values"])
    healthy = diagnose(_net(activation, 0.0), train, val, **SETTINGS)
    assert "saturation" not in healthy.codes
    shares = [a["saturated_fraction"] for a in healthy.evidence["run"]["watch"]["probes"][-1]["activations"].values()]
    assert len(shares) == 2 and all(share < 0.1 for share in shares)
