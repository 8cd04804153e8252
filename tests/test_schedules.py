"""knobs.train schedules: every LR curve checked against its formula, warmup, plateau, resume state."""

import io

import numpy as np
import pytest
import torch

from knobs.errors import ConfigError
from knobs.train import SCHEDULES, Callback, Trainer, build_schedule, check_schedule
from schedule_curve import lr_curve

SPE = 4  # steps per epoch


def _optimizer(name="sgd", lr=0.1):
    params = [torch.zeros(2, requires_grad=True)]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9 if name == "momentum" else 0)


def _curve(spec, epochs=6, opt=None, metrics=None):
    """The LR used at every step (read before the step, as the Trainer records it)."""
    lrs, sched = lr_curve(spec, opt or _optimizer(), epochs, SPE, metrics)
    return np.array(lrs), sched


def _per_epoch(values):
    return np.repeat(values, SPE)


def test_step_schedule():
    lrs, sched = _curve({"name": "step", "step_size": 2, "gamma": 0.5})
    assert np.allclose(lrs, _per_epoch([0.1, 0.1, 0.05, 0.05, 0.025, 0.025]))
    assert sched.interval == "epoch"


def test_exponential_inverse_inverse_sqrt_formulas():
    t = np.arange(6)
    lrs, _ = _curve({"name": "exponential", "k": 0.3})
    assert np.allclose(lrs, _per_epoch(0.1 * np.exp(-0.3 * t)))
    lrs, _ = _curve({"name": "inverse", "k": 0.5})
    assert np.allclose(lrs, _per_epoch(0.1 / (1 + 0.5 * t)))
    lrs, _ = _curve("inverse_sqrt")
    assert np.allclose(lrs, _per_epoch(0.1 / np.sqrt(t + 1)))


def test_cosine_anneals_per_step_over_training():
    lrs, sched = _curve({"name": "cosine", "eta_min": 0.01})
    s = np.arange(6 * SPE)
    expected = 0.01 + (0.1 - 0.01) * (1 + np.cos(np.pi * s / (6 * SPE))) / 2
    assert np.allclose(lrs, expected) and sched.interval == "step"


def test_cosine_warm_restarts():
    lrs, _ = _curve({"name": "cosine", "T_0": 2})
    period = 2 * SPE
    s = np.arange(6 * SPE) % period
    assert np.allclose(lrs, 0.1 * (1 + np.cos(np.pi * s / period)) / 2)


def test_cyclic_triangular():
    lrs, _ = _curve({"name": "cyclic", "step_size_up": 4})
    assert lrs[0] == pytest.approx(0.01) and lrs[4] == pytest.approx(0.1) and lrs[8] == pytest.approx(0.01)
    assert lrs[2] == pytest.approx(0.055)


def test_onecycle_shape():
    lrs, _ = _curve({"name": "onecycle", "pct_start": 0.25})
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs.max() == pytest.approx(0.1)
    assert abs(peak - 0.25 * (len(lrs) - 1)) <= 1
    assert lrs[-1] < 0.1 / 25 / 100


def test_onecycle_cycles_momentum_only_when_present():
    opt = _optimizer("momentum")
    _curve("onecycle", opt=opt)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.95, abs=1e-3)
    opt = _optimizer("sgd")
    _curve("onecycle", opt=opt)
    assert opt.param_groups[0]["momentum"] == 0


def test_warmup_then_schedule_starts_at_its_own_t0():
    lrs, _ = _curve({"name": "step", "step_size": 2, "gamma": 0.5, "warmup_epochs": 1})
    w = SPE
    assert np.allclose(lrs[:w], 0.1 * (np.arange(w) + 1) / (w + 1))
    # after warmup the step schedule runs its own epochs 0, 1, 2, ...
    assert np.allclose(lrs[w:], _per_epoch([0.1, 0.1, 0.05, 0.05, 0.025]))


def test_warmup_steps_in_front_of_cosine_and_onecycle():
    lrs, _ = _curve({"name": "cosine", "warmup_steps": 3})
    assert np.allclose(lrs[:3], 0.1 * np.array([1, 2, 3]) / 4)
    rest = 6 * SPE - 3
    assert np.allclose(lrs[3:], 0.1 * (1 + np.cos(np.pi * np.arange(rest) / rest)) / 2)
    lrs, _ = _curve({"name": "onecycle", "warmup_steps": 3})
    assert np.allclose(lrs[:3], (0.1 / 25) * np.array([1, 2, 3]) / 4)  # ramps to onecycle's start
    assert lrs[3] == pytest.approx(0.1 / 25)


