"""A signal healthy at initialization that fades by the end of training — a deep tanh net whose
weights shrink under heavy weight decay — is `vanishing_gradients`, read at the last probe and
saying so in its evidence; the gradient ratio's median over the run, healthy for most of it,
misses it, and the same net without the decay raises nothing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from knobs.data import Standardizer, load_builtin
from knobs.diagnose._layers import SIGNAL_RATIO, VANISHING_RATIO, _depth_ratio, _weights, gradient_findings
from knobs.train import Trainer
from knobs.watch import Watch
from zoo import xavier_stack

torch.set_num_threads(1)


def _probe(step, stds, norms):
    """A probe of four activations fed by fc0..fc3 (``stds``) and their weights' norms."""
    return {"step": step, "epoch": step // 10 + 1, "nonfinite": [], "grad_norm": 1.0,
            "params": {f"fc{i}.weight": {"grad_norm": 1.0, "weight_norm": n, "update_ratio": 1e-3}
                       for i, n in enumerate(norms)},
            "activations": {f"a{i}": {"kind": "tanh", "signal_std": s, "dead_fraction": 0.0} for i, s in enumerate(stds)}}


def _ev(probes, weight_decay=0.5):
    return {"settings": {"weight_decay": weight_decay},
            "run": {"diverged": None, "watch": {
                "probes": probes, "feeds": {f"a{i}": f"fc{i}" for i in range(4)},
                "layer_order": [f"fc{i}.weight" for i in range(4)], "shapes": {f"fc{i}.weight": [8, 8] for i in range(4)}}}}


def test_a_signal_that_fades_only_by_the_last_probe_is_found_there_and_says_so():
    healthy, faded = [1.0, 0.8, 0.7, 0.6], [1.0, 0.05, 2e-3, 1e-4]
    ev = _ev([_probe(1, healthy, [4.0] * 4), _probe(11, healthy, [2.0] * 4), _probe(21, faded, [0.4] * 4)])
    (f,) = gradient_findings(ev)
    assert f.code == "vanishing_gradients" and f.severity == "warning"
    assert f.evidence["probe"] == "last" and (f.evidence["step"], f.evidence["epoch"]) == (21, 3)
    assert f.evidence["ratio"] == pytest.approx(1e-4) and f.evidence["ratio_at_initialization"] == pytest.approx(0.6)
    assert f.evidence["layers"] == ["fc1", "fc2", "fc3"] and f.evidence["weight_norm_ratio"]["fc0"] == pytest.approx(0.1)
    assert "at the last probe (step 21, epoch 3)" in f.message and "6.0e-01 at initialization" in f.message
    assert "0.1-0.1x their initial norm (weight_decay 0.5 pulls them to 0)" in f.message
    # at the threshold's healthy side, and with one probe only (it is the initialization), nothing
    assert gradient_findings(_ev([_probe(1, healthy, [4.0] * 4), _probe(21, [1.0, 0.1, 0.01, 2e-3], [4.0] * 4)])) == []
    assert gradient_findings(_ev([_probe(1, faded, [4.0] * 4)]))[0].evidence["probe"] == "first"


def _deep_tanh() -> nn.Sequential:
    """Eight tanh layers at the Xavier scale: the signal holds at initialization."""
    torch.manual_seed(0)
    return xavier_stack(nn.Tanh, 8)


@pytest.fixture(scope="module")
def digits():
    ds = load_builtin("digits")
    X = torch.as_tensor(Standardizer().fit(ds.X).transform(ds.X), dtype=torch.float32)
    return X[:1000], torch.as_tensor(ds.y[:1000])


def _watched(digits, weight_decay):
    watch = Watch(every=10)
    Trainer(optimizer="adam", lr=1e-3, weight_decay=weight_decay, epochs=15, batch_size=64, seed=0,
            callbacks=[watch]).fit(_deep_tanh(), digits, digits)
    return {"settings": {"weight_decay": weight_decay}, "run": {"watch": watch.to_dict(), "diverged": None}}


@pytest.mark.slow
def test_a_deep_tanh_net_under_heavy_weight_decay_fades_by_the_end_and_is_found(digits):
    ev = _watched(digits, weight_decay=1.0)
    probes, weights = ev["run"]["watch"]["probes"], _weights(ev)
    assert _depth_ratio(probes, weights) > VANISHING_RATIO  # the gradient ratio's median: healthy, so missed before
    (f,) = gradient_findings(ev)
    assert f.code == "vanishing_gradients" and f.evidence["probe"] == "last"
    assert f.evidence["ratio"] < SIGNAL_RATIO < f.evidence["ratio_at_initialization"]
    assert max(f.evidence["weight_norm_ratio"].values()) < 0.5 and "weight_decay 1 pulls them to 0" in f.message
    assert gradient_findings(_watched(digits, weight_decay=0.0)) == []  # the same net, no decay: nothing
