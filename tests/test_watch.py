"""knobs.watch: probe numbers against hand computations on tiny models, hooks removed, records as
plain JSON data, and the loss-curve statistics."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from knobs.errors import ConfigError
from knobs.train import Callback, Diverged, Trainer
from knobs.watch import (ActivationProbe, Watch, curve_stats, dead_fraction, divergence_index, gap_series,
                         plateaued, relative_noise, relative_slope, saturated_fraction, update_ratio,
                         zero_fraction)

torch.set_num_threads(1)


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


def tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))


def data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g), torch.randint(0, 2, (n,), generator=g)


# ---- pure statistics ----------------------------------------------------------------------------

def test_unit_statistics_by_hand():
    out = torch.tensor([[0.0, 1.0, 0.0], [0.0, 2.0, 3.0]])      # unit 0 silent on both rows
    assert dead_fraction(out) == pytest.approx(1 / 3)
    assert zero_fraction(out) == pytest.approx(3 / 6)
    conv = torch.zeros(2, 4, 3, 3)
    conv[1, 2, 0, 1] = 0.5                                       # only channel 2 ever fires
    assert dead_fraction(conv) == pytest.approx(3 / 4)
    t = torch.tensor([[0.995, -0.999, 0.5, 0.0]])
    assert saturated_fraction(t, "tanh") == pytest.approx(0.5)
    s = torch.tensor([[0.999, 0.001, 0.5, 0.9]])                 # |2s - 1| = .998, .998, 0, .8
    assert saturated_fraction(s, "sigmoid") == pytest.approx(0.5)


def test_update_ratio_by_hand():
    before = torch.tensor([3.0, 4.0])                           # norm 5
    after = torch.tensor([3.0, 4.05])
    assert update_ratio(before, after) == pytest.approx(0.05 / 5, rel=1e-5)
    assert update_ratio(torch.zeros(3), torch.ones(3)) > 1e20   # a zero bias reads large, not NaN


def test_curve_statistics_by_hand():
    assert divergence_index([2.0, 1.0, 3.9, 4.1]) == 3          # 4.1 > 4 x 1.0
    assert divergence_index([2.0, 1.0, float("nan")]) == 2
    assert divergence_index([3.0, 2.0, 1.0]) is None
    values = [1.0, 2.0, 1.0, 2.0, 1.0]                          # diffs ±1: mean 0, std 1
    assert relative_noise(values) == pytest.approx(1 / math.sqrt(2) / 1.4)
    assert relative_slope([8.0, 4.0, 2.0]) == pytest.approx(math.log(0.5))
    assert plateaued([5, 4, 3, 3, 3], window=2) is True
    assert plateaued([5, 4, 3, 2, 1], window=2) is False
    assert plateaued([5, 4], window=2) is None
    assert gap_series([{"train_loss": 0.5, "val_loss": 0.8}, {"train_loss": 0.4, "val_loss": None}]) == \
        [pytest.approx(0.3), None]
    stats = curve_stats([3.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    assert (stats["first"], stats["last"], stats["min"], stats["argmin"]) == (3.0, 1.0, 1.0, 2)
    assert stats["diverged_at"] is None and stats["plateau"] is True and stats["slope"] == 0.0


# ---- probes against a hand-replayed first step --------------------------------------------------

def test_first_probe_matches_a_hand_computed_sgd_step():
    model, (X, y), lr = tiny(), data(), 0.1
    reference = copy.deepcopy(model)
    watch = Watch(every=1)
    # Full batch: one step per epoch, and the loss is the same whatever order the rows come in.
    Trainer(optimizer="sgd", lr=lr, epochs=2, batch_size=len(y), seed=0, device="cpu",
            callbacks=[watch]).fit(model, (X, y))
    acts = {}
    handles = [reference[i].register_forward_hook(lambda m, i_, o, k=i: acts.__setitem__(k, o.detach()))
               for i in (1, 3)]
    loss = F.cross_entropy(reference(X), y)
    loss.backward()
    loss = loss.detach()
    for h in handles:
        h.remove()
    probe = watch.probes[0]
    assert probe["step"] == 1 and probe["epoch"] == 1 and probe["loss"] == pytest.approx(loss.item())
    for name, p in reference.named_parameters():
        grad, weight = p.grad.norm().item(), p.detach().norm().item()
        record = probe["params"][name]
        assert record["grad_norm"] == pytest.approx(grad, rel=1e-5)
        if weight > 0:
            # plain SGD: ΔW = −lr·g, so ‖ΔW‖ / ‖W‖ = lr·‖g‖ / ‖W‖
            assert record["update_ratio"] == pytest.approx(lr * grad / weight, rel=1e-4)
        assert record["weight_norm"] == pytest.approx((p.detach() - lr * p.grad).norm().item(), rel=1e-5)
    total = math.sqrt(sum(p.grad.norm().item() ** 2 for p in reference.parameters()))
    assert probe["grad_norm"] == pytest.approx(total, rel=1e-5)
    assert probe["activations"]["1"]["dead_fraction"] == pytest.approx(dead_fraction(acts[1]))
    assert probe["activations"]["1"]["zero_fraction"] == pytest.approx(zero_fraction(acts[1]))
    assert probe["activations"]["3"]["saturated_fraction"] == pytest.approx(saturated_fraction(acts[3], "tanh"))
    assert watch.layer_order == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def test_sampling_schedule_and_epoch_records():
    (X, y), watch = data(64), Watch(every=3)
    history = Trainer(optimizer="adam", lr=1e-2, epochs=3, batch_size=16, device="cpu",
                      callbacks=[watch]).fit(tiny(), (X, y), (X, y))
    assert [p["step"] for p in watch.probes] == [1, 4, 7, 10]   # 12 steps, one in three
    assert len(watch.step_losses) == 12 and len(watch.epochs) == 3
    for epoch, record in zip(watch.epochs, history.records):
        assert epoch["train_loss"] == pytest.approx(record["train_loss"])
        assert epoch["gap"] == pytest.approx(record["val_loss"] - record["train_loss"])
        assert epoch["step_loss"]["n"] == 4
    mean = np.mean(watch.step_losses[:4])
    assert watch.epochs[0]["step_loss"]["mean"] == pytest.approx(mean)
    assert watch.curve()["train"]["n"] == 3


def test_records_are_strict_json_and_reach_the_sink():
    seen = []
    watch = Watch(every=2, sink=seen.append)
    Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=8, device="cpu",
            callbacks=[watch]).fit(tiny(), data(), data(8, seed=1))
    assert [r["kind"] for r in seen].count("epoch") == 2 and seen[0]["kind"] == "probe"
    assert sorted(map(id, seen)) == sorted(map(id, watch.probes + watch.epochs))
    text = json.dumps(watch.to_dict(), allow_nan=False)
    assert json.loads(text)["probes"][0]["params"]["0.weight"]["update_ratio"] > 0


# ---- hooks ----------------------------------------------------------------------------------------

class HookSpy(Callback):
    """Counts the hooks on the model after every step (the Watch runs before it)."""

    def __init__(self):
        self.counts = []

    def on_step_end(self, trainer, step_record):
        self.counts.append(hook_count(trainer.model_))


def test_hooks_are_on_only_for_sampled_steps_and_gone_after_fit():
    model, spy = tiny(), HookSpy()
    watch = Watch(every=4)
    Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=4, device="cpu",
            callbacks=[watch, spy]).fit(model, data(), data())
    # armed at the end of steps 4 and 8 for steps 5 and 9, taken off once read
    assert [c > 0 for c in spy.counts] == [i % 4 == 0 for i in range(1, 9)]
    assert hook_count(model) == 0 and not watch._probe.armed


def test_hooks_are_removed_when_the_fit_raises():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    watch = Watch(every=1)
    with pytest.raises(Diverged):
        Trainer(optimizer="sgd", lr=1e12, epochs=3, batch_size=4, device="cpu",
                callbacks=[watch]).fit(model, data(), data())
    watch.close()
    assert hook_count(model) == 0
    assert any(p["nonfinite"] for p in watch.probes)
    text = json.dumps(watch.to_dict(), allow_nan=False)      # NaN stays out of the records
    assert '"grad_norm": null' in text


def test_activation_probe_ignores_eval_and_later_passes_and_counts_reused_modules():
    class Reuse(nn.Module):
        def __init__(self):
            super().__init__()
            self.b, self.a = nn.Linear(4, 2), nn.Linear(3, 4)    # registered in reverse order
            self.act = nn.ReLU()

        def forward(self, x):
            return self.b(self.act(self.act(self.a(x)) - 10))

    net = Reuse()
    probe = ActivationProbe(net).arm()
    net.eval()
    net(torch.randn(5, 3))                                       # validation: ignored
    net.train()
    net(torch.randn(5, 3))
    net(torch.randn(5, 3) + 100)                                 # a second pass: ignored
    seen = probe.collect()
    assert seen["order"] == ["a", "b"]
    assert set(seen["activations"]) == {"act", "act#1"}
    assert seen["activations"]["act#1"]["dead_fraction"] == 1.0  # shifted by -10: all off
    assert hook_count(net) == 0


def _modes() -> int:
    from torch.overrides import _get_current_function_mode_stack
    return len(_get_current_function_mode_stack())


def test_functional_activations_are_recorded_once_named_by_their_caller_only_in_the_probed_pass():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.act = nn.Linear(3, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            assert _modes() == (1 if self.training and probe.armed and not probe._done else 0)
            h = self.act(self.a(x))                              # a module: its hook, not the function
            return self.b(torch.tanh(F.relu(h - 10)).sigmoid())  # functions and a tensor method

    net = Functional()
    probe = ActivationProbe(net).arm()
    net(torch.randn(5, 3))
    net(torch.randn(5, 3))                                       # after the probed pass: no mode
    seen = probe.collect()
    assert list(seen["activations"]) == ["act", "relu()", "tanh()", "sigmoid()"]
    assert seen["activations"]["relu()"]["dead_fraction"] == 1.0
    assert {k: v["kind"] for k, v in seen["activations"].items()} == {
        "act": "relu", "relu()": "relu", "tanh()": "tanh", "sigmoid()": "sigmoid"}
    assert seen["feeds"] == dict.fromkeys(seen["activations"], "a") and hook_count(net) == 0 and _modes() == 0


def test_a_model_without_activation_functions_is_probed_without_the_mode_after_its_first_pass():
    net = tiny()                                                 # nn.ReLU / nn.Tanh modules only
    probe = ActivationProbe(net).arm()
    first = hook_count(net)
    net(torch.randn(4, 3))
    assert probe.collect()["activations"].keys() == {"1", "3"} and probe.calls_functions is False
    probe.arm()
    assert hook_count(net) < first / 2                           # no caller stack, no mode
    net(torch.randn(4, 3))
    assert probe.collect()["activations"].keys() == {"1", "3"}
    functional = ActivationProbe(nn.Sequential(nn.Linear(3, 2), nn.Softmax(dim=1)))
    functional.arm()
    functional.model(torch.randn(4, 3))
    assert functional.collect()["activations"] == {} and functional.calls_functions is False


def test_the_function_mode_is_left_when_the_probed_pass_raises():
    class Breaks(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)

        def forward(self, x):
            return torch.relu(self.a(x)) @ torch.ones(5, 1)     # wrong shape: raises in the pass

    net = Breaks()
    probe = ActivationProbe(net).arm()
    with pytest.raises(RuntimeError):
        net(torch.randn(2, 3))
    assert _modes() == 0
    probe.remove()
    assert hook_count(net) == 0


def test_signal_std_is_each_units_spread_across_the_batch():
    from knobs.watch._stats import signal_std

    out = torch.tensor([[0.0, 10.0], [2.0, 14.0]])               # per-unit std 1 and 2 (biases ignored)
    assert signal_std(out) == pytest.approx(((1 + 4) / 2) ** 0.5)
    conv = torch.zeros(2, 3, 2, 2)
    conv[0, 1] = 2.0                                             # channel 1: 4 of 8 positions at 2 -> std 1
    assert signal_std(conv) == pytest.approx((1 / 3) ** 0.5)
    assert signal_std(torch.full((4, 5), 7.0)) == 0.0


def test_bad_every_is_a_config_error():
    with pytest.raises(ConfigError, match="every"):
        Trainer(epochs=1, batch_size=8, device="cpu", callbacks=[Watch(every=0)]).fit(tiny(), data())


def test_without_activation_hooks_nothing_is_hooked_and_order_is_registration():
    model, spy = tiny(), HookSpy()
    watch = Watch(every=1, activations=False)
    Trainer(optimizer="sgd", lr=0.1, epochs=1, batch_size=4, device="cpu",
            callbacks=[watch, spy]).fit(model, data())
    assert spy.counts == [0, 0, 0, 0] and all(p["activations"] == {} for p in watch.probes)
    assert watch.layer_order == [name for name, _ in model.named_parameters()]
    assert len(watch.probes) == 4 and watch.probes[-1]["params"]["4.bias"]["update_ratio"] > 0