def test_plateau_reduces_after_patience_on_validation_metric():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9]
    lrs, sched = _curve({"name": "plateau", "factor": 0.5, "patience": 2}, metrics=metrics)
    # epochs 3, 4 are bad (patience 2); the reduction follows epoch 4's validation (index 4 of 6)
    assert np.allclose(lrs, _per_epoch([0.1, 0.1, 0.1, 0.1, 0.1, 0.05]))
    assert sched.monitor == "val_loss"


def test_plateau_with_warmup():
    lrs, _ = _curve({"name": "plateau", "patience": 0, "factor": 0.5, "warmup_epochs": 1},
                    metrics=[1.0, 0.5, 0.6, 0.7, 0.8, 0.9])
    assert np.allclose(lrs[:SPE], 0.1 * (np.arange(SPE) + 1) / (SPE + 1))
    assert np.allclose(lrs[SPE:], _per_epoch([0.1, 0.1, 0.05, 0.025, 0.0125]))


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_roundtrip_through_weights_only_load(name):
    spec = {"name": name, "warmup_steps": 2}
    full, _ = _curve(spec, epochs=6)
    opt = _optimizer()
    sched = build_schedule(spec, opt, epochs=6, steps_per_epoch=SPE)
    for _ in range(7):
        opt.step()
        sched.step_batch()
    buf = io.BytesIO()
    torch.save({"s": sched.state_dict(), "o": opt.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    opt2 = _optimizer()
    sched2 = build_schedule(spec, opt2, epochs=6, steps_per_epoch=SPE)
    opt2.load_state_dict(state["o"])
    sched2.load_state_dict(state["s"])
    rest = []
    for _ in range(7, 6 * SPE):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step_batch()
    assert np.allclose(rest, full[7:], rtol=1e-12)


def test_check_schedule_fills_defaults():
    assert check_schedule(None) is None
    cfg = check_schedule("step")
    assert cfg["step_size"] == 10 and cfg["gamma"] == 0.1 and cfg["warmup_epochs"] == 0


@pytest.mark.parametrize("spec, match", [
    ("linear_decay", "constant, step, exponential, inverse, inverse_sqrt, plateau, cosine, cyclic, onecycle"),
    ({"name": "step", "stepsize": 3}, r"unknown key 'schedule.stepsize' \(did you mean 'step_size'\?\); valid keys in schedule 'step': step_size, gamma"),
    ({"name": "step", "gamma": 0}, "schedule.gamma"),
    ({"name": "plateau", "patience": 1.5}, "schedule.patience"),
    ({"name": "cosine", "warmup_epochs": 1, "warmup_steps": 2}, "not both"),
    ({"step_size": 2}, "mapping with 'name'"),
    (3, "expected a name"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        check_schedule(spec)


def test_warmup_longer_than_training_rejected():
    with pytest.raises(ConfigError, match="warmup"):
        build_schedule({"name": "cosine", "warmup_epochs": 6}, _optimizer(), epochs=6, steps_per_epoch=SPE)


def test_cyclic_base_above_max_rejected():
    with pytest.raises(ConfigError, match="base_lr"):
        build_schedule({"name": "cyclic", "base_lr": 1.0}, _optimizer(), epochs=2, steps_per_epoch=SPE)


class _StepLRs(Callback):
    def __init__(self):
        self.lrs = []

    def on_step_end(self, trainer, step_record):
        self.lrs.append(step_record["lr"])


def test_trainer_records_the_lr_used_at_each_step():
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    spy = _StepLRs()
    trainer = Trainer(optimizer="sgd", lr=0.1, epochs=3, batch_size=8, callbacks=[spy],
                      schedule={"name": "onecycle"})
    history = trainer.fit(torch.nn.Linear(3, 2), (X, y))
    expected, _ = _curve({"name": "onecycle"}, epochs=3)
    assert np.allclose(spy.lrs, expected)
    assert [r["lr"] for r in history.records] == pytest.approx(list(expected[::SPE]))
    steps = [lr for r in history.records for lr in r["lr_steps"]]
    assert steps == pytest.approx(list(expected))


def test_constant_lr_epochs_carry_no_step_list():
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))
    history = Trainer(optimizer="sgd", lr=0.1, epochs=2, batch_size=8).fit(torch.nn.Linear(3, 2), (X, y))
    assert all("lr_steps" not in r for r in history.records)


def test_trainer_plateau_on_val_metric_needs_validation():
    X, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    with pytest.raises(ConfigError, match="plateau"):
        Trainer(schedule={"name": "plateau", "monitor": "val_loss"}, epochs=1).fit(torch.nn.Linear(3, 2), (X, y))
    trainer = Trainer(schedule="plateau", epochs=1)  # no validation data: it watches train_loss
    trainer.fit(torch.nn.Linear(3, 2), (X, y))
    assert trainer.schedule_.monitor == "train_loss"
    trainer.fit(torch.nn.Linear(3, 2), (X, y), (X, y))
    assert trainer.schedule_.monitor == "val_loss"
